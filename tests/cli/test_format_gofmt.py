"""Python values through Go's fmt (%v, Sprint, Sprintf, Quote) and encoding/json."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.cli.format.gofmt import (
    MISSING,
    GoMap,
    GoStruct,
    NilList,
    NilMap,
    format_float_g,
    format_float_json,
    format_value,
    go_type,
    marshal_json,
    quote,
    quote_rune,
    sprint,
    sprintln,
)
from lamina.cli.format.printf import sprintf


@pytest.mark.parametrize(("value", "v", "json"), [
    (0.0, "0", "0"),
    (-0.0, "-0", "-0"),
    (1.0, "1", "1"),
    (1.5, "1.5", "1.5"),
    (-2.25, "-2.25", "-2.25"),
    (100.0, "100", "100"),
    (123456.0, "123456", "123456"),
    (1e6, "1e+06", "1000000"),
    (1234567.0, "1.234567e+06", "1234567"),
    (1e20, "1e+20", "100000000000000000000"),
    (1e21, "1e+21", "1e+21"),
    (0.0001, "0.0001", "0.0001"),
    (0.00001, "1e-05", "0.00001"),
    (0.000001, "1e-06", "0.000001"),
    (1e-7, "1e-07", "1e-7"),
    (0.1, "0.1", "0.1"),
    (1 / 3, "0.3333333333333333", "0.3333333333333333"),
    (1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308"),
])
def test_floats(value: float, v: str, json: str) -> None:
    assert format_float_g(value) == v
    assert format_float_json(value) == json


def test_special_floats() -> None:
    assert format_value(float("inf")) == "+Inf"
    assert format_value(float("-inf")) == "-Inf"
    assert format_value(float("nan")) == "NaN"
    with pytest.raises(ValueError, match="json: unsupported value: NaN"):
        marshal_json(float("nan"))


@pytest.mark.parametrize(("value", "expected"), [
    (None, "<nil>"),
    (MISSING, "<no value>"),
    (True, "true"),
    (42, "42"),
    ("s", "s"),
    (b"\x01\x02", "[1 2]"),
    ([], "[]"),
    ((1, "a"), "[1 a]"),
    ({}, "map[]"),
    ({"b": [1, None], "a": {"y": 1, "x": 2}}, "map[a:map[x:2 y:1] b:[1 <nil>]]"),
    ({True: 1, False: 0}, "map[false:0 true:1]"),
    (GoStruct({"B": 1, "A": [2]}), "{1 [2]}"),
    (GoMap({"b": 1, "a": 2}), "map[a:2 b:1]"),
])
def test_format_value(value: Any, expected: str) -> None:
    assert format_value(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, "<nil>"), (True, "bool"), (1, "int"), (1.5, "float64"), ("s", "string"),
    (["a"], "[]string"), ([1], "[]interface {}"), ({}, "map[string]interface {}"),
    (GoStruct(type_name="container.Config"), "container.Config"), (b"", "[]uint8"),
])
def test_go_type(value: Any, expected: str) -> None:
    assert go_type(value) == expected


def test_quote() -> None:
    assert quote('a"b\\c\n\t\x00\x7f é 😀 \u200b') == (
        '"a\\"b\\\\c\\n\\t\\x00\\x7f é 😀 \\u200b"')
    assert quote("") == '""'
    assert quote("/bin/sh -c 'echo hi'") == "\"/bin/sh -c 'echo hi'\""
    assert quote_rune(97) == "'a'"
    assert quote_rune(39) == "'\\''"
    assert quote_rune(10) == "'\\n'"
    assert quote_rune(0x110000) == "'�'"


def test_sprint_and_sprintln() -> None:
    assert sprint(1, 2, "a", 3, "b", "c") == "1 2a3bc"
    assert sprint("a", "b") == "ab"
    assert sprint(None, 1) == "<nil> 1"
    assert sprint() == ""
    assert sprintln("a", 1, None) == "a 1 <nil>\n"
    assert sprintln() == "\n"


def test_marshal_json() -> None:
    assert marshal_json({"b": [1, 2.5, "x"], "a": None, "c": True}) == (
        '{"b":[1,2.5,"x"],"a":null,"c":true}')
    assert marshal_json({"b": 1, "a": {"d": 1, "c": 2}}, sort_keys=True) == (
        '{"a":{"c":2,"d":1},"b":1}')
    assert marshal_json(GoMap({"b": 1, "a": 2})) == '{"a":2,"b":1}'
    assert marshal_json(GoStruct({"b": 1, "a": 2}), sort_keys=True) == '{"b":1,"a":2}'
    assert marshal_json(b"hi") == '"aGk="'
    assert marshal_json("\x01\b\f\n\r\t\"\\/<>&\u2028\u2029é") == (
        '"\\u0001\\b\\f\\n\\r\\t\\"\\\\/<>&\\u2028\\u2029é"')
    assert marshal_json("<&>", escape_html=True) == '"\\u003c\\u0026\\u003e"'
    assert marshal_json(MISSING) == "null"
    assert marshal_json(()) == "[]"
    assert marshal_json({}) == "{}"
    assert marshal_json({1: "a"}) == '{"1":"a"}'


PRINTF = [
    ("%s|%v|%d", ("a", "b", 3), "a|b|3"),
    ("%5s|%-5s|%.2s|%5.1s|", ("ab", "ab", "abc", "xyz"), "   ab|ab   |ab|    x|"),
    ("%d|%5d|%-5d|%05d|%+d|% d|%.3d", (1, 2, 3, -42, 5, 6, 7), "1|    2|3    |-0042|+5| 6|007"),
    ("%x|%X|%#x|%o|%#o|%O|%b|%x", (255, 255, 255, 8, 8, 8, 5, -255),
     "ff|FF|0xff|10|010|0o10|101|-ff"),
    ("%c|%q|%U|%#U", (65, 65, 0x1F600, 65), "A|'A'|U+1F600|U+0041 'A'"),
    ("%f|%.2f|%8.3f|%08.3f|%.0f|%.0f", (3.14159, 3.14159, 3.14159, 3.14159, 2.5, 3.5),
     "3.141590|3.14|   3.142|0003.142|2|4"),
    ("%e|%E|%.2e|%+.2e", (123456.0, 0.000123, 12345.678, 12345.678),
     "1.234560e+05|1.230000E-04|1.23e+04|+1.23e+04"),
    ("%g|%g|%g|%G|%.3g|%.3g", (1e6, 123456.0, 0.00001, 1e-7, 1234.5678, 0.0001234),
     "1e+06|123456|1e-05|1E-07|1.23e+03|0.000123"),
    ("%t|%5t|%v", (True, False, True), "true|false|true"),
    ("%q|%#q|%q", ('a"b', "abc", "tab\there"), '"a\\"b"|`abc`|"tab\\there"'),
    ("%x|% x|%X|%.1x", ("hi", "hi", "hi", "hi"), "6869|68 69|6869|68"),
    ("%v|%d|%s|%x|%q", ([1, 2], [1, 2], ["a", "b"], [255, 16], ["a"]),
     '[1 2]|[1 2]|[a b]|[ff 10]|["a"]'),
    ("%v|%v", ({"b": 1, "a": [2]}, GoStruct({"A": 1})), "map[a:[2] b:1]|{1}"),
    ("%+v|%+v", (GoStruct({"A": 1, "B": "x"}), 5), "{A:1 B:x}|5"),
    ("%#v|%#v", ("a", 1), '"a"|1'),
    ("%T|%T|%T|%T|%T", (1, "a", 1.5, None, [1]), "int|string|float64|<nil>|[]interface {}"),
    ("%v|%d|%s", (None, None, None), "<nil>|%!d(<nil>)|%!s(<nil>)"),
    ("%d|%s|%t|%f", ("x", 5, "y", "z"), "%!d(string=x)|%!s(int=5)|%!t(string=y)|%!f(string=z)"),
    ("%d %d", (1,), "1 %!d(MISSING)"),
    ("%d", (1, "x", None), "1%!(EXTRA string=x, <nil>)"),
    ("%z", (1,), "%!z(int=1)"),
    ("100%%", (), "100%"),
    ("50%", (), "50%!(NOVERB)"),
    ("%*d|%-*d|%.*f", (5, 42, 4, 7, 2, 3.14159), "   42|7   |3.14"),
    ("%s", ("é",), "é"),
    ("%3s|", ("é",), "  é|"),
    ("no verbs", (), "no verbs"),
    ("%v %v", (float("inf"), float("nan")), "+Inf NaN"),
]


@pytest.mark.parametrize(("fmt", "args", "expected"), PRINTF)
def test_sprintf(fmt: str, args: tuple[Any, ...], expected: str) -> None:
    assert sprintf(fmt, *args) == expected


def test_marshal_indent_like_docker_inspect() -> None:
    value = [{"Id": "x", "RepoTags": ["a"], "Config": {"Env": [], "Labels": {}, "Cmd": None},
              "Note": "<&>"}]
    assert marshal_json(value, indent="    ", escape_html=True) == (
        "[\n"
        "    {\n"
        '        "Id": "x",\n'
        '        "RepoTags": [\n'
        '            "a"\n'
        "        ],\n"
        '        "Config": {\n'
        '            "Env": [],\n'
        '            "Labels": {},\n'
        '            "Cmd": null\n'
        "        },\n"
        '        "Note": "\\u003c\\u0026\\u003e"\n'
        "    }\n"
        "]"
    )
    assert marshal_json([], indent="    ") == "[]"


def test_nil_slices_and_maps() -> None:
    assert marshal_json({"a": NilList(), "b": NilMap(), "c": []}) == '{"a":null,"b":null,"c":[]}'
    assert format_value(NilList()) == "[]"
    assert format_value(NilMap()) == "map[]"
