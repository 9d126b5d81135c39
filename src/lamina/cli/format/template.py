"""Go text/template for docker's ``--format``: parse once, execute over Python data.

>>> render("{{range $i, $t := .Tags}}{{if $i}}, {{end}}{{upper $t}}{{end}}", {"Tags": ["a", "b"]})
'A, B'

Data is seen as Go sees it (see :mod:`lamina.cli.format.gofmt`): dicts are maps, whose missing
keys render ``<no value>`` (or fail, with ``missing_key="error"``, as ``docker inspect`` does),
:class:`GoStruct` and dataclasses are structs, other objects expose attributes as fields and
methods as methods. Errors are :class:`TemplateError`, worded as docker prints them.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from lamina.cli.format import parse as p
from lamina.cli.format.executor import ExecError, State
from lamina.cli.format.funcs import FUNCS, FUNCS_FOR_HEADERS
from lamina.cli.format.gofmt import MISSING, GoStruct
from lamina.errors import InvalidArgument

__all__ = ["MISSING", "GoStruct", "Template", "TemplateError", "compile_template", "render"]

PREFIX = "template parsing error: "


class TemplateError(InvalidArgument):
    """A template that does not parse or fails to execute.

    ``str(err)`` is what docker prints (``template parsing error: template: :1: ...``);
    ``go_message`` is Go's own error text, without docker's prefix.
    """

    def __init__(self, go_message: str) -> None:
        super().__init__(PREFIX + go_message)
        self.go_message = go_message


class Template:
    """A parsed template. ``missing_key`` is Go's option: ``"default"`` or ``"error"``."""

    def __init__(self, text: str, *, missing_key: str = "default") -> None:
        if missing_key not in ("default", "invalid", "error"):
            raise InvalidArgument(f'unrecognized option "missingkey={missing_key}"')
        self.text = text
        self.missing_error = missing_key == "error"
        try:
            self.root, self.trees = p.parse(text, FUNCS)
        except p.ParseError as exc:
            raise TemplateError(f"template: :{exc.line}: {exc.message}") from None

    def execute(self, data: Any, *, header: bool = False) -> str:
        """Render ``data``; ``header`` uses docker's header functions (for table headers)."""
        state = State(self.text, self.missing_error, FUNCS_FOR_HEADERS if header else FUNCS,
                      data, self.trees)
        try:
            state.walk(state.vars[0][1], self.root)
        except ExecError as exc:
            raise TemplateError(str(exc)) from None
        return "".join(state.out)

    def execute_partial(self, data: Any, *, header: bool = False) -> str:
        """Render, keeping what was written before an error, as Go's Execute leaves it."""
        state = State(self.text, self.missing_error, FUNCS_FOR_HEADERS if header else FUNCS,
                      data, self.trees)
        # docker ignores errors in table headers and prints what was written.
        with contextlib.suppress(ExecError):
            state.walk(state.vars[0][1], self.root)
        return "".join(state.out)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


@functools.lru_cache(maxsize=256)
def compile_template(text: str, missing_key: str = "default") -> Template:
    """A parsed template, cached by text."""
    return Template(text, missing_key=missing_key)


def render(text: str, data: Any, *, missing_key: str = "default") -> str:
    """Parse (cached) and execute a template over ``data``."""
    return compile_template(text, missing_key).execute(data)
