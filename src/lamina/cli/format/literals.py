"""Go literals in templates: quoted strings, character constants and numbers."""

from __future__ import annotations

import math
import re

from lamina.cli.format.gofmt import quote
from lamina.cli.format.lex import T
from lamina.cli.format.nodes import NumberNode

# Integer literals as strconv.ParseInt(s, 0, 64) reads them: an underscore only between digits
# (a base prefix counts as a digit), a leading 0 meaning octal.
_INT = re.compile(r"([+-]?)(0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[oO]_?[0-7]+(?:_[0-7]+)*"
                  r"|0[bB]_?[01]+(?:_[01]+)*|0(?:_?[0-7]+)*|[1-9](?:_?[0-9])*)")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?0[xX](_?[0-9a-fA-F]+)*"
                    r"(\.([0-9a-fA-F]+(_?[0-9a-fA-F]+)*)?)?[pP][+-]?\d+")


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
    """The rune of a Go character constant such as ``'a'`` or ``'\\n'`` (strconv.UnquoteChar)."""
    body = text[1:-1]
    if not body or body[0] == "'":
        raise ValueError("invalid syntax")
    if body[0] == "\\":
        _, value, end = _escape(body, 1, "'")
    else:
        value, end = ord(body[0]), 1
    if end != len(body):
        raise ValueError(f"malformed character constant: {text}")
    return value


def _parse_int(text: str) -> int | None:
    match = _INT.fullmatch(text)
    if match is None:
        return None
    sign, body = match.groups()
    digits = body.replace("_", "")
    if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xXoObB":
        value = int(digits, 8)
    else:
        value = int(digits, 0)
    return -value if sign == "-" else value


def parse_number(pos: int, text: str, typ: int) -> NumberNode:
    """A NumberNode as Go's parser makes it, with its error messages."""
    if typ == T.CHARCONST:
        code = unquote_char(text)
        return NumberNode(pos, text, code, float(code), is_rune=True)
    if typ == T.COMPLEX or text.endswith("i"):
        raise ValueError(f"complex numbers are not supported: {quote(text)}")
    value = _parse_int(text)
    if value is not None and -(2**63) <= value < 2**63:
        return NumberNode(pos, text, value, float(value))
    if value is not None and 0 <= value < 2**64:
        return NumberNode(pos, text, None, float(value), is_uint=True)
    try:
        number = float.fromhex(text.replace("_", "")) if "x" in text.lower() else float(text)
    except ValueError:
        number = math.nan
    if not _FLOAT.fullmatch(text) or math.isinf(number) or math.isnan(number):
        raise ValueError(f"illegal number syntax: {quote(text)}")
    if not any(c in text for c in ".eEpP"):
        # Digits that parse only as a float: an integer too large, or a bad octal like 08.
        raise ValueError(f"integer overflow: {quote(text)}")
    whole = int(number) if number.is_integer() and abs(number) < 2**63 else None
    return NumberNode(pos, text, whole, number)
