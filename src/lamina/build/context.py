"""The build context: the directory COPY and ADD take their sources from.

Sources are paths relative to the context's root. A path that climbs out of it (``../x``) is
refused; symlinks among the sources are resolved inside the context, as if it were the root
(so they cannot lead out either). ``.dockerignore`` hides paths from COPY and ADD. Wildcards
(``*``, ``?``, ``[...]``) match per path component, as Go's ``filepath.Match`` does.

``checksum`` is what the build cache compares for COPY and ADD: the paths, types, modes, link
targets and contents of every source file (not their times or owners, as docker's cache).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from lamina.build.dockerignore import DockerIgnore
from lamina.build.rootfs import Entry, MergedTree, Parts
from lamina.errors import BuildError, InvalidArgument
from lamina.image.layer import clean_path

_WILDCARDS = "*?["


def has_wildcards(path: str) -> bool:
    return any(ch in path for ch in _WILDCARDS)


def context_parts(path: str, keyword: str = "COPY") -> Parts:
    """The components of a source path in the context; refuse any that climbs out."""
    try:
        return clean_path(path, what="source")
    except InvalidArgument:
        raise BuildError(f"{keyword} failed: forbidden path outside the build context: "
                         f"{path}") from None


class BuildContext:
    """Where COPY and ADD sources come from: the build context, or another stage's rootfs."""

    def __init__(self, tree: MergedTree, ignore: DockerIgnore | None = None) -> None:
        self.tree = tree
        self.ignore = ignore or DockerIgnore([])

    @classmethod
    def directory(cls, root: Path, dockerfile: Path | None = None) -> BuildContext:
        """A context directory, with its ignore file: ``<Dockerfile>.dockerignore`` beside the
        Dockerfile if there is one (as BuildKit), else the context's ``.dockerignore``."""
        candidates = [root / ".dockerignore"]
        if dockerfile is not None:
            candidates.insert(0, dockerfile.with_name(dockerfile.name + ".dockerignore"))
        text = ""
        for candidate in candidates:
            try:
                text = candidate.read_text()
                break
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        return cls(MergedTree([root], whiteouts=False), DockerIgnore.parse(text))

    def included(self, parts: Parts) -> bool:
        return not self.ignore.excluded("/".join(parts))

    def sources(self, path: str, keyword: str = "COPY") -> list[tuple[str, Entry]]:
        """(name, entry) of each source ``path`` names (several for a wildcard); the name is
        the last component as named, before symlinks are followed. None found is an error."""
        parts = context_parts(path, keyword)
        found: list[tuple[str, Entry]] = []
        matches = self._glob(parts) if any(has_wildcards(p) for p in parts) else [parts]
        for match in matches:
            entry = self._follow(match)
            if entry is not None:
                found.append((match[-1] if match else "", entry))
        if not found:
            raise BuildError(
                f"{keyword} failed: file not found in build context or excluded by "
                f".dockerignore: stat {path}: file does not exist"
            )
        return found

    def _follow(self, parts: Parts) -> Entry | None:
        if parts and not self.included(parts):
            return None
        resolved = self.tree.resolve(parts)
        if resolved and not self.included(resolved):
            return None
        return self.tree.lstat(resolved)

    def _glob(self, pattern: Parts) -> list[Parts]:
        matches: list[Parts] = [()]
        for component in pattern:
            nxt: list[Parts] = []
            for base in matches:
                if not has_wildcards(component):
                    candidate = (*base, component)
                    if self.tree.lstat(candidate) is not None:
                        nxt.append(candidate)
                    continue
                entry = self.tree.lstat(base) if base else None
                if base and (entry is None or not entry.is_dir):
                    continue
                for name in self.tree.listdir(base):
                    if fnmatch.fnmatchcase(name, component) and self.included((*base, name)):
                        nxt.append((*base, name))
            matches = nxt
        return sorted(matches)

    def checksum(self, entries: Iterable[Entry]) -> str:
        """A digest of the sources as COPY sees them (ignored files left out)."""
        h = hashlib.sha256()
        for entry in entries:
            h.update(b"\x00src\x00" + "/".join(entry.parts).encode("utf-8", "surrogateescape"))
            self._hash(entry, h)
        return h.hexdigest()

    def _hash(self, entry: Entry, h: hashlib._Hash) -> None:
        st = entry.st
        h.update(f"\x00{'/'.join(entry.parts)}\x00{st.st_mode:o}\x00".encode(
            "utf-8", "surrogateescape"))
        if stat.S_ISREG(st.st_mode):
            h.update(str(st.st_size).encode())
            fd = self.tree.open_file(entry)
            try:
                while data := os.read(fd, 1 << 20):
                    h.update(data)
            finally:
                os.close(fd)
        elif stat.S_ISLNK(st.st_mode):
            h.update(os.fsencode(self.tree.readlink(entry)))
        elif stat.S_ISDIR(st.st_mode):
            for name in self.tree.listdir(entry.parts):
                child = (*entry.parts, name)
                sub = self.tree.lstat(child)
                if sub is None:
                    continue
                if self.included(child) or (sub.is_dir and self.ignore.has_exceptions):
                    self._hash(sub, h)
        else:
            h.update(str(st.st_rdev).encode())
