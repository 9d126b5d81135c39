"""Properties of the formatting layer that hold for any input, and its import hygiene."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from lamina.cli.format.gofmt import quote
from lamina.cli.format.table import display_width, tabwriter
from lamina.cli.format.template import render
from lamina.cli.format.units import human_size, parse_bytes

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
CELL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:/.你", max_size=15)


@given(TEXT.filter(lambda t: "{{" not in t))
def test_text_without_actions_renders_as_is(text: str) -> None:
    assert render(text, {}) == text


@given(TEXT)
def test_a_quoted_string_literal_renders_its_value(text: str) -> None:
    assert render("{{" + quote(text) + "}}", None) == text


@given(st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=8))
def test_tabwriter_keeps_cells_and_aligns_columns(rows: list[list[str]]) -> None:
    text = "".join("\t".join(row) + "\n" for row in rows)
    out = tabwriter(text)
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 1
    for row, line in zip(rows, lines, strict=False):
        # Every cell is kept, in order; only padding is added.
        assert line.replace(" ", "") == "".join(row).replace(" ", "")
    if all(len(row) == len(rows[0]) for row in rows) and len(rows[0]) > 1:
        # Rows of the same shape form one block: the second column starts at one offset.
        starts = {display_width(line[: line.index(row[1], len(row[0]))])
                  for row, line in zip(rows, lines, strict=False) if row[1]}
        assert len(starts) <= 1


@given(st.integers(min_value=0, max_value=10**15))
def test_human_size_has_three_significant_digits(size: int) -> None:
    text = human_size(size)
    number = text.rstrip("kMGTPEZYB")
    assert text[len(number):] in ("B", "kB", "MB", "GB", "TB", "PB")
    assert len(number.replace(".", "").lstrip("0")) <= 3 or "e+" in number


@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(["", "b", "k", "m", "g"]))
def test_parse_bytes_of_whole_units(n: int, suffix: str) -> None:
    factor = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[suffix]
    assert parse_bytes(f"{n}{suffix}") == n * factor
    assert parse_bytes(f"{n}{suffix.upper()}") == n * factor


def test_imports_stay_light() -> None:
    code = ("import sys, lamina.cli.format.table, lamina.cli.format.units;"
            "heavy = [m for m in ('click', 'rich', 'httpx', 'starlette', 'uvicorn')"
            " if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert out == "[]"
