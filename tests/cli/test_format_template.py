"""Go text/template as docker runs it: each expected string is what Go 1.2x prints."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lamina.cli.format.gofmt import GoMap, GoStruct, NilList
from lamina.cli.format.template import Template, TemplateError, compile_template, render
from lamina.errors import InvalidArgument

IMAGE = {
    "Id": "sha256:90435eec5c4e124e741ef731e118be2fc799a68aba0466ec17717f24ce2ae6a2",
    "RepoTags": ["nginx:latest", "nginx:1.27"],
    "Size": 192_000_000,
    "Config": {
        "Env": ["PATH=/usr/bin", "NGINX_VERSION=1.27.3"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Entrypoint": None,
        "Labels": {"maintainer": "NGINX Docker Maintainers", "com.example.vendor": "ACME"},
        "ExposedPorts": {"80/tcp": {}},
    },
    "Os": "linux",
}


@dataclasses.dataclass
class Point:
    X: int
    Y: int


class Row:
    """An object with Go-like fields (attributes) and methods."""

    ID = "abc"

    def Label(self, key: str) -> str:  # docker's ContainerContext.Label
        return {"com.example.vendor": "ACME"}.get(key, "")

    def Names(self) -> str:
        return "web"


CASES: list[tuple[str, Any, str]] = [
    # Fields, maps, missing keys.
    ("{{.Os}}", IMAGE, "linux"),
    ("{{.Config.Env}}", IMAGE, "[PATH=/usr/bin NGINX_VERSION=1.27.3]"),
    ("{{.Nope}}", IMAGE, "<no value>"),
    ("{{.Nope.Deeper}}", IMAGE, "<no value>"),
    ("{{.Config.Entrypoint}}", IMAGE, "<nil>"),
    ("{{.Config.Labels}}", IMAGE,
     "map[com.example.vendor:ACME maintainer:NGINX Docker Maintainers]"),
    ("{{.Config.ExposedPorts}}", IMAGE, "map[80/tcp:map[]]"),
    ("{{.}}", None, "<no value>"),
    ("{{.}}", "text", "text"),
    ("{{.}}", [], "[]"),
    ("{{.}}", {}, "map[]"),
    ("{{.}}", {"l": [1, {"k": None}], "b": True}, "map[b:true l:[1 map[k:<nil>]]]"),
    ("{{.}}", {2: "b", 1: "a"}, "map[1:a 2:b]"),
    ("{{.T}} {{.F}}", {"T": True, "F": False}, "true false"),
    ("{{.}}", GoStruct({"Name": "x", "Size": 3}), "{x 3}"),
    ("{{.}}", Point(1, 2), "{1 2}"),
    ("{{.X}}", Point(1, 2), "1"),
    ("{{.ID}} {{.Names}} {{.Label \"com.example.vendor\"}}", Row(), "abc web ACME"),
    # Floats print as Go's %v: shortest digits, exponent from 1e+06 and below 1e-04.
    ("{{.}}", 1.0, "1"),
    ("{{.}}", 3.25, "3.25"),
    ("{{.}}", 123456.0, "123456"),
    ("{{.}}", 1e6, "1e+06"),
    ("{{.}}", 1234567.0, "1.234567e+06"),
    ("{{.}}", 0.0001, "0.0001"),
    ("{{.}}", 0.000012, "1.2e-05"),
    ("{{.}}", -2.5, "-2.5"),
    # Literals.
    ("{{1.5}} {{1e3}} {{0x1F}} {{0777}} {{-3}} {{+4}}", None, "1.5 1000 31 511 -3 4"),
    ("{{0o17}} {{0b101}} {{1_000}} {{'a'}} {{'\\n'}}", None, "15 5 1000 97 10"),
    ('{{"a\\tb"}}|{{`raw\\n`}}|{{"\\u00e9"}}', None, "a\tb|raw\\n|é"),
    ("{{true}} {{false}}", None, "true false"),
    (r'{{"\x41\101\u00e9\U0001F600\\\""}}', None, 'AAé😀\\"'),
    (r"{{'\''}} {{'\x41'}} {{'é'}} {{'\u00e9'}}", None, "39 65 233 233"),
    ("{{`a\r\nb`}}", None, "a\nb"),
    # Trim markers and comments.
    ("a  {{- 1 -}}  b", None, "a1b"),
    ("a \n\t{{- 1}} \n", None, "a1 \n"),
    ("{{1 -}}\n\n  b", None, "1b"),
    ("{{-3}}", None, "-3"),
    ("a{{/* a comment */}}b", None, "ab"),
    ("a {{- /* trimmed */ -}} b", None, "ab"),
    ("{{.Os\n}}", IMAGE, "linux"),
    # Variables.
    ("{{$x := .Os}}{{$x}}", IMAGE, "linux"),
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", None, "2"),
    ("{{with .Config}}{{$.Os}}/{{len .Env}}{{end}}", IMAGE, "linux/2"),
    ("{{$}}", "top", "top"),
    # if / else if / else / with.
    ("{{if .A}}y{{else}}n{{end}}", {"A": ""}, "n"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": "x"}, "y"),
    ("{{if .A}}y{{else}}n{{end}}", {}, "n"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": 0}, "n"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": 0.5}, "y"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": []}, "n"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": {}}, "n"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": None}, "n"),
    ("{{if .A}}y{{else}}n{{end}}", {"A": Point(0, 0)}, "y"),
    ("{{if eq .N 1}}one{{else if eq .N 2}}two{{else}}many{{end}}", {"N": 2}, "two"),
    ("{{if eq .N 1}}one{{else if eq .N 2}}two{{else}}many{{end}}", {"N": 7}, "many"),
    ("{{with .Config.Labels.maintainer}}by {{.}}{{end}}", IMAGE, "by NGINX Docker Maintainers"),
    ("{{with .Nope}}x{{else}}none{{end}}", IMAGE, "none"),
    ("{{with $v := .Os}}{{$v}}{{end}}", IMAGE, "linux"),
    ("{{with .A}}a{{else with .B}}{{.}}{{end}}", {"B": "b"}, "b"),
    # range.
    ("{{range .RepoTags}}[{{.}}]{{end}}", IMAGE, "[nginx:latest][nginx:1.27]"),
    ("{{range $i, $t := .RepoTags}}{{if $i}}, {{end}}{{$t}}{{end}}", IMAGE,
     "nginx:latest, nginx:1.27"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", IMAGE,
     "com.example.vendor=ACME;maintainer=NGINX Docker Maintainers;"),
    ("{{range .}}{{.}},{{end}}", {"b": 1, "a": 2}, "2,1,"),
    ("{{range $v := .}}{{$v}}{{end}}", [1, 2], "12"),
    ("{{range .}}x{{else}}empty{{end}}", [], "empty"),
    ("{{range .}}x{{else}}empty{{end}}", None, "empty"),
    ("{{range .Nope}}x{{else}}empty{{end}}", {}, "empty"),
    ("{{range .}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", [1, 2, 3], "13"),
    ("{{range .}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}", [1, 2, 3], "1"),
    ("{{range .}}{{range .}}{{.}}{{end}};{{end}}", [[1, 2], [3]], "12;3;"),
    ("{{$n := 0}}{{range .}}{{$n = .}}{{end}}{{$n}}", [4, 5], "5"),
    # docker's functions.
    ("{{json .}}", {"a": None, "b": [1, "x", True]}, '{"a":null,"b":[1,"x",true]}'),
    ("{{json .Config.Cmd}}", IMAGE, '["nginx","-g","daemon off;"]'),
    ("{{json .}}", "a<b&c>", '"a<b&c>"'),
    ("{{json .}}", "tab\there\u2028", '"tab\\there\\u2028"'),
    ("{{json .}}", 100.0, "100"),
    ("{{json .}}", 1e21, "1e+21"),
    ("{{json .}}", 1e-7, "1e-7"),
    ("{{json .}}", GoStruct({"Z": 1, "A": 2}), '{"Z":1,"A":2}'),
    ("{{json .Nope}}", {}, "null"),
    ('{{join .RepoTags ", "}}', IMAGE, "nginx:latest, nginx:1.27"),
    ('{{join . ","}}', [], ""),
    ('{{split . ":"}}', "a:b:c", "[a b c]"),
    ('{{split . ""}}', "abc", "[a b c]"),
    ('{{split . ","}}', "", "[]"),
    ('{{len (split . ",")}}', "", "1"),
    ('{{join (split . ":") "/"}}', "text:with:colon", "text/with/colon"),
    ("{{title .}}", "hello world-foo_bar 1st", "Hello World-Foo_bar 1st"),
    ("{{upper .}} {{lower .}}", "MiXed", "MIXED mixed"),
    ("{{pad . 3 3}}", "tupx5", "   tupx5   "),
    ("{{pad . 3 3}}", "", ""),
    ("{{truncate . 5}}", "tupx5xzf6hvsrhnruz5cr8gwp", "tupx5"),
    ("{{truncate . 25}}", "tupx5xzf6hvsrhnruz5cr8gwp", "tupx5xzf6hvsrhnruz5cr8gwp"),
    ("{{truncate . 30}}", "tupx5xzf6hvsrhnruz5cr8gwp", "tupx5xzf6hvsrhnruz5cr8gwp"),
    ("{{truncate .Id 19}}", IMAGE, "sha256:90435eec5c4e"),
    # Go's builtins.
    ('{{index .Config.Labels "com.example.vendor"}}', IMAGE, "ACME"),
    ('{{index .Config.Labels "absent"}}', IMAGE, ""),
    ("{{index .RepoTags 1}}", IMAGE, "nginx:1.27"),
    ("{{index . 0 1}}", [[1, 2]], "2"),
    ("{{index . 1}}", "abc", "98"),
    ("{{len .RepoTags}} {{len .Config.Labels}} {{len .}}", {"RepoTags": [1], "Config": {
        "Labels": {}}}, "1 0 2"),
    ("{{len .}}", "héllo", "6"),
    ("{{slice . 1 3}}", "hello", "el"),
    ("{{slice . 1}}", [1, 2, 3], "[2 3]"),
    ("{{slice .}}", [1, 2], "[1 2]"),
    ('{{print 1 2 "a" 3 "b" "c"}}', None, "1 2a3bc"),
    ("{{print .Nope}}", {}, "<nil>"),
    ('{{println 1 "a"}}', None, "1 a\n"),
    ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 \"\"}}|", None, "0 2 x |"),
    ("{{or 1 (index . 5)}} {{and 0 (index . 5)}}", [], "1 0"),
    ("{{not 0}} {{not 1}} {{not .}}", "", "true false true"),
    ("{{eq 1 1}} {{eq 1 2}} {{eq .A \"x\" \"y\"}} {{ne 1 2}}", {"A": "y"}, "true false true true"),
    ("{{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}}", None, "true true true false"),
    ('{{lt "a" "b"}} {{gt 1.5 1.25}}', None, "true true"),
    ("{{eq .Nope nil}}", {}, "true"),
    ("{{html .}}", "<a href='x'>&\"", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"),
    ("{{js .}}", "a'b\"c<", "a\\'b\\\"c\\u003C"),
    ("{{urlquery .}}", "a b&c=d/é", "a+b%26c%3Dd%2F%C3%A9"),
    # printf.
    ('{{printf "%s-%d" .Os .Size}}', IMAGE, "linux-192000000"),
    ('{{printf "%5.1f|%-4s|%04d|%x|%X|%o|%b" 3.14159 "ab" 7 255 255 8 5}}', None,
     "  3.1|ab  |0007|ff|FF|10|101"),
    ('{{printf "%q" .}}', 'say "hi"\n', '"say \\"hi\\"\\n"'),
    ('{{printf "%v %+d %t %c %U %#x" 1.5 5 true 65 128512 255}}', None,
     "1.5 +5 true A U+1F600 0xff"),
    ('{{printf "%d" "x"}}', None, "%!d(string=x)"),
    ('{{printf "%d %d" 1}}', None, "1 %!d(MISSING)"),
    ('{{printf "%d" 1 "x"}}', None, "1%!(EXTRA string=x)"),
    ('{{printf "%6.2f%%" 12.3456}}', None, " 12.35%"),
    ('{{printf "%e %g %g" 123456.0 0.00001 100000.0}}', None, "1.234560e+05 1e-05 100000"),
    ('{{printf "%T %T %T %T" 1 "a" . 1.5}}', ["a"], "int string []string float64"),
    ('{{printf "%x" "hi"}} {{printf "% x" "hi"}}', None, "6869 68 69"),
    ('{{printf "%s" .}} {{printf "%d" .}}', [1, 2], "[%!s(int=1) %!s(int=2)] [1 2]"),
    ('{{printf "%-10s|%10s|" "left" "right"}}', None, "left      |     right|"),
    ('{{printf "%.2s" "abcdef"}} {{printf "%.3d" 7}}', None, "ab 007"),
    ('{{printf "%v" .}}', {"b": [1], "a": None}, "map[a:<nil> b:[1]]"),
    ('{{printf "%+v" .}}', GoStruct({"A": 1, "B": "x"}), "{A:1 B:x}"),
    ('{{printf "%*d" 5 42}}', None, "   42"),
    ('{{printf "%v"}}', None, "%!v(MISSING)"),
    ('{{printf "100%"}}', None, "100%!(NOVERB)"),
    # Pipelines and parentheses.
    ('{{.Os | printf "%s!"}}', IMAGE, "linux!"),
    ('{{"x" | printf "%s-%s" "a"}}', None, "a-x"),
    ("{{.RepoTags | len}}", IMAGE, "2"),
    ("{{(index .RepoTags 1) | upper}}", IMAGE, "NGINX:1.27"),
    ("{{(index . 0).Name}}", [{"Name": "n"}], "n"),
    ('{{.Os | printf "%s" | len}}', IMAGE, "5"),
    ("{{1 | not}}", None, "false"),
    ("{{(.)}}", 3, "3"),
    # define, template, block.
    ('{{define "row"}}[{{.}}]{{end}}{{range .}}{{template "row" .}}{{end}}', ["a", "b"],
     "[a][b]"),
    ('{{block "name" .Os}}<{{.}}>{{end}}', IMAGE, "<linux>"),
    ('{{define "x"}}{{.}}{{end}}{{template "x"}}', IMAGE, "<no value>"),
]


@pytest.mark.parametrize(("text", "data", "expected"), CASES)
def test_render(text: str, data: Any, expected: str) -> None:
    assert render(text, data) == expected


PARSE_ERRORS = [
    ("{{foo}}", 'function "foo" not defined'),
    ("{{.Name", "unclosed action"),
    ("{{}}", "missing value for command"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{if .A}}x", "unexpected EOF"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{if}}{{end}}", "missing value for if"),
    ("{{$x}}", 'undefined variable "$x"'),
    ("{{if true}}{{$x := 1}}{{end}}{{$x}}", 'undefined variable "$x"'),
    ('{{"abc}}', "unterminated quoted string"),
    ("{{`abc}}", "unterminated raw quoted string"),
    ("{{/* x */ }}", "comment ends before closing delimiter"),
    ("{{/* x", "unclosed comment"),
    ("{{.A | 3}}", "non executable command in pipeline stage 2"),
    ("{{break}}", "{{break}} outside {{range}}"),
    ("{{(.A}}", "unclosed left paren"),
    ("{{.A)}}", 'unexpected ")" in command'),
    ("{{#}}", 'unexpected "#" in command'),
    ("{{1x}}", 'bad number syntax: "1x"'),
    ("{{'ab'}}", "malformed character constant: 'ab'"),
    ("{{''}}", "invalid syntax"),
    ("{{.A}", "bad character U+007D '}'"),
    ("{{08}}", 'integer overflow: "08"'),
    ("{{99999999999999999999}}", 'integer overflow: "99999999999999999999"'),
    ("{{1__0}}", 'illegal number syntax: "1__0"'),
    ("{{1e400}}", 'illegal number syntax: "1e400"'),
    (r'{{"\q"}}', "invalid syntax"),
    (r'{{"\'"}}', "invalid syntax"),
    (r'{{"\0"}}', "invalid syntax"),
    ("{{-}}", 'illegal number syntax: "-"'),
    ("{{range $a, $b, $c := .}}{{end}}", "too many declarations in range"),
    ("{{.A.B.}}", "unexpected <.> in operand"),
    ('{{"a".B}}', 'unexpected . after term "\\"a\\""'),
    ("{{if .A}}{{else}}{{else}}{{end}}", "expected end; found {{else}}"),
    ("{{range .}}{{else if .}}{{end}}", "unexpected <if> in input"),
    ('{{define "x"}}a{{end}}{{define "x"}}b{{end}}',
     'template: multiple definition of template "x"'),
    ("{{template x}}", "unexpected \"x\" in template clause"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template(text)
    assert str(info.value) == f"template parsing error: template: :1: {message}"
    assert info.value.go_message == f"template: :1: {message}"
    assert isinstance(info.value, InvalidArgument)


def test_parse_error_line_numbers() -> None:
    with pytest.raises(TemplateError, match=r'^template parsing error: template: :3: function "foo" not defined$'):
        Template("a\n\n{{foo}}")
    with pytest.raises(TemplateError, match=r"template: :2: unclosed action started at :1$"):
        Template("{{.A\n")


EXEC_ERRORS: list[tuple[str, Any, str]] = [
    ("{{.Os 1}}", IMAGE, '1:2: executing "" at <.Os>: Os is not a method but has arguments'),
    ("{{index . 5}}", [1],
     '1:2: executing "" at <index . 5>: error calling index: index out of range: 5'),
    ("{{index . 1}}", 5,
     '1:2: executing "" at <index . 1>: error calling index: can\'t index item of type int'),
    ("{{truncate .}}", "x",
     '1:2: executing "" at <truncate>: wrong number of args for truncate: want 2 got 1'),
    ('{{truncate . "a"}}', "x", '1:13: executing "" at <"a">: expected integer; found "a"'),
    ("{{truncate . 1}}", 5,
     '1:11: executing "" at <.>: wrong type for value; expected string; got int'),
    ('{{join . ","}}', "x",
     '1:7: executing "" at <.>: wrong type for value; expected []string; got string'),
    ("{{printf}}", None,
     '1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0'),
    ("{{len 3}}", None, '1:2: executing "" at <len 3>: error calling len: len of type int'),
    ("{{lt . 1}}", [1], '1:2: executing "" at <lt . 1>: error calling lt: invalid type for '
                        "comparison"),
    ("{{range .}}{{end}}", "str", '1:8: executing "" at <.>: range can\'t iterate over str'),
    ("{{.A.B}}", {"A": "s"},
     '1:4: executing "" at <.A.B>: can\'t evaluate field B in type string'),
    ("{{.A.B}}", {"A": None}, '1:4: executing "" at <.A.B>: nil pointer evaluating '
                              "interface {}.B"),
    ("{{nil}}", None, '1:2: executing "" at <nil>: nil is not a command'),
    ("{{1 2}}", None, '1:2: executing "" at <1>: can\'t give argument to non-function 1'),
    ('{{template "x"}}', None, '1:11: executing "" at <{{template "x"}}>: template "x" not '
                               "defined"),
    ('{{define "x"}}{{.A.B}}{{end}}\n{{template "x" .}}', {"A": 1},
     '1:18: executing "x" at <.A.B>: can\'t evaluate field B in type int'),
    ("{{.Foo}}", GoStruct({"ID": "x"}, type_name="*formatter.imageContext"),
     '1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type '
     "*formatter.imageContext"),
    ("{{.Z}}", Point(1, 2), '1:2: executing "" at <.Z>: can\'t evaluate field Z in type Point'),
    ("a\n  {{.A.B}}", {"A": 1},
     '2:6: executing "" at <.A.B>: can\'t evaluate field B in type int'),
    ("é{{.A.B}}", {"A": 1}, '1:6: executing "" at <.A.B>: can\'t evaluate field B in type int'),
]


@pytest.mark.parametrize(("text", "data", "message"), EXEC_ERRORS)
def test_exec_errors(text: str, data: Any, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template(text).execute(data)
    assert info.value.go_message == f"template: :{message}"
    assert str(info.value) == f"template parsing error: template: :{message}"


def test_incompatible_comparison() -> None:
    with pytest.raises(TemplateError, match="error calling eq: incompatible types for "
                                            "comparison"):
        render("{{eq . 1}}", "x")


def test_missingkey_error_as_docker_inspect() -> None:
    """docker inspect re-runs a failing template over the raw JSON with missingkey=error."""
    template = Template("{{.Config.Nope}}", missing_key="error")
    with pytest.raises(TemplateError) as info:
        template.execute(IMAGE)
    assert str(info.value) == ('template parsing error: template: :1:9: executing "" at '
                               '<.Config.Nope>: map has no entry for key "Nope"')
    assert Template("{{.Os}}", missing_key="error").execute(IMAGE) == "linux"


def test_missingkey_error_spares_go_maps() -> None:
    """In docker's typed inspect, a missing key of a real map (labels) is <no value>."""
    data = {"Config": {"Labels": GoMap({"a": "1"})}}
    template = Template("{{.Config.Labels.b}}|{{.Config.Labels.a}}", missing_key="error")
    assert template.execute(data) == "<no value>|1"
    assert render("{{.Cmd}} {{json .Cmd}} {{len .Cmd}} {{if .Cmd}}y{{else}}n{{end}}",
                  {"Cmd": NilList()}) == "[] null 0 n"


def test_partial_output_on_error() -> None:
    template = Template("a{{.A}}b{{.A.B}}c")
    assert template.execute_partial({"A": 1}) == "a1b"


def test_header_functions_keep_header_text() -> None:
    template = Template('{{upper .Name}}|{{json .Name}}|{{join .Name ","}}|{{split .Name ","}}|'
                        "{{title .Name}}|{{lower .Name}}|{{truncate .Name 2}}|{{pad .Name 1 1}}")
    assert template.execute({"Name": "NAMES"}, header=True) == (
        "NAMES|NAMES|NAMES|NAMES|NAMES|NAMES|NAMES| NAMES ")


def test_compile_cache_and_api() -> None:
    assert compile_template("{{.}}") is compile_template("{{.}}")
    assert repr(Template("{{.}}")) == "Template('{{.}}')"
    with pytest.raises(InvalidArgument):
        Template("{{.}}", missing_key="bogus")


def test_method_arity_error() -> None:
    with pytest.raises(TemplateError, match="wrong number of args for Label: want 1 got 0"):
        render("{{.Label}}", Row())


def test_deep_data_is_not_mutated() -> None:
    data = {"L": [3, 1, 2], "M": {"b": 1, "a": 2}}
    render("{{range .M}}{{end}}{{slice .L 1}}{{json .}}", data)
    assert data == {"L": [3, 1, 2], "M": {"b": 1, "a": 2}}
