"""Python values printed the way Go's fmt and encoding/json print them.

Templates see Python data through Go's eyes: ``str`` is a string, ``int`` an int, ``float`` a
float64, ``bool`` a bool, ``None`` nil, a list or tuple a slice, a ``dict`` a map (printed
``map[k:v ...]`` with sorted keys), and a :class:`GoStruct` or a dataclass a struct (printed
``{v1 v2}``). :data:`MISSING` is Go's invalid value: what a missing map key yields, printed
``<no value>``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


class _Missing:
    """Go's invalid reflect.Value (a missing map key); a singleton."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class GoStruct(dict[str, Any]):
    """A dict that templates treat as a Go struct, not a map.

    Fields keep their order when printed (``{a b}``) and marshalled, and a missing field is an
    error (``can't evaluate field X in type T``) rather than ``<no value>``.
    """

    def __init__(self, *args: Any, type_name: str = "struct", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.type_name = type_name


class GoMap(dict[Any, Any]):
    """A dict that marshals to JSON with sorted keys, as Go marshals a map.

    Plain dicts marshal in insertion order, so that a dict built in a Go struct's field order
    (an inspect object) prints as docker prints the struct; use GoMap where docker has a real
    map (labels, a formatter row).
    """


class RowMap(GoMap):
    """A formatter row (``images``, ``ps``... with ``--format``): docker's rows marshal
    themselves with json.Marshal, which escapes ``<``, ``>`` and ``&`` (``"\u003cnone\u003e"``),
    though the ``json`` template function does not escape other values."""


class NilList(list[Any]):
    """Go's nil slice: prints ``[]`` in templates but marshals to ``null``."""


class NilMap(dict[Any, Any]):
    """Go's nil map: prints ``map[]`` in templates but marshals to ``null``."""


def is_struct(value: Any) -> bool:
    return isinstance(value, GoStruct) or (
        hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type)
        and type(value).__str__ is object.__str__
    )


def struct_items(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, GoStruct):
        return list(value.items())
    # A dataclass's fields, in order, without importing dataclasses (and inspect with it).
    return [(name, getattr(value, name)) for name, f in value.__dataclass_fields__.items()
            if getattr(f, "_field_type", None) is None or str(f._field_type) == "_FIELD"]


def go_type(value: Any) -> str:
    """The Go type name used in error messages and by %T."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "[]uint8"
    if isinstance(value, GoStruct):
        return value.type_name
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, str) for v in value):
            return "[]string"
        return "[]interface {}"
    return str(getattr(type(value), "__go_type__", type(value).__name__))


# ---------------------------------------------------------------------------------------------
# Numbers


def _shortest_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(f) and the decimal point position (Go's dp)."""
    _, digit_tuple, exp = Decimal(repr(abs(f))).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return "0", 1
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    return stripped, len(stripped) + exp


def _fmt_e(digits: str, dp: int, neg: bool, upper: bool = False) -> str:
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = dp - 1
    e = "E" if upper else "e"
    return ("-" if neg else "") + f"{mant}{e}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(digits: str, dp: int, neg: bool) -> str:
    if dp <= 0:
        text = "0." + "0" * (-dp) + digits
    elif dp >= len(digits):
        text = digits + "0" * (dp - len(digits))
    else:
        text = digits[:dp] + "." + digits[dp:]
    return ("-" if neg else "") + text


def _special(f: float) -> str | None:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return None


def format_float_g(f: float, upper: bool = False) -> str:
    """Go's %v / %g of a float64: shortest digits, exponent form when exp < -4 or >= 6."""
    special = _special(f)
    if special is not None:
        return special
    neg = math.copysign(1.0, f) < 0
    if f == 0:
        return "-0" if neg else "0"
    digits, dp = _shortest_digits(f)
    exp = dp - 1
    # strconv uses precision 6 for this decision when the precision is the shortest.
    if exp < -4 or exp >= 6:
        return _fmt_e(digits, dp, neg, upper)
    return _fmt_f(digits, dp, neg)


def format_float_json(f: float) -> str:
    """encoding/json's float64: 'f' form, or 'e' outside [1e-6, 1e21), exponent unpadded."""
    special = _special(f)
    if special is not None:
        raise ValueError(f"json: unsupported value: {special}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    digits, dp = _shortest_digits(f)
    neg = f < 0
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        text = _fmt_e(digits, dp, neg)
        mant, _, exp = text.partition("e")
        sign, num = exp[0], exp[1:].lstrip("0") or "0"
        return f"{mant}e{sign}{num}"
    return _fmt_f(digits, dp, neg)


# ---------------------------------------------------------------------------------------------
# Strings


def _escape_rune(ch: str, quote: str) -> str:
    code = ord(ch)
    if ch == quote or ch == "\\":
        return "\\" + ch
    simple = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
              "\v": "\\v"}
    if ch in simple:
        return simple[ch]
    if ch.isprintable():
        return ch
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    return '"' + "".join(_escape_rune(ch, '"') for ch in text) + '"'


def quote_rune(code: int) -> str:
    """strconv.QuoteRune: a single-quoted Go rune literal."""
    if code < 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return "'" + _escape_rune(chr(code), "'") + "'"


# ---------------------------------------------------------------------------------------------
# %v


def _sort_key(key: Any) -> tuple[int, Any]:
    # fmtsort orders keys of one type; mixed key types are ordered by type first.
    if isinstance(key, bool):
        return (0, key)
    if isinstance(key, int | float):
        return (1, key)
    if isinstance(key, str):
        return (2, key)
    return (3, str(key))


def sorted_items(mapping: dict[Any, Any]) -> list[tuple[Any, Any]]:
    return sorted(mapping.items(), key=lambda kv: _sort_key(kv[0]))


def format_value(value: Any, plus: bool = False) -> str:
    """fmt's %v (or %+v with ``plus``) of a value."""
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if is_struct(value):
        if plus:
            return "{" + " ".join(f"{k}:{format_value(v, plus)}"
                                  for k, v in struct_items(value)) + "}"
        return "{" + " ".join(format_value(v, plus) for _, v in struct_items(value)) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{format_value(k, plus)}:{format_value(v, plus)}"
                                 for k, v in sorted_items(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v, plus) for v in value) + "]"
    return str(value)


def sprint(*args: Any) -> str:
    """fmt.Sprint: spaces between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """fmt.Sprintln: spaces between all operands, and a newline."""
    return " ".join(format_value(a) for a in args) + "\n"


# ---------------------------------------------------------------------------------------------
# encoding/json


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
                        "\f": "\\f"}.get(ch, f"\\u{code:04x}"))
        elif code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def marshal_json(value: Any, escape_html: bool = False, sort_keys: bool = False,
                 indent: str | None = None) -> str:
    """json.Marshal of a value: compact, or as json.MarshalIndent(v, "", indent).

    Dicts keep their order unless ``sort_keys`` (a :class:`GoMap` is always sorted, a
    :class:`NilList` or :class:`NilMap` is ``null``). Docker's ``json`` template function does
    not escape HTML (SetEscapeHTML(false)); json.Marshal, as ``docker inspect`` uses it, does:
    pass ``escape_html``.
    """
    text = _marshal(value, sort_keys, indent, "")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _container(items: list[str], open_: str, close: str, indent: str | None,
               prefix: str) -> str:
    if not items:
        return open_ + close
    if indent is None:
        return open_ + ",".join(items) + close
    inner = prefix + indent
    return open_ + "\n" + ",\n".join(inner + item for item in items) + "\n" + prefix + close


def _marshal(value: Any, sort_keys: bool, indent: str | None, prefix: str) -> str:
    if value is None or value is MISSING or isinstance(value, NilList | NilMap):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_float_json(value)
    if isinstance(value, str):
        return _json_string(str(value))
    if isinstance(value, bytes):
        import base64  # only []byte values need it

        return '"' + base64.b64encode(value).decode() + '"'
    inner = prefix + (indent or "")
    colon = ":" if indent is None else ": "
    if is_struct(value) or isinstance(value, dict):
        if is_struct(value):
            items = struct_items(value)
        elif sort_keys or isinstance(value, GoMap):
            items = sorted_items(value)
        else:
            items = list(value.items())
        members = [f"{_json_string(str(k))}{colon}{_marshal(v, sort_keys, indent, inner)}"
                   for k, v in items]
        return _container(members, "{", "}", indent, prefix)
    if isinstance(value, list | tuple):
        return _container([_marshal(v, sort_keys, indent, inner) for v in value], "[", "]",
                          indent, prefix)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return _marshal(to_json(), sort_keys, indent, prefix)
    return _json_string(str(value))
