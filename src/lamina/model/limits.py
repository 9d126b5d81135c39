"""How far a layer may expand when it is unpacked: the bounds on decompression bombs.

A gzip or zstd layer of a few megabytes can inflate to gigabytes of zeros, or to millions of
empty entries, and the store would write them all before the diff_id check could refuse
them. ``LayerLimits`` stops such a layer while it unpacks, once it passes any one bound; the
defaults sit far above real images (see the README's "Limits" for each, and how to set them
in ``config.toml``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lamina.errors import InvalidArgument

GiB = 1024**3
MiB = 1024**2


class LayerLimits(NamedTuple):
    """``max_size``: uncompressed bytes of one layer. ``max_ratio``: how many times its
    compressed size a layer may expand to, checked once it is past ``ratio_after`` bytes
    uncompressed (small layers of zeros are legitimate); 0 turns it off. ``max_entries``:
    tar entries of one layer."""

    max_size: int = 64 * GiB
    max_ratio: int = 200
    ratio_after: int = 256 * MiB
    max_entries: int = 5_000_000

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> LayerLimits:
        """From the ``[layers]`` table of ``config.toml`` (keys as the fields' names)."""
        unknown = set(table) - set(cls._fields)
        if unknown:
            raise InvalidArgument(f"config.toml [layers]: unknown key {sorted(unknown)[0]!r}")
        values = {}
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(f"config.toml [layers] {key}: {value!r} is not a "
                                      "number of 0 or more")
            values[key] = value
        return cls(**values)
