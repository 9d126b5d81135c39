"""Named volumes: directories under ``<root>/volumes``, laid out as docker's ``local`` driver.

``volumes/<name>/opts.json`` holds the volume's driver, labels, options and creation time;
``volumes/<name>/_data`` is its content (its mountpoint). With ``--opt o=bind,device=PATH``
the mountpoint is PATH; with ``--opt type=tmpfs`` a tmpfs is mounted in each container that
uses it (docker's ``local`` driver mounts it once; a tmpfs holds nothing between uses either
way). The files are the record: nothing here touches the store's database, so the container
monitor (which must not open it) can remove a ``--rm`` container's anonymous volumes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from lamina.errors import Conflict, InvalidArgument, NotFound

# docker's rule for local volume names (moby volume/local: volumeNameRegex)
NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
KNOWN_OPTIONS = ("type", "device", "o", "size")


class Volume(NamedTuple):
    name: str
    driver: str
    mountpoint: str
    created: float
    labels: Mapping[str, str]
    options: Mapping[str, str]

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def tmpfs(self) -> bool:
        return self.options.get("type") == "tmpfs"

    def inspect(self) -> dict[str, Any]:
        from lamina.model.units import format_rfc3339nano

        created = format_rfc3339nano(self.created).split(".")[0] + "Z"
        return {"CreatedAt": created, "Driver": self.driver, "Labels": dict(self.labels),
                "Mountpoint": self.mountpoint, "Name": self.name,
                "Options": dict(self.options) or None, "Scope": "local"}


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path")
    return name


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.dir = root / "volumes"

    def _path(self, name: str) -> Path:
        return self.dir / check_name(name)

    def get(self, name: str) -> Volume:
        if not NAME.fullmatch(name):
            raise NotFound(f"get {name}: no such volume")
        path = self.dir / name
        try:
            meta = json.loads((path / "opts.json").read_text())
        except (OSError, ValueError):
            raise NotFound(f"get {name}: no such volume") from None
        options = meta.get("Options") or {}
        mountpoint = str(path / "_data")
        if "bind" in options.get("o", "").split(",") and options.get("device"):
            mountpoint = options["device"]
        return Volume(name, meta.get("Driver", "local"), mountpoint, meta.get("CreatedAt", 0.0),
                      meta.get("Labels") or {}, options)

    def exists(self, name: str) -> bool:
        return (self.dir / name / "opts.json").is_file()

    def create(self, name: str | None = None, *, driver: str = "local",
               labels: Mapping[str, str] | None = None,
               options: Mapping[str, str] | None = None) -> Volume:
        """Make a volume; an existing one of that name is returned as it is (as docker)."""
        if driver != "local":
            raise NotFound(f'create {name or ""}: error looking up volume plugin {driver}: '
                           "plugin \"" + driver + "\" not found")
        options = dict(options or {})
        for key in options:
            if key not in KNOWN_OPTIONS:
                raise InvalidArgument(f"create {name or ''}: invalid option key: {key!r}")
        if options.get("o") and "bind" in options["o"].split(",") and not options.get("device"):
            raise InvalidArgument(f"create {name or ''}: missing required option: \"device\"")
        anonymous = name is None
        name = check_name(os.urandom(32).hex() if name is None else name)
        if self.exists(name):
            return self.get(name)
        labels = dict(labels or {})
        if anonymous:
            labels[ANONYMOUS_LABEL] = ""
        self.dir.mkdir(mode=0o701, parents=True, exist_ok=True)
        path = self.dir / name
        with suppress(FileExistsError):
            path.mkdir(mode=0o701)
        (path / "_data").mkdir(mode=0o755, exist_ok=True)
        meta = {"Driver": driver, "Labels": labels, "Options": options, "CreatedAt": time.time()}
        tmp = path / f".opts.{os.getpid()}"
        tmp.write_text(json.dumps(meta))
        # link, not rename: two commands making the same volume at once keep the first's
        try:
            os.link(tmp, path / "opts.json")
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return self.get(name)

    def all(self) -> list[Volume]:
        out = []
        with suppress(FileNotFoundError):
            for entry in sorted(os.listdir(self.dir)):
                with suppress(NotFound):
                    out.append(self.get(entry))
        return out

    def remove(self, name: str) -> None:
        from lamina.store.scratch import remove_tree

        volume = self.get(name)
        path = self.dir / volume.name
        # the record goes first: a half-removed volume is no longer listed
        (path / "opts.json").unlink(missing_ok=True)
        remove_tree(path)

    def size(self, volume: Volume) -> int:
        from lamina.store.snapshots import disk_usage

        if volume.tmpfs or volume.mountpoint != str(self.dir / volume.name / "_data"):
            return 0  # docker counts only what the driver keeps
        try:
            return disk_usage(Path(volume.mountpoint))
        except OSError:
            return 0


def in_use_error(name: str, users: list[str]) -> Conflict:
    return Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
