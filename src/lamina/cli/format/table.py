"""docker's formatter: ``table`` formats aligned by tabwriter, ``json`` lines, or a template.

``format_rows(fmt, rows, headers)`` behaves as docker's ``formatter.Context.Write``:

- a format starting with ``table`` renders the rest of the format once over the *header
  context* (the field name to header name mapping, run with docker's header functions so that
  ``{{upper .Name}}`` still reads ``NAME``), then once per row, and aligns the cells with Go's
  ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``;
- ``json`` prints each row as one line of JSON (keys sorted, as docker marshals its rows);
- anything else is a template rendered per row, each followed by a newline.

In every format the two-character sequences ``\\t`` and ``\\n`` become a tab and a newline,
as docker does, so that ``--format '{{.ID}}\\t{{.Size}}'`` works from a shell.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lamina.cli.format.gofmt import RowMap, is_struct, marshal_json
from lamina.cli.format.template import compile_template

TABLE_KEY = "table"
JSON_KEY = "json"


class HeaderContext(dict[str, str]):
    """docker's SubHeaderContext: a map of header names with a ``Label`` method."""

    def Label(self, name: str) -> str:
        last = name.split(".")[-1]
        return last.replace("-", " ").replace("_", " ")


def format_rows(fmt: str, rows: Iterable[Any], headers: Mapping[str, str] | None = None, *,
                default_table: str | None = None) -> str:
    """Render rows (dicts or objects) through a docker ``--format`` string.

    ``default_table`` replaces the bare format ``table`` (docker's default table of the
    command). Raises :class:`~lamina.cli.format.template.TemplateError` (an InvalidArgument)
    when the template does not parse or a row fails to render; nothing is printed then.
    """
    if fmt == TABLE_KEY and default_table is not None:
        fmt = default_table
    if fmt == JSON_KEY:
        return "".join(marshal_json(_row_json(row), sort_keys=True, escape_html=True) + "\n"
                       for row in rows)
    is_table = fmt.startswith(TABLE_KEY)
    final = fmt[len(TABLE_KEY):] if is_table else fmt
    final = final.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    template = compile_template(final)
    fields = _simple_fields(final)
    if fields is not None and isinstance(rows, list) and all(type(r) is dict for r in rows):
        body = _render_simple(fields, rows)
    else:
        # docker marshals a row as a map: {{json .}} sorts its keys.
        body = "".join(template.execute(_as_row(row)) + "\n" for row in rows)
    if not is_table:
        return body
    header = template.execute_partial(HeaderContext(headers or {}), header=True)
    return tabwriter(header + "\n" + body)


_SIMPLE_ACTION = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _simple_fields(text: str) -> list[str] | None:
    """The parts of a template made only of text and ``{{.Field}}`` actions (odd indexes are
    field names), or None for anything richer. Such templates, which are every command's
    default, are rendered without the template engine: `lamina images` lists thousands of
    rows and must start and finish fast."""
    parts = _SIMPLE_ACTION.split(text)
    if any("{{" in p or "}}" in p for p in parts[::2]):
        return None
    return parts


def _render_simple(parts: list[str], rows: list[dict[str, Any]]) -> str:
    from lamina.cli.format.gofmt import format_value

    out = []
    for row in rows:
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(part)
                continue
            value = row.get(part, _NO_VALUE)
            out.append(value if type(value) is str else format_value(value))
        out.append("\n")
    return "".join(out)


_NO_VALUE = "<no value>"


def _row_json(row: Any) -> Any:
    """A row as docker marshals a formatter context: its exported values, keys sorted.

    Docker calls every exported method of the context that takes no argument; for an object
    row, that is every capitalised attribute, called when it is such a method.
    """
    if isinstance(row, dict) or is_struct(row):
        return dict(row) if isinstance(row, dict) else row
    values: dict[str, Any] = {}
    for name in dir(row):
        if not name[:1].isupper():
            continue
        value = getattr(row, name)
        if callable(value):
            try:
                value = value()
            except TypeError:
                continue  # a method that needs arguments, such as Label
        values[name] = value
    return values


def _as_row(row: Any) -> Any:
    return RowMap(row) if isinstance(row, dict) and not is_struct(row) else row


# -- tabwriter --------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Terminal columns of a string, as go-runewidth counts them (wide East Asian = 2)."""
    width = 0
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            continue
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


class _Cell:
    __slots__ = ("htab", "text", "width")

    def __init__(self, text: str, width: int, htab: bool) -> None:
        self.text = text
        self.width = width
        self.htab = htab


class _TabWriter:
    """Go's text/tabwriter (docker's copy), fed a whole text at once: elastic tabstops."""

    def __init__(self, minwidth: int, padding: int, padchar: str) -> None:
        self.minwidth = minwidth
        self.padding = padding
        self.padchar = padchar
        self.out: list[str] = []
        self.lines: list[list[_Cell]] = [[]]
        self.widths: list[int] = []
        self.cell: list[str] = []

    def terminate_cell(self, htab: bool) -> int:
        text = "".join(self.cell)
        self.lines[-1].append(_Cell(text, display_width(text), htab))
        self.cell = []
        return len(self.lines[-1])

    def write(self, text: str) -> None:
        for piece in re.split(r"([\t\v\n\f])", text):
            if piece in ("\t", "\v", "\n", "\f"):
                ncells = self.terminate_cell(piece == "\t")
                if piece in ("\n", "\f"):
                    self.lines.append([])
                    # A line of one cell ends a block of columns.
                    if piece == "\f" or ncells == 1:
                        self.flush()
            elif piece:
                self.cell.append(piece)

    def flush(self) -> None:
        if self.cell:
            self.terminate_cell(False)
        self.format(0, len(self.lines))
        self.lines = [[]]
        self.widths = []

    def write_lines(self, line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(self.lines[i]):
                if cell.text:
                    self.out.append(cell.text)
                if j < len(self.widths):
                    self.out.append(self.padchar * (self.widths[j] - cell.width))
            if i + 1 == len(self.lines):
                self.out.append("".join(self.cell))
            else:
                self.out.append("\n")

    def format(self, line0: int, line1: int) -> None:
        column = len(self.widths)
        this = line0
        while this < line1:
            if column >= len(self.lines[this]) - 1:
                this += 1
                continue
            # This line starts a block of cells in this column: print what comes before it,
            # size the column over the block, and format the block's further columns.
            self.write_lines(line0, this)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(self.lines[this]) - 1:
                width = max(width, self.lines[this][column].width + self.padding)
                this += 1
            self.widths.append(width)
            self.format(line0, this)
            self.widths.pop()
            line0 = this
            this += 1
        self.write_lines(line0, line1)


def tabwriter(text: str | Sequence[str], minwidth: int = 10, padding: int = 3,
              padchar: str = " ") -> str:
    """Align tab-separated cells as Go's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``.

    ``text`` is the whole output (or a list of lines, each given a trailing newline). The
    last cell of a line is never padded.
    """
    if not isinstance(text, str):
        text = "".join(line + "\n" for line in text)
    fast = _uniform_table(text, minwidth, padding, padchar)
    if fast is not None:
        return fast
    writer = _TabWriter(minwidth, padding, padchar)
    writer.write(text)
    writer.flush()
    return "".join(writer.out)


def _uniform_table(text: str, minwidth: int, padding: int, padchar: str) -> str | None:
    """The common case at list speed: ASCII lines that all have the same number of cells, so
    every column is one block and its width is simply its widest cell plus padding (what Go's
    elastic tabstops give then). None when the text needs the general algorithm."""
    if not text.endswith("\n") or not text.isascii() or "\v" in text or "\f" in text:
        return None
    lines = [line.split("\t") for line in text[:-1].split("\n")]
    ncells = len(lines[0])
    if ncells < 2 or any(len(cells) != ncells for cells in lines):
        return None
    if any(not c.isprintable() for cells in lines for c in cells if c):
        return None
    widths = [max(minwidth, max(len(cells[j]) for cells in lines) + padding)
              for j in range(ncells - 1)]
    out = []
    for cells in lines:
        for j, width in enumerate(widths):
            out.append(cells[j] + padchar * (width - len(cells[j])))
        out.append(cells[-1])
        out.append("\n")
    return "".join(out)


# -- display helpers -------------------------------------------------------------------------


def ellipsis(text: str, max_width: int) -> str:
    """docker's formatter.Ellipsis: cut to ``max_width`` display columns, ending in '…'."""
    if max_width <= 0:
        return ""
    if max_width == 1:
        return text[:1]
    if text.isascii():
        return text if len(text) <= max_width else text[: max_width - 1] + "…"
    widths = [2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text]
    if sum(widths) <= max_width:
        return text
    total = 0
    for i, w in enumerate(widths):
        if total + w > max_width - 1:
            # docker finds no cut when the first character is already too wide.
            return text[:i] + "…" if i else text
        total += w
    return text


def truncate_id(full_id: str) -> str:
    """docker's stringid.TruncateID: drop an ``algo:`` prefix, keep 12 characters."""
    _, sep, rest = full_id.partition(":")
    return (rest if sep else full_id)[:12]
