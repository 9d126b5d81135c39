"""Go literals in templates: quoted strings, character constants and numbers."""

from __future__ import annotations

import re

from lamina.cli.format.gofmt import quote
from lamina.cli.format.lex import T
from lamina.cli.format.nodes import NumberNode

_DECIMAL_INT = re.compile(r"[+-]?(0|[1-9](_?[0-9])*)$")
_OCTAL_INT = re.compile(r"[+-]?0(_?[0-7])+$")


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_HEX = set("0123456789abcdefABCDEF")


def _escape(body: str, i: int, quote: str) -> tuple[bool, int, int]:
    """Decode one Go escape at ``body[i]`` (just after the backslash).

    Returns (is_byte, value, next index): hex and octal escapes are bytes, others runes.
    """
    if i >= len(body):
        raise ValueError("invalid syntax")
    c = body[i]
    if c in _SIMPLE_ESCAPES:
        return False, _SIMPLE_ESCAPES[c], i + 1
    if c == quote:
        return False, ord(c), i + 1
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = body[i + 1: i + 1 + n]
        if len(digits) != n or not set(digits) <= _HEX:
            raise ValueError("invalid syntax")
        value = int(digits, 16)
        if c != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            raise ValueError("invalid syntax")
        return c == "x", value, i + 1 + n
    if c in "01234567":
        digits = body[i: i + 3]
        if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
            raise ValueError("invalid syntax")
        return True, int(digits, 8), i + 3
    raise ValueError("invalid syntax")


def unquote(text: str) -> str:
    """strconv.Unquote of a "..." or `...` literal."""
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch in ('"', "\n"):
            raise ValueError("invalid syntax")
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        is_byte, value, i = _escape(body, i + 1, '"')
        out += bytes([value]) if is_byte else chr(value).encode()
    return out.decode("utf-8", "replace")


def unquote_char(text: str) -> int:
    """The rune of a Go character constant such as ``'a'`` or ``'\\n'``."""
    body = text[1:-1]
    if body.startswith("\\"):
        _, value, end = _escape(body, 1, "'")
    elif body and body[0] != "'":
        value, end = ord(body[0]), 1
    else:
        end, value = -1, 0
    if end != len(body):
        raise ValueError(f"malformed character constant: {text}")
    return value


def parse_number(pos: int, text: str, typ: T) -> NumberNode:
    if typ == T.CHARCONST:
        try:
            code = unquote_char(text)
        except ValueError:
            raise ValueError(f"malformed character constant: {text}") from None
        return NumberNode(pos, text, code, float(code), is_rune=True)
    if typ == T.COMPLEX or text.endswith("i"):
        raise ValueError(f"complex numbers are not supported: {text}")
    int_value: int | None = None
    float_value: float | None = None
    clean = text.replace("_", "")
    try:
        if _OCTAL_INT.match(text):
            int_value = int(clean.replace("0", "0o", 1) if clean[0] == "0" else
                            clean[0] + "0o" + clean[2:], 0)
        elif _DECIMAL_INT.match(text) or (clean.lower().lstrip("+-").startswith(
                ("0x", "0o", "0b")) and "." not in clean and "p" not in clean.lower()):
            int_value = int(clean, 0)
    except ValueError:
        int_value = None
    if int_value is not None:
        float_value = float(int_value)
    else:
        try:
            if "x" in clean.lower():
                float_value = float.fromhex(clean)
            elif re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", clean):
                float_value = float(clean)
        except ValueError:
            float_value = None
        if float_value is None:
            raise ValueError(f"illegal number syntax: {quote(text)}")
        if float_value.is_integer() and abs(float_value) < 2**63:
            int_value = int(float_value)
    return NumberNode(pos, text, int_value, float_value)
