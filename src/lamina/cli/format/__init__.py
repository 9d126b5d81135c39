"""Output formatting shared by every command: Go templates, docker tables, units.

- :mod:`.template`: Go's text/template (``Template``, ``render``, ``TemplateError``), with
  docker's functions; parsing in :mod:`.lex`, :mod:`.parse`, :mod:`.nodes`, :mod:`.literals`,
  execution in :mod:`.executor` and :mod:`.funcs`;
- :mod:`.table`: docker's formatter (``format_rows``, ``tabwriter``, ``ellipsis``);
- :mod:`.units`: go-units sizes and durations, Go time formats, ``parse_bytes``;
- :mod:`.gofmt`, :mod:`.printf`, :mod:`.floatfmt`: Go's fmt and encoding/json views of Python
  values. A dict is a Go map; ``GoStruct`` a struct (ordered, missing fields are errors);
  ``GoMap`` a map that marshals sorted; ``NilList``/``NilMap`` nil slices and maps (``[]``
  printed, ``null`` marshalled); ``MISSING`` Go's invalid value (``<no value>``).

Everything here is standard library only and cheap to import.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded on first use, so that importing ``lamina.cli.format.units`` (as
# ``lamina images`` does) does not pay for the template engine.
_HOMES = {
    "MISSING": "gofmt", "GoMap": "gofmt", "GoStruct": "gofmt", "NilList": "gofmt",
    "NilMap": "gofmt", "marshal_json": "gofmt", "quote": "gofmt",
    "HeaderContext": "table", "ellipsis": "table", "format_rows": "table",
    "tabwriter": "table", "truncate_id": "table",
    "Template": "template", "TemplateError": "template", "compile_template": "template",
    "render": "template",
    "binary_size": "units", "format_created_at": "units", "format_rfc3339": "units",
    "format_rfc3339nano": "units", "human_duration": "units", "human_size": "units",
    "parse_bytes": "units", "parse_human_size": "units", "parse_rfc3339": "units",
    "time_ago": "units",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "MISSING",
    "GoMap",
    "GoStruct",
    "HeaderContext",
    "NilList",
    "NilMap",
    "Template",
    "TemplateError",
    "binary_size",
    "compile_template",
    "ellipsis",
    "format_created_at",
    "format_rfc3339",
    "format_rfc3339nano",
    "format_rows",
    "human_duration",
    "human_size",
    "marshal_json",
    "parse_bytes",
    "parse_human_size",
    "parse_rfc3339",
    "quote",
    "render",
    "tabwriter",
    "time_ago",
    "truncate_id",
]
