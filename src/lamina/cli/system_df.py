"""``lamina system df -v``: docker's verbose disk usage, one table per kind."""

from __future__ import annotations

import time
from typing import Any

import click

from lamina.cli.context import emit, short_id
from lamina.cli.format.units import human_size, human_size4, time_ago
from lamina.engine import Engine

IMAGES = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t"
          "{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")
IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE",
                 "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}
CONTAINERS = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t"
              "{{.RunningFor}}\t{{.Status}}\t{{.Names}}")
CONTAINER_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                     "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
                     "Status": "STATUS", "Names": "NAMES"}
VOLUMES = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
CACHE = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t"
         "{{.UsageCount}}\t{{.Shared}}")
CACHE_HEADERS = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
                 "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                 "UsageCount": "USAGE", "Shared": "SHARED"}


def verbose_df(engine: Engine, fmt: str | None) -> None:
    from lamina.cli.ps import row_fields

    now = time.time()
    images: list[dict[str, Any]] = [{
        "Repository": u.repository, "Tag": u.tag, "ID": short_id(u.id, False),
        "CreatedSince": time_ago(u.created, now) if u.created else "N/A",
        "Size": human_size(u.size), "SharedSize": human_size4(u.shared),
        "UniqueSize": human_size4(u.size - u.shared), "Containers": str(u.containers),
    } for u in engine.image_usage()]
    containers = []
    for row in engine.containers(all=True, size=True):
        fields = row_fields(row, False, now)
        fields["Size"] = human_size(row.size_rw or 0)
        containers.append(fields)
    cache = engine.build_cache()
    cache_rows = [{
        "ID": e.key[:12], "CacheType": "regular", "Size": human_size(e.size),
        "CreatedSince": time_ago(e.created, now), "LastUsedSince": time_ago(e.created, now),
        "UsageCount": "1", "Shared": "true" if e.in_use else "false",
    } for e in cache]
    if fmt is not None and fmt != "table":
        emit(fmt, images + containers + cache_rows, {})
        return
    click.echo("Images space usage:\n")
    _table(IMAGES, images, IMAGE_HEADERS)
    click.echo("\nContainers space usage:\n")
    _table(CONTAINERS, containers, CONTAINER_HEADERS)
    click.echo("\nLocal Volumes space usage:\n")
    _table(VOLUMES, [{"Name": v.name, "Links": str(links), "Size": human_size(size)}
                     for v, links, size in engine.volume_usage()], VOLUME_HEADERS)
    click.echo(f"\nBuild cache usage: {human_size(sum(e.size for e in cache))}\n")
    _table(CACHE, cache_rows, CACHE_HEADERS)


def _table(fmt: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
    emit(fmt, rows, headers)
