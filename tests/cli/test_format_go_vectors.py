"""Vectors recorded from Go 1.19 (text/template with docker's functions, fmt, text/tabwriter).

Data was decoded from JSON with integers kept as int. The recorded cases leave out the places
where lamina chooses the typed-struct reading of docker (``<nil>`` for a null, lists of strings
as ``[]string``, labels as ``map[string]string``), Go features newer than 1.19 (``else with``,
range over an int, typed comparison errors) and complex numbers; tests elsewhere cover those.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lamina.cli.format.table import tabwriter
from lamina.cli.format.template import Template, TemplateError

VECTORS = json.loads((Path(__file__).parent / "data" / "go_templates.json").read_text("utf-8"))


def _render(text: str, data: Any) -> tuple[str, str]:
    try:
        return Template(text).execute(data), ""
    except TemplateError as exc:
        return "", str(exc)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["template"][:40])
def test_template_like_go(case: dict[str, Any]) -> None:
    data = VECTORS["datasets"][case["data"]]
    assert _render(case["template"], data) == (case["output"], case["error"])


@pytest.mark.parametrize("case", VECTORS["tabwriter"], ids=range(len(VECTORS["tabwriter"])))
def test_tabwriter_like_go(case: dict[str, str]) -> None:
    assert tabwriter(case["input"]) == case["output"]
