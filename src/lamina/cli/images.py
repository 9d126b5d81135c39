"""``lamina images`` / ``lamina image ls``: docker's table of local images."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.context import emit, filter_option, format_option, pass_engine, short_id
from lamina.cli.format.units import format_created_at, human_size, human_size4, time_ago
from lamina.engine import Engine
from lamina.engine.views import ImageRow
from lamina.errors import InvalidArgument

HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "SIZE",
}
DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DEFAULT_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


def image_fields(row: ImageRow, no_trunc: bool) -> dict[str, Any]:
    return {
        "Containers": "N/A",  # docker's list does not count them (system df -v does)
        "CreatedAt": format_created_at(row.created),
        "CreatedSince": time_ago(row.created) if row.created else "N/A",
        "Digest": row.digest,
        "ID": short_id(row.id, no_trunc),
        "Repository": row.repository,
        "SharedSize": "N/A",
        "Size": human_size(row.size),
        "Tag": row.tag,
        "UniqueSize": "N/A",
        "VirtualSize": human_size4(row.size),
    }


@click.command("images")
@click.argument("reference", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)")
@click.option("--digests", is_flag=True, help="Show digests")
@filter_option
@format_option
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--tree", is_flag=True, help="List multi-platform images as a tree")
@pass_engine
def images(engine: Engine, reference: str | None, all_: bool, digests: bool,
           filters: tuple[str, ...], fmt: str | None, no_trunc: bool, quiet: bool,
           tree: bool) -> None:
    """List images"""
    if tree:
        # docker refuses the flags the tree has no room for, and so does lamina.
        for flag, given in (("--quiet", quiet), ("--digests", digests), ("--format", fmt),
                            ("--no-trunc", no_trunc), ("--filter", filters),
                            ("REPOSITORY[:TAG]", reference)):
            if given:
                raise InvalidArgument(f"{flag} is not yet supported with --tree")
        from lamina.cli.images_tree import tree as show_tree

        show_tree(engine, all_)
        return
    if reference:
        filters = (*filters, f"reference={reference}")
    # One row per repo digest with --digests (or a format that shows them).
    rows = engine.images(all=all_, filters=filters,
                         digests=digests or (fmt is not None and ".Digest" in fmt))
    if quiet:
        for row in rows:  # one line per row, as docker's: an image with two tags twice
            click.echo(short_id(row.id, no_trunc))
        return
    if fmt is None or fmt == "table":
        fmt = DEFAULT_DIGESTS if digests else DEFAULT
    emit(fmt, [image_fields(r, no_trunc) for r in rows], HEADERS)
