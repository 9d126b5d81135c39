"""``.dockerignore``: which files of the build context COPY and ADD may not see.

docker's rules: one pattern per line; ``#`` starts a comment line; each pattern is cleaned
(``filepath.Clean``) and a leading ``/`` dropped; ``*`` matches any run of characters but
``/``, ``?`` one character but ``/``, ``**`` any number of directories, ``[...]`` a class,
``\\`` escapes; ``!`` makes an exception. The last pattern that matches a path decides, and a
pattern that matches a directory matches everything below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.errors import InvalidArgument


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]

    def match(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None


def _clean(path: str) -> str:
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    return ("/" + cleaned) if rooted else (cleaned or ".")


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                while i + 1 < n and pattern[i + 1] == "*":
                    i += 1
                if i + 1 >= n:
                    out.append(".*")
                elif pattern[i + 1] == "/":
                    out.append("(.*/)?")
                    i += 1
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape(ch))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"syntax error in .dockerignore pattern {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class DockerIgnore:
    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns
        self.has_exceptions = any(p.exclusion for p in patterns)

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns: list[Pattern] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            if not line:
                raise InvalidArgument("illegal exclusion pattern: \"!\"")
            line = _clean(line).lstrip("/")
            if not line or line == ".":
                continue
            patterns.append(Pattern(line, exclusion, _compile(line)))
        return cls(patterns)

    def excluded(self, path: str) -> bool:
        """Whether the context path ``a/b/c`` (relative, cleaned) is ignored."""
        if not self.patterns:
            return False
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            hit = pattern.match(path)
            if not hit and parents:
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched
