"""The functions a template can call: Go's builtins and docker's additions.

Each function declares its Go parameter kinds so that the executor checks arity and types
the way Go's reflection-based calls do:

- ``value``: a reflect.Value parameter; a missing value passes through as is;
- ``any``: an interface{} parameter; a missing value becomes nil;
- ``string``, ``int``, ``bool``: that Go type, checked;
- ``strings``: a []string.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from lamina.cli.format.gofmt import (
    MISSING,
    RowMap,
    format_value,
    go_type,
    is_struct,
    marshal_json,
    sprint,
    sprintln,
)
from lamina.cli.format.printf import sprintf


class FuncError(Exception):
    """A Go function returned an error; the executor reports ``error calling NAME: ...``."""


class Func:
    """A function with its Go parameter kinds (and the kind of a ... parameter)."""

    __slots__ = ("impl", "params", "variadic")

    def __init__(self, impl: Callable[..., Any], params: tuple[str, ...],
                 variadic: str | None = None) -> None:
        self.impl = impl
        self.params = params
        self.variadic = variadic


# -- truth and comparison -----------------------------------------------------------------


def is_true(value: Any) -> bool:
    """Go's template truth: the zero value of its type is false; structs are always true."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if is_struct(value):
        return True
    if isinstance(value, str | bytes | list | tuple | dict):
        return len(value) > 0
    return True


def _basic_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid"


def _valid(value: Any) -> bool:
    return value is not None and value is not MISSING


def eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if _valid(arg1) and _valid(arg):
                raise FuncError(f"incompatible types for comparison: {go_type(arg1)} and "
                                f"{go_type(arg)}")
            continue
        if k1 != "invalid":
            if arg1 == arg:
                return True
            continue
        if not _valid(arg1) or not _valid(arg):
            if _valid(arg1) == _valid(arg):
                return True
            continue
        if isinstance(arg, list | tuple | dict) and not is_struct(arg):
            raise FuncError(f"non-comparable type {format_value(arg)}: {go_type(arg)}")
        if type(arg1) is not type(arg):
            raise FuncError(f"non-comparable types {format_value(arg1)}: {go_type(arg1)}, "
                            f"{go_type(arg)}: {format_value(arg)}")
        if arg1 == arg:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 == "invalid" or k2 == "invalid":
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError(f"incompatible types for comparison: {go_type(arg1)} and "
                        f"{go_type(arg2)}")
    if k1 == "bool":
        raise FuncError("invalid type for comparison")
    return bool(arg1 < arg2)


def le(arg1: Any, arg2: Any) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


def not_(arg: Any) -> bool:
    return not is_true(arg)


# -- collections ----------------------------------------------------------------------------


def _index_arg(index: Any, cap: int) -> int:
    if index is None or index is MISSING:
        raise FuncError("cannot index slice/array with nil")
    if not isinstance(index, int) or isinstance(index, bool):
        raise FuncError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FuncError("index of untyped nil")
    for idx in indexes:
        if item is None:
            raise FuncError("index of nil pointer")
        if isinstance(item, str):
            data = item.encode()
            i = _index_arg(idx, len(data))
            if i == len(data):
                raise FuncError("reflect: string index out of range")
            item = data[i]
        elif isinstance(item, list | tuple):
            i = _index_arg(idx, len(item))
            if i == len(item):
                # Go checks against the capacity, then reflect panics on the length.
                raise FuncError("reflect: slice index out of range")
            item = item[i]
        elif isinstance(item, dict) and not is_struct(item):
            if idx is MISSING:
                idx = None
            if idx is not None and not isinstance(idx, str):
                raise FuncError(f"value has type {go_type(idx)}; should be string")
            if idx in item:
                item = item[idx]
            else:
                # The zero value of the map's element type: "" for string maps such as labels.
                item = "" if all(isinstance(v, str) for v in item.values()) else MISSING
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        seq: Any = item.encode()
    elif isinstance(item, list | tuple):
        seq = item
    else:
        raise FuncError(f"can't slice item of type {go_type(item)}")
    idx = [0, len(seq), len(seq)]
    for i, value in enumerate(indexes):
        idx[i] = _index_arg(value, len(seq))
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0]:idx[1]]
    return part.decode(errors="replace") if isinstance(part, bytes) else list(part)


def length(item: Any) -> int:
    if item is MISSING:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    if item is None:
        raise FuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list | tuple | bytes) or (isinstance(item, dict)
                                                  and not is_struct(item)):
        return len(item)
    raise FuncError(f"len of type {go_type(item)}")


# -- strings ------------------------------------------------------------------------------------


def html_escape(*args: Any) -> str:
    text = args[0] if len(args) == 1 and isinstance(args[0], str) else sprint(*args)
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;",
             ">": "&gt;"}
    return "".join(table.get(ch, ch) for ch in text)


def js_escape(*args: Any) -> str:
    text = args[0] if len(args) == 1 and isinstance(args[0], str) else sprint(*args)
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E",
             "&": "\\u0026", "=": "\\u003D"}
    out = []
    for ch in text:
        if ch in table:
            out.append(table[ch])
        elif ord(ch) < 0x20 or (ord(ch) >= 0x80 and not ch.isprintable()):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def urlquery(*args: Any) -> str:
    import urllib.parse  # rarely used; keep it off the import path

    text = args[0] if len(args) == 1 and isinstance(args[0], str) else sprint(*args)
    return urllib.parse.quote_plus(text, safe="-_.~")


def split(text: str, sep: str) -> list[str]:
    if sep == "":
        return list(text)
    return text.split(sep)


def _is_separator(ch: str) -> bool:
    # strings.Title's word boundaries.
    if ord(ch) < 0x80:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or unicodedata.category(ch) == "Nd":
        return False
    return ch.isspace()


def title(text: str) -> str:
    out, prev = [], " "
    for ch in text:
        out.append(_upper_rune(ch, title=True) if _is_separator(prev) else ch)
        prev = ch
    return "".join(out)


def _upper_rune(ch: str, title: bool = False) -> str:
    up = ch.title() if title else ch.upper()
    return up if len(up) == 1 else ch  # Go maps rune to rune, never to two runes


def upper(text: str) -> str:
    return "".join(_upper_rune(ch) for ch in text)


def lower(text: str) -> str:
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def pad(source: str, prefix: int, suffix: int) -> str:
    if source == "":
        return source
    if prefix < 0 or suffix < 0:
        raise FuncError("strings: negative Repeat count")
    return " " * prefix + source + " " * suffix


def truncate(source: str, size: int) -> str:
    data = source.encode()
    if len(data) < size:
        return source
    if size < 0:
        raise FuncError(f"runtime error: slice bounds out of range [:{size}]")
    return data[:size].decode(errors="replace")


def docker_json(value: Any) -> str:
    try:
        return marshal_json(value, escape_html=isinstance(value, RowMap))
    except ValueError as exc:
        raise FuncError(str(exc)) from None


def call(fn: Any, *args: Any) -> Any:
    if fn is None or fn is MISSING:
        raise FuncError("call of nil")
    if not callable(fn):
        raise FuncError(f"non-function of type {go_type(fn)}")
    return fn(*args)


def _unreachable(*_: Any) -> Any:  # and/or are evaluated by the executor (short circuit)
    raise AssertionError("and/or are special forms")


GO_BUILTINS: dict[str, Func] = {
    "and": Func(_unreachable, ("value",), "value"),
    "or": Func(_unreachable, ("value",), "value"),
    "not": Func(not_, ("value",)),
    "call": Func(call, ("value",), "value"),
    "html": Func(html_escape, (), "any"),
    "js": Func(js_escape, (), "any"),
    "urlquery": Func(urlquery, (), "any"),
    "index": Func(index, ("value",), "value"),
    "slice": Func(slice_, ("value",), "value"),
    "len": Func(length, ("value",)),
    "print": Func(sprint, (), "any"),
    "printf": Func(sprintf, ("string",), "any"),
    "println": Func(sprintln, (), "any"),
    "eq": Func(eq, ("value",), "value"),
    "ne": Func(ne, ("value", "value")),
    "lt": Func(lt, ("value", "value")),
    "le": Func(le, ("value", "value")),
    "gt": Func(gt, ("value", "value")),
    "ge": Func(ge, ("value", "value")),
}

DOCKER_FUNCS: dict[str, Func] = {
    "json": Func(docker_json, ("any",)),
    "split": Func(split, ("string", "string")),
    "join": Func(lambda elems, sep: sep.join(elems), ("strings", "string")),
    "title": Func(title, ("string",)),
    "lower": Func(lower, ("string",)),
    "upper": Func(upper, ("string",)),
    "pad": Func(pad, ("string", "int", "int")),
    "truncate": Func(truncate, ("string", "int")),
}

# docker renders a table's header by running the row template over the header names with
# these in place of its own functions, so that a header reads "NAMES", not "names".
HEADER_FUNCS: dict[str, Func] = {
    "json": Func(lambda v: v, ("string",)),
    "split": Func(lambda v, _: v, ("string", "string")),
    "join": Func(lambda v, _: v, ("string", "string")),
    "title": Func(lambda v: v, ("string",)),
    "lower": Func(lambda v: v, ("string",)),
    "upper": Func(lambda v: v, ("string",)),
    "truncate": Func(lambda v, _: v, ("string", "int")),
}

FUNCS: Mapping[str, Func] = {**GO_BUILTINS, **DOCKER_FUNCS}
FUNCS_FOR_HEADERS: Mapping[str, Func] = {**FUNCS, **HEADER_FUNCS}
