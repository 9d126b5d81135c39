"""docker's formatter: tables aligned by Go's tabwriter(10, 1, 3, ' ', 0), json lines, templates."""

from __future__ import annotations

import pytest

from lamina.cli.format.gofmt import GoStruct
from lamina.cli.format.table import (
    HeaderContext,
    display_width,
    ellipsis,
    format_rows,
    tabwriter,
    truncate_id,
)
from lamina.cli.format.template import TemplateError

IMAGE_HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
}
DEFAULT_IMAGES = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
                  "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}")
ROWS = [
    {"Repository": "nginx", "Tag": "latest", "ID": "a1b2c3d4e5f6",
     "CreatedSince": "2 weeks ago", "Size": "192MB", "Digest": "<none>"},
    {"Repository": "<none>", "Tag": "<none>", "ID": "0123456789ab",
     "CreatedSince": "", "Size": "7.8MB", "Digest": "<none>"},
]


def test_docker_images_default_table() -> None:
    assert format_rows(DEFAULT_IMAGES, ROWS, IMAGE_HEADERS) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
        "nginx        latest    a1b2c3d4e5f6   2 weeks ago   192MB\n"
        "<none>       <none>    0123456789ab   N/A           7.8MB\n"
    )


def test_bare_table_uses_the_default() -> None:
    assert format_rows("table", ROWS[:1], IMAGE_HEADERS, default_table=DEFAULT_IMAGES) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
        "nginx        latest    a1b2c3d4e5f6   2 weeks ago   192MB\n"
    )


def test_table_without_rows_prints_the_header() -> None:
    assert format_rows("table {{.Repository}}\t{{.Tag}}", [], IMAGE_HEADERS) == (
        "REPOSITORY   TAG\n")


def test_single_column_table_is_not_padded() -> None:
    assert format_rows("table {{.ID}}", ROWS, IMAGE_HEADERS) == (
        "IMAGE ID\na1b2c3d4e5f6\n0123456789ab\n")


def test_table_escapes_and_spaces() -> None:
    # "\t" typed in a shell arrives as backslash-t; the spaces after "table" are trimmed.
    assert format_rows("table   {{.Tag}}\\t{{.Size}}", ROWS, IMAGE_HEADERS) == (
        "TAG       SIZE\n"
        "latest    192MB\n"
        "<none>    7.8MB\n"
    )


def test_header_uses_header_functions_and_literal_text() -> None:
    fmt = "table {{upper .Repository}}:{{lower .Tag}}\t{{json .Size}} bytes"
    assert format_rows(fmt, ROWS[:1], IMAGE_HEADERS) == (
        "REPOSITORY:TAG   SIZE bytes\n"
        "NGINX:latest     \"192MB\" bytes\n"
    )


def test_header_of_unknown_field_is_no_value() -> None:
    assert format_rows("table {{.Tag}}\t{{.Nope}}", ROWS[:1], IMAGE_HEADERS) == (
        "TAG       <no value>\n"
        "latest    <no value>\n"
    )


class ContainerRow:
    def __init__(self, name: str) -> None:
        self.Names = name

    def Label(self, key: str) -> str:
        return {"com.example.my-label": "yes"}.get(key, "")


def test_label_method_in_header_and_rows() -> None:
    fmt = 'table {{.Names}}\t{{.Label "com.example.my-label"}}'
    rows = [ContainerRow("web"), ContainerRow("db")]
    assert format_rows(fmt, rows, {"Names": "NAMES"}) == (
        "NAMES     my label\n"
        "web       yes\n"
        "db        yes\n"
    )
    assert HeaderContext({}).Label("org.opencontainers.image.source_url") == "source url"


def test_json_format_prints_one_sorted_object_per_row() -> None:
    assert format_rows("json", [{"Tag": "latest", "ID": "abc", "Size": "1kB"}], {}) == (
        '{"ID":"abc","Size":"1kB","Tag":"latest"}\n')
    assert format_rows("json", [GoStruct({"Z": 1, "A": 2})], {}) == '{"A":2,"Z":1}\n'
    assert format_rows("json", [ContainerRow("web")], {}) == '{"Names":"web"}\n'
    assert format_rows("json", [], {}) == ""


def test_custom_template_per_row() -> None:
    assert format_rows("{{.Repository}}:{{.Tag}}", ROWS, IMAGE_HEADERS) == (
        "nginx:latest\n<none>:<none>\n")
    assert format_rows("{{.ID}}\\t{{.Size}}", ROWS[:1], {}) == "a1b2c3d4e5f6\t192MB\n"
    # A row is a map to docker: {{json .}} sorts its keys.
    assert format_rows("{{json .}}", [{"b": 1, "a": 2}], {}) == '{"a":2,"b":1}\n'


def test_errors_print_nothing() -> None:
    with pytest.raises(TemplateError) as info:
        format_rows("table {{.Tag}}\t{{.Tag.Foo}}", ROWS, IMAGE_HEADERS)
    assert str(info.value) == ('template parsing error: template: :1:15: executing "" at '
                               "<.Tag.Foo>: can't evaluate field Foo in type string")
    with pytest.raises(TemplateError, match=r'^template parsing error: template: :1: '
                                            r'function "foo" not defined$'):
        format_rows("{{foo}}", ROWS, {})


def test_struct_rows_fail_like_docker_contexts() -> None:
    row = GoStruct({"ID": "abc"}, type_name="*formatter.imageContext")
    with pytest.raises(TemplateError) as info:
        format_rows("table {{.Nope}}", [row], IMAGE_HEADERS)
    assert str(info.value) == ('template parsing error: template: :1:2: executing "" at '
                               "<.Nope>: can't evaluate field Nope in type "
                               "*formatter.imageContext")


# -- tabwriter --------------------------------------------------------------------------------

TABWRITER_CASES = [
    ("REPOSITORY\tTAG\tIMAGE ID\nnginx\tlatest\tabc\n",
     "REPOSITORY   TAG       IMAGE ID\nnginx        latest    abc\n"),
    # A line without tabs ends a block of columns; an empty line too.
    ("A\tB\nxx\n\nlongcell\tz\n", "A         B\nxx\n\nlongcell   z\n"),
    # Empty cells are padded; the last cell of a line never is.
    ("\tx\nabc\ty\n", "          x\nabc       y\n"),
    ("a\tb\t\n", "a         b         \n"),
    # Columns are contiguous runs of lines having that cell (Go's doc example).
    ("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n",
     "aaaa      bbb       d\naa        b         dd\na         \naa        cccc      eee\n"),
    # Text not ending in a newline is flushed as it is; a trailing tab-ended cell is kept.
    ("c) foo\tbar\t", "c) foo    bar"),
    ("x", "x"),
    ("", ""),
    # Wide characters count two columns.
    ("名前\tx\nab\ty\n", "名前      x\nab        y\n"),
    ("a-very-long-cell-value\tb\nc\td\n", "a-very-long-cell-value   b\nc                        d\n"),
]


@pytest.mark.parametrize(("text", "expected"), TABWRITER_CASES)
def test_tabwriter(text: str, expected: str) -> None:
    assert tabwriter(text) == expected


def test_tabwriter_parameters_and_lines() -> None:
    assert tabwriter(["a\tb", "cc\td"]) == "a         b\ncc        d\n"
    assert tabwriter("b) foo\tbar", minwidth=8, padding=1) == "b) foo  bar"
    assert tabwriter("c) foo\tbar\t", minwidth=8, padding=1, padchar=".") == "c) foo..bar"
    assert tabwriter("a\tb\nccc\td\n", minwidth=0, padding=1) == "a   b\nccc d\n"


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("你好") == 4
    assert display_width("e\u0301") == 1
    assert display_width("🐳") == 2


# -- display helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "width", "expected"), [
    ("t🐳ststring", 0, ""),
    ("t🐳ststring", 1, "t"),
    ("t🐳ststring", 2, "t…"),
    ("t🐳ststring", 6, "t🐳st…"),
    ("t🐳ststring", 20, "t🐳ststring"),
    ("你好世界teststring", 0, ""),
    ("你好世界teststring", 1, "你"),
    ("你好世界teststring", 3, "你…"),
    ("你好世界teststring", 6, "你好…"),
    ("你好世界teststring", 20, "你好世界teststring"),
    ('/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]', 20, "/bin/sh -c #(nop)  …"),
    ("short", 20, "short"),
    ("exactly-twenty-chars", 20, "exactly-twenty-chars"),
])
def test_ellipsis(source: str, width: int, expected: str) -> None:
    assert ellipsis(source, width) == expected


@pytest.mark.parametrize(("full", "expected"), [
    ("", ""),
    ("1234", "1234"),
    ("90435eec5c4e124e741ef731e118be2fc799a68aba0466ec17717f24ce2ae6a2", "90435eec5c4e"),
    ("sha256:90435eec5c4e124e741ef731e118be2fc799a68aba0466ec17717f24ce2ae6a2",
     "90435eec5c4e"),
])
def test_truncate_id(full: str, expected: str) -> None:
    assert truncate_id(full) == expected
