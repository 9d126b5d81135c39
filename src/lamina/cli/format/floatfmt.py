"""strconv.FormatFloat for printf's float verbs: %e %f %g (with Go's # rule), %x and %b."""

from __future__ import annotations

import math
from decimal import Decimal

from lamina.cli.format.gofmt import format_float_g


def _hex(mag: float, prec: int | None, upper: bool) -> str:
    """Go's 'x' format: ``0x1.8p+00``, shortest unless a precision is given."""
    if mag == 0:
        mant, exp = 0, 0
    else:
        m, e = math.frexp(mag)
        mant, exp = int(m * 2**53), e - 1  # 53 bits, the leading 1 included
        if exp < -1022:  # subnormal: keep the leading 1 by normalising the mantissa
            while mant < 2**52:
                mant <<= 1
    lead, frac = mant >> 52, mant & (2**52 - 1)
    if prec is None:
        digits = f"{frac:013x}".rstrip("0") if frac else ""
    else:
        shift = 52 - 4 * prec
        if shift > 0:
            q, r = divmod(frac, 1 << shift)
            half = 1 << (shift - 1)
            if r > half or (r == half and q & 1):
                q += 1
            if q >> (4 * prec):
                q, lead = 0, lead + 1
            frac = q
            if lead == 2:
                lead, exp = 1, exp + 1
            digits = f"{frac:0{prec}x}" if prec else ""
        else:
            digits = f"{frac:013x}" + "0" * (prec - 13)
    if mag == 0:
        lead = 0
    text = f"0x{lead}" + (f".{digits}" if digits else "") + f"p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return text.upper() if upper else text


def _binary(mag: float) -> str:
    """Go's 'b' format: ``6755399441055744p-52``."""
    if mag == 0:
        return "0p-1074"
    m, e = math.frexp(mag)
    mant, exp = int(m * 2**53), e - 53
    if exp < -1074:
        mant >>= -1074 - exp
        exp = -1074
    return f"{mant}p{'-' if exp < 0 else '+'}{abs(exp)}"


def _sharp(num: str, verb: str, prec: int | None) -> str:
    """The # flag: keep a decimal point, and for %g keep trailing zeros to the precision."""
    digits = (6 if prec is None else prec) if verb in "vgGxX" else 0
    tail = ""
    for mark in "pPeE":
        if mark in num and not (mark in "eE" and verb in "xX"):
            i = num.index(mark)
            num, tail = num[:i], num[i:]
            break
    seen_nonzero = False
    for ch in num:
        if ch == ".":
            continue
        if ch != "0":
            seen_nonzero = True
        if seen_nonzero:
            digits -= 1
    if "." not in num:
        if num == "0":
            digits -= 1
        num += "."
    return num + "0" * max(digits, 0) + tail


def format_float_sharp_v(mag: float) -> str:
    """%#v of a float64: shortest digits, exponent form only below 1e-4 or from 1e21."""
    num = format_float_g(mag)
    if "e" in num and -4 <= int(num.partition("e")[2]) < 21:
        # The shortest digits, written out without an exponent.
        num = format(Decimal(repr(mag)), "f")
        num = num.rstrip("0").rstrip(".") if "." in num else num
    return num


def format_float(mag: float, verb: str, prec: int | None, sharp: bool = False) -> str:
    """Format a non-negative finite float for a printf verb (the sign is added by the caller)."""
    upper = verb in "EGX"
    if verb in "vgG":
        num = format_float_g(mag) if prec is None else f"{mag:.{max(prec, 1)}g}"
    elif verb in "eE":
        num = f"{mag:.{6 if prec is None else prec}e}"
    elif verb in "fF":
        num = f"{mag:.{6 if prec is None else prec}f}"
    elif verb in "xX":
        num = _hex(mag, prec, False)
    else:  # b
        return _binary(mag)
    if sharp:
        num = _sharp(num, verb, prec)
    return num.upper() if upper else num
