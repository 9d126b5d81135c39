"""``lamina image ls --tree``: docker 28's tree of images and their platform manifests.

Each image shows its names, then its ID, disk usage (unpacked), content size (the compressed
blobs) and ``U`` when a container uses it; under it, one line per platform manifest kept (a
lamina image is one platform: the manifest it was stored as). Columns as docker lays them out:
IMAGE fitted to its longest value within an 80-column budget, the others fixed, three spaces
apart; untagged images only with ``-a``.
"""

from __future__ import annotations

import click

from lamina.cli.format.units import human_size
from lamina.engine import Engine
from lamina.engine.system import TreeImage

SPACING = 3
WIDTH = 80  # docker's budget when not on a terminal
# (title, width, align) after the IMAGE column: l(eft), r(ight), c(enter)
COLUMNS = (("ID", 12, "l"), ("DISK USAGE", 10, "r"), ("CONTENT SIZE", 12, "r"),
           ("EXTRA", 4, "c"))


def _cell(text: str, width: int, align: str) -> str:
    if len(text) > width:
        return text[:width - 3] + "..." if width > 3 else text[:width]
    fill = width - len(text)
    if align == "r":
        return " " * fill + text
    if align == "c":
        return " " * (fill // 2) + text + " " * (fill - fill // 2)
    return text + " " * fill


def _details(values: tuple[str, str, str, str]) -> str:
    return "".join(" " * SPACING + _cell(v, w, a) for v, (_, w, a) in zip(values, COLUMNS,
                                                                         strict=True))


def render(images: list[TreeImage]) -> str:
    budget = WIDTH - sum(w + SPACING for _, w, _ in COLUMNS)
    widest = max([len("IMAGE")] + [len(n) for i in images for n in i.names]
                 + [len(i.platform) + 3 for i in images])
    name_width = min(budget, widest)
    lines = [_cell("IMAGE", name_width, "l") + "".join(
        " " * SPACING + (title if len(title) > w else _cell(title, w, a))
        for title, w, a in COLUMNS)]
    for n, image in enumerate(images):
        if n:
            lines.append("")
        for name in image.names[:-1]:
            lines.append(_cell(name, name_width, "l"))
        used = "U" if image.used else " "
        lines.append(_cell(image.names[-1], name_width, "l") + _details(
            (image.id.partition(":")[2][:12], human_size(image.disk_usage),
             human_size(image.content_size), used)))
        lines.append(_cell("└─ " + image.platform, name_width, "l") + _details(
            (image.manifest.partition(":")[2][:12], human_size(image.disk_usage),
             human_size(image.content_size), used)))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def tree(engine: Engine, all_: bool) -> None:
    click.echo(render(engine.image_tree(all=all_)), nl=False)
