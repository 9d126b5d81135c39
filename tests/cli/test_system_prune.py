"""system prune, builder prune and system df -v: what goes, what stays, and docker's words."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import Image, Run


def names(lamina: Run) -> set[str]:
    return set(lamina("ps", "-a", "--format", "{{.Names}}").out.split())


def refs(lamina: Run) -> set[str]:
    return set(lamina("images", "-a", "--format", "{{.Repository}}:{{.Tag}}").out.split())


def build(lamina: Run, tmp_path: Path, tag: str, *steps: str) -> str:
    """A build of COPY steps only (no container), on base:1; one cached image per step."""
    ctx = tmp_path / f"ctx-{tag.replace(':', '-')}"
    ctx.mkdir()
    for name in ("a", "b"):
        (ctx / name).write_text(name * 10)
    (ctx / "Dockerfile").write_text("FROM base:1\n" + "".join(f"{s}\n" for s in steps))
    result = lamina("build", "-q", "-t", tag, str(ctx))
    assert result.code == 0, result.err
    return result.out.strip()


def test_system_prune_removes_stopped_dangling_and_unused_cache(
        lamina: Run, image: Image, tmp_path: Path) -> None:
    image()
    assert lamina("run", "-d", "--name", "up", "busybox", "sleep", "60").code == 0
    assert lamina("create", "--name", "idle", "busybox", "true").code == 0
    dangling = lamina("commit", "idle").out.strip()
    result = lamina("system", "prune", "-f")
    assert result.code == 0, result.err
    idle_id = [line for line in result.out.splitlines() if re.fullmatch("[0-9a-f]{64}", line)]
    assert result.out == (f"Deleted Containers:\n{idle_id[0]}\n\n"
                          f"Deleted Images:\ndeleted: {dangling}\n\n"
                          f"{result.out.splitlines()[-1]}\n")
    assert result.out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert names(lamina) == {"up"}
    assert refs(lamina) == {"busybox:latest"}  # tagged, and used by a running container


def test_system_prune_all_keeps_images_containers_use(lamina: Run, image: Image) -> None:
    image()
    image("other:1")
    assert lamina("create", "--name", "user", "busybox", "true").code == 0
    assert lamina("tag", "other:1", "other:2").code == 0
    result = lamina("system", "prune", "-a", "-f")
    assert "untagged: other:1" in result.out and "untagged: other:2" in result.out
    assert "Deleted Containers:" in result.out
    # The stopped container went first, then every image no container uses: busybox too.
    assert refs(lamina) == set()
    assert names(lamina) == set()


def test_system_prune_filters(lamina: Run, image: Image) -> None:
    image()
    assert lamina("create", "--name", "keep", "-l", "keep=yes", "busybox", "true").code == 0
    assert lamina("create", "--name", "drop", "-l", "keep=no", "busybox", "true").code == 0
    assert lamina("system", "prune", "-f", "--filter", "label=keep=no").code == 0
    assert names(lamina) == {"keep"}
    assert lamina("system", "prune", "-f", "--filter", "until=1h").out == (
        "Total reclaimed space: 0B\n")
    assert names(lamina) == {"keep"}
    bad = lamina("system", "prune", "-f", "--volumes", "--filter", "until=1h")
    assert bad.code == 1
    assert bad.err == 'Error: The "until" filter is not supported with "--volumes"\n'
    assert names(lamina) == {"keep"} and refs(lamina) == {"busybox:latest"}


def test_system_prune_asks_first(lamina: Run, image: Image) -> None:
    image()
    assert lamina("create", "--name", "idle", "busybox", "true").code == 0
    declined = lamina("system", "prune", "-a", "--volumes", "--filter", "label=x",
                      stdin=b"n\n")
    assert declined.out == (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all anonymous volumes not used by at least one container\n"
        "  - all images without at least one container associated to them\n"
        "  - all build cache\n"
        "\n  Items to be pruned will be filtered with:\n"
        "  - label=x\n"
        "\nAre you sure you want to continue? [y/N] ")
    assert names(lamina) == {"idle"}
    assert lamina("system", "prune", stdin=b"y\n").code == 0
    assert names(lamina) == set()


def test_builder_prune(lamina: Run, load_image, tmp_path: Path) -> None:
    load_image(tags=["base:1"])
    first = build(lamina, tmp_path, "app:1", "COPY a /a", "COPY b /b")
    assert build(lamina, tmp_path, "app:1b", "COPY a /a", "COPY b /b") == first  # cached
    assert lamina("rmi", "app:1b").code == 0
    # Every entry is in use (the image's steps): nothing goes without -a.
    assert lamina("builder", "prune", "-f").out == "Total reclaimed space: 0B\n"
    assert "Build Cache     2         2" in lamina("system", "df").out
    # The image gone but its parent (step 1) kept, that entry is unused: it goes.
    assert lamina("rmi", "--no-prune", "app:1").code == 0
    result = lamina("builder", "prune", "-f")
    lines = result.out.splitlines()
    assert lines[0] == "Deleted build cache objects:" and len(lines) == 4
    assert lines[2] == "" and lines[3].startswith("Total reclaimed space: ")
    assert lines[3] != "Total reclaimed space: 0B"
    assert lamina("images", "-aq").out.split() == lamina("images", "-q", "base:1").out.split()
    # -a drops every entry, those in use too; their images stay while needed.
    again = build(lamina, tmp_path, "app:2", "COPY a /a", "COPY b /b")
    assert "Build Cache     2" in lamina("system", "df").out
    result = lamina("builder", "prune", "-a", "-f")
    assert result.out.startswith("Deleted build cache objects:\n")
    assert "Build Cache     0         0         0B" in lamina("system", "df").out
    assert lamina("images", "-q", "app:2").out.strip() == again[7:19]  # in use: it stays


def test_builder_prune_filters_and_prompt(lamina: Run, load_image, tmp_path: Path) -> None:
    load_image(tags=["base:1"])
    build(lamina, tmp_path, "app:1", "COPY a /a")
    assert lamina("builder", "prune", "-a", "-f", "--filter", "until=1h").out == (
        "Total reclaimed space: 0B\n")
    declined = lamina("builder", "prune", "-a", stdin=b"n\n")
    assert declined.out == ("WARNING! This will remove all build cache. Are you sure you want "
                            "to continue? [y/N] ")
    assert "Build Cache     1" in lamina("system", "df").out
    bad = lamina("builder", "prune", "-f", "--filter", "colour=red")
    assert bad.code == 1 and "invalid filter 'colour'" in bad.err


def test_system_df_verbose(lamina: Run, image: Image) -> None:
    image()
    assert lamina("run", "--name", "wrote", "busybox", "sh", "-c", "echo x > /f").code == 0
    out = lamina("system", "df", "-v").out
    sections = out.split("\n\n")
    assert sections[0] == "Images space usage:"
    assert re.match(r"REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+"
                    r"UNIQUE SIZE\s+CONTAINERS\nbusybox\s+latest\s+[0-9a-f]{12}\s+.+ago\s+"
                    r"\S+\s+0B\s+\S+\s+1$", sections[1]), sections[1]
    assert sections[2] == "Containers space usage:"
    assert re.search(r"\"sh -c 'echo x > /f'\"\s+0\s+2B\s+.*ago\s+Exited \(0\) .* wrote$",
                     sections[3]), sections[3]
    assert sections[4] == "Local Volumes space usage:"
    assert sections[5] == "VOLUME NAME   LINKS     SIZE"
    assert sections[6] == "Build cache usage: 0B"
    assert sections[7] == ("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     "
                           "SHARED\n")
