"""Go's fmt.Sprintf for template ``printf``: verbs, flags, width and precision.

Values are seen as in :mod:`lamina.cli.format.gofmt`. A verb that does not fit its operand
prints as Go does, ``%!d(string=abc)``; a missing operand as ``%!d(MISSING)``; operands left
over as ``%!(EXTRA type=value)``.
"""

from __future__ import annotations

import math
from typing import Any

from lamina.cli.format.floatfmt import format_float, format_float_sharp_v
from lamina.cli.format.gofmt import (
    MISSING,
    format_value,
    go_type,
    is_struct,
    quote,
    quote_rune,
    sorted_items,
    struct_items,
)


class _Spec:
    """The flags, width and precision of one verb."""

    __slots__ = ("minus", "plus", "plus_v", "prec", "sharp", "sharp_v", "space", "width",
                 "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.width: int | None = None
        self.prec: int | None = None


def _arg_index(fmt: str, i: int, argn: int, nargs: int) -> tuple[int, int, bool, bool]:
    """Parse an explicit ``[n]`` argument index at ``fmt[i]``.

    Returns (new argn, new i, found, good).
    """
    if i >= len(fmt) or fmt[i] != "[":
        return argn, i, False, True
    end = fmt.find("]", i)
    digits = fmt[i + 1:end] if end > 0 else ""
    if end < 0 or not digits.isdigit() or not 1 <= int(digits) <= nargs:
        return argn, (end + 1 if end > 0 else len(fmt)), True, False
    return int(digits) - 1, end + 1, True, True


def sprintf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    argn = 0
    reordered = False
    i, n = 0, len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n and fmt[i] in "+-# 0":
            flag = fmt[i]
            spec.plus |= flag == "+"
            spec.minus |= flag == "-"
            spec.sharp |= flag == "#"
            spec.space |= flag == " "
            spec.zero |= flag == "0"
            i += 1
        argn, i, found, good = _arg_index(fmt, i, argn, len(args))
        reordered |= found
        # Width: digits or '*'.
        if i < n and fmt[i] == "*":
            i += 1
            if argn < len(args) and isinstance(args[argn], int) and not isinstance(
                    args[argn], bool):
                spec.width = args[argn]
                if spec.width < 0:
                    spec.minus, spec.width = True, -spec.width
            else:
                out.append("%!(BADWIDTH)")
            argn += 1
        else:
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > start:
                spec.width = int(fmt[start:i])
        if i < n and fmt[i] == ".":
            i += 1
            argn, i, found, ok = _arg_index(fmt, i, argn, len(args))
            reordered, good = reordered or found, good and ok
            if i < n and fmt[i] == "*":
                i += 1
                if argn < len(args) and isinstance(args[argn], int) and not isinstance(
                        args[argn], bool) and args[argn] >= 0:
                    spec.prec = args[argn]
                else:
                    out.append("%!(BADPREC)")
                argn += 1
            else:
                start = i
                while i < n and fmt[i].isdigit():
                    i += 1
                spec.prec = int(fmt[start:i]) if i > start else 0
        argn, i, found, ok = _arg_index(fmt, i, argn, len(args))
        reordered, good = reordered or found, good and ok
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if not good and verb != "%":
            out.append(f"%!{verb}(BADINDEX)")
            continue
        if verb == "%":
            out.append("%")
            continue
        if verb == "v":
            # %+v asks for field names and %#v for Go syntax; neither is a number flag.
            spec.plus_v, spec.plus = spec.plus, False
            spec.sharp_v, spec.sharp = spec.sharp, False
        if argn >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argn]
        argn += 1
        out.append(format_arg(arg, verb, spec))
    if argn < len(args) and not reordered:
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{go_type(a)}={format_value(a)}"
            for a in args[argn:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _bad_verb(arg: Any, verb: str, spec: _Spec | None = None) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    # Go prints the operand with %v under the same flags, width and precision.
    return f"%!{verb}({go_type(arg)}={format_arg(arg, 'v', spec or _Spec())})"


def _pad(text: str, spec: _Spec, numeric: bool = False, zero: bool = True) -> str:
    """Pad to the width: spaces, or zeros with the 0 flag (after the sign of a number)."""
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if spec.zero and zero and numeric:
        sign = text[0] if text[:1] in ("-", "+", " ") else ""
        return sign + "0" * fill + text[len(sign):]
    if spec.zero and zero:
        return "0" * fill + text
    return " " * fill + text


def _sign(neg: bool, spec: _Spec) -> str:
    if neg:
        return "-"
    if spec.plus:
        return "+"
    return " " if spec.space else ""


def _format_int(value: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        quoted = quote_rune(value)
        return _pad(_ascii(quoted) if spec.plus else quoted, spec)
    if verb == "U":
        text = f"U+{value % 2**64:04X}"  # Go prints the rune as a uint64
        if spec.sharp and 0 <= value <= 0x10FFFF and chr(value).isprintable():
            text += f" '{chr(value)}'"
        return _pad(text, spec)
    base = {"d": 10, "v": 10, "x": 16, "X": 16, "o": 8, "O": 8, "b": 2}[verb]
    digits = format(abs(value), {10: "d", 16: "x", 8: "o", 2: "b"}[base])
    if verb == "X":
        digits = digits.upper()
    if spec.prec is not None:
        digits = "" if spec.prec == 0 and value == 0 else digits.rjust(spec.prec, "0")
    prefix = ""
    if verb == "O" or (spec.sharp and verb == "o" and not digits.startswith("0")):
        prefix = "0o" if verb == "O" else "0"
    elif spec.sharp and verb in "xX":
        prefix = "0" + verb
    elif spec.sharp and verb == "b":
        prefix = "0b"
    body = _sign(value < 0, spec) + prefix + digits
    # An explicit precision turns zero padding off for integers.
    return _pad(body, spec, numeric=True, zero=spec.prec is None)


def _format_float(value: float, verb: str, spec: _Spec) -> str:
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        if math.isinf(value) and value > 0 and not spec.plus:
            text = " Inf" if spec.space else "+Inf"
        return _pad(text, spec)
    neg = math.copysign(1.0, value) < 0
    body = format_float(abs(value), verb, spec.prec, spec.sharp)
    return _pad(_sign(neg, spec) + body, spec, numeric=True)


def _format_str(value: str, verb: str, spec: _Spec) -> str:
    if verb in "xX":
        data = value.encode()
        if spec.prec is not None:
            data = data[: spec.prec]
        prefix = ("0" + verb) if spec.sharp else ""
        if spec.space:
            text = " ".join(prefix + format(b, "02" + verb) for b in data)
        else:
            text = prefix + "".join(format(b, "02" + verb) for b in data) if data else ""
        return _pad(text, spec)
    if spec.prec is not None:
        value = value[: spec.prec]
    if verb == "q":
        if spec.sharp and "`" not in value and all(
                ch.isprintable() or ch == "\t" for ch in value):
            return _pad("`" + value + "`", spec)
        return _pad(_ascii(quote(value)) if spec.plus else quote(value), spec)
    return _pad(value, spec)


def _ascii(quoted: str) -> str:
    """strconv.QuoteToASCII from a quoted literal: escape what is not ASCII."""
    out = []
    for ch in quoted:
        code = ord(ch)
        if code < 0x80:
            out.append(ch)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def _go_syntax(arg: Any, spec: _Spec, top: bool = True) -> str:
    """%#v: a Go-syntax representation."""
    if arg is None or arg is MISSING:
        return "<nil>" if top else "interface {}(nil)"
    if isinstance(arg, bool | int):
        return format_value(arg)
    if isinstance(arg, float):
        sign = "-" if math.copysign(1.0, arg) < 0 else ""
        if math.isnan(arg) or math.isinf(arg):
            return format_value(arg)
        return sign + format_float_sharp_v(abs(arg))
    if isinstance(arg, str):
        return quote(arg[: spec.prec] if spec.prec is not None else arg)
    if is_struct(arg):
        return go_type(arg) + "{" + ", ".join(
            f"{k}:{_go_syntax(v, spec, False)}" for k, v in struct_items(arg)) + "}"
    if isinstance(arg, dict):
        return go_type(arg) + "{" + ", ".join(
            f"{_go_syntax(k, spec, False)}:{_go_syntax(v, spec, False)}"
            for k, v in sorted_items(arg)) + "}"
    if isinstance(arg, list | tuple):
        return go_type(arg) + "{" + ", ".join(_go_syntax(v, spec, False) for v in arg) + "}"
    return quote(str(arg))


def format_arg(arg: Any, verb: str, spec: _Spec | None = None) -> str:
    """One operand through one verb, as fmt's printArg does."""
    spec = spec or _Spec()
    if verb == "v" and spec.sharp_v:
        return _pad(_go_syntax(arg, spec), spec)
    if verb == "T":
        if arg is None or arg is MISSING:
            return _pad("<nil>", spec)
        return _format_str(go_type(arg), "s", spec)
    if arg is None or arg is MISSING:
        return _pad("<nil>", spec) if verb == "v" else _bad_verb(arg, verb, spec)
    if isinstance(arg, bool):
        if verb in "tv":
            return _pad("true" if arg else "false", spec)
        return _bad_verb(arg, verb, spec)
    if isinstance(arg, int):
        if verb in "vdxXobOcqU":
            return _format_int(int(arg), verb, spec)
        return _bad_verb(arg, verb, spec)
    if isinstance(arg, float):
        if verb in "vgGeEfFxXb":
            return _format_float(arg, verb, spec)
        return _bad_verb(arg, verb, spec)
    if isinstance(arg, str):
        if verb in "vsqxX":
            return _format_str(str(arg), verb, spec)
        return _bad_verb(arg, verb, spec)
    if is_struct(arg):
        inner = [(f"{k}:" if spec.plus_v else "") + format_arg(v, verb, spec)
                 for k, v in struct_items(arg)]
        return "{" + " ".join(inner) + "}"
    if isinstance(arg, dict):
        return "map[" + " ".join(f"{format_arg(k, verb, spec)}:{format_arg(v, verb, spec)}"
                                 for k, v in sorted_items(arg)) + "]"
    if isinstance(arg, list | tuple):
        return "[" + " ".join(format_arg(v, verb, spec) for v in arg) + "]"
    if verb in "vsq":
        return format_arg(str(arg), verb, spec)
    return _bad_verb(arg, verb, spec)
