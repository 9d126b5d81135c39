"""docker's units for the CLI's formatting: they live in ``lamina.model.units`` (the engine
needs them too, and must not import the CLI); this module keeps the format package's name."""

from lamina.model.units import (
    binary_size,
    format_created_at,
    format_rfc3339,
    format_rfc3339nano,
    human_duration,
    human_size,
    human_size4,
    human_size_precision,
    parse_bytes,
    parse_human_size,
    parse_rfc3339,
    time_ago,
)

__all__ = [
    "binary_size",
    "format_created_at",
    "format_rfc3339",
    "format_rfc3339nano",
    "human_duration",
    "human_size",
    "human_size4",
    "human_size_precision",
    "parse_bytes",
    "parse_human_size",
    "parse_rfc3339",
    "time_ago",
]
