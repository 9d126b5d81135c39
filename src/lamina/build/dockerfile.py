"""The Dockerfile parser: text -> a list of instruction nodes, as docker's parser reads it.

Pure: no I/O. The steps, in docker's order: parser directives at the very top (``# syntax=``,
``# escape=``, ``# check=``), until the first line that is not one; then, line by line,
comments dropped (also inside continued lines), the escape character at the end of a line
continuing it, empty continuation lines skipped, and each instruction split into its keyword,
its leading ``--flags`` and its arguments by the keyword's own rule (JSON or shell form,
``key=value`` pairs, white-space separated words). RUN, COPY and ADD may carry heredocs
(``<<EOF``, ``<<-EOF``, ``<<"EOF"``): their bodies are the lines that follow, up to the
delimiter. Every error names the line: ``dockerfile parse error on line 3: unknown
instruction: FRM``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from lamina.build.shell import expand_words
from lamina.errors import DockerfileError

INSTRUCTIONS = (
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
    "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
)  # fmt: skip
HEREDOC_INSTRUCTIONS = ("add", "copy", "run")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")


def parse_error(line: int, message: str) -> DockerfileError:
    return DockerfileError(f"dockerfile parse error on line {line}: {message}")


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str
    expand: bool  # the delimiter was not quoted
    chomp: bool  # <<- : leading tabs are stripped

    def text(self) -> str:
        if not self.chomp:
            return self.content
        return "".join(line.lstrip("\t") for line in self.content.splitlines(keepends=True))


@dataclass(frozen=True)
class Node:
    """One instruction as parsed: keyword (lower case), flags, arguments, lines."""

    keyword: str
    args: tuple[str, ...]
    flags: tuple[str, ...]
    original: str
    start_line: int
    end_line: int
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    sub: Node | None = None  # ONBUILD's trigger

    def error(self, message: str) -> DockerfileError:
        return parse_error(self.start_line, message)


@dataclass
class Dockerfile:
    nodes: list[Node]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Directives:
    def __init__(self) -> None:
        self.done = False
        self.seen: dict[str, str] = {}
        self.escape = "\\"

    def feed(self, line: str, number: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if match is None:
            self.done = True
            return
        key, value = match.group(1).lower(), match.group(2)
        if key not in _DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise parse_error(number, f"only one {key} parser directive can be used")
        self.seen[key] = value
        if key == "escape":
            if value not in ("\\", "`"):
                raise parse_error(number, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def parse(text: str) -> Dockerfile:
    """Parse a whole Dockerfile; raise DockerfileError naming the line of the first error."""
    lines = text.removeprefix("\ufeff").splitlines()
    directives = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        number = i
        directives.feed(raw, number)
        if _is_comment(raw):
            continue
        continued = _continuation(directives.escape)
        line, ended = _trim_continuation(raw.lstrip(" \t"), continued)
        if ended and not line.strip():
            continue
        empty_continuation = False
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            if _is_comment(raw):
                continue
            if not raw.strip():
                empty_continuation = True
                continue
            part, ended = _trim_continuation(raw, continued)
            line += part
        if empty_continuation:
            warnings.append(f"line {number}: empty continuation lines will become errors")
        node = _node(line, number, i, directives.escape)
        if node.keyword in HEREDOC_INSTRUCTIONS and "<<" in line:
            docs: list[Heredoc] = []
            for name, chomp, expand in _heredoc_names(node, directives.escape):
                body: list[str] = []
                for j in range(i, len(lines) + 1):
                    if j == len(lines):
                        raise parse_error(number, "unterminated heredoc")
                    candidate = lines[j].lstrip("\t") if chomp else lines[j]
                    if candidate == name:
                        i = j + 1
                        break
                    body.append(lines[j] + "\n")
                docs.append(Heredoc(name, "".join(body), expand, chomp))
            node = Node(node.keyword, node.args, node.flags, node.original, number, i,
                        node.json, tuple(docs), node.sub)
        nodes.append(node)
    return Dockerfile(nodes, directives.escape, dict(directives.seen), warnings)


def _continuation(escape: str) -> re.Pattern[str]:
    """The escape character ending a line continues it, unless it is itself escaped."""
    e = re.escape(escape)
    return re.compile(f"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _trim_continuation(line: str, continued: re.Pattern[str]) -> tuple[str, bool]:
    match = continued.search(line)
    if match is None:
        return line, True
    return line[: match.start()] + (match.group(1) or ""), False


def _node(line: str, start: int, end: int, escape: str) -> Node:
    stripped = line.strip()
    keyword, rest = _split_keyword(stripped)
    lower = keyword.lower()
    if lower not in INSTRUCTIONS:
        raise parse_error(start, f"unknown instruction: {keyword}")
    flags, rest = _extract_flags(rest, start)
    args, is_json, sub = _ARG_PARSERS[lower](rest, start, end, escape)
    return Node(lower, tuple(args), tuple(flags), stripped, start, end, is_json, (), sub)


def _split_keyword(line: str) -> tuple[str, str]:
    parts = re.split(r"\s+", line, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _extract_flags(rest: str, line: int) -> tuple[list[str], str]:
    """Leading ``--name[=value]`` words (quotes allowed in values); the rest is arguments."""
    flags: list[str] = []
    pos = 0
    n = len(rest)
    while True:
        while pos < n and rest[pos].isspace():
            pos += 1
        if not rest.startswith("--", pos):
            return flags, rest[pos:]
        word: list[str] = []
        quote = ""
        while pos < n:
            ch = rest[pos]
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch.isspace():
                break
            else:
                word.append(ch)
            pos += 1
        if quote:
            raise parse_error(line, "unmatched quote in flag")
        if "".join(word) == "--":
            return flags, rest[pos:].lstrip()
        flags.append("".join(word))


# --- argument rules, one per keyword (docker's dispatch table) -----------------------------

ArgResult = tuple[list[str], bool, "Node | None"]


def _maybe_json(rest: str, start: int = 0) -> list[str] | None:
    """The JSON (exec) form, or None for the shell form; a JSON array of other things than
    strings is an error, as in docker."""
    text = rest.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise parse_error(start, "when using JSON array syntax, arrays must be comprised of "
                                 "strings only")
    return value


def _parse_maybe_json(rest: str, start: int, end: int, escape: str) -> ArgResult:
    value = _maybe_json(rest, start)
    if value is not None:
        return value, True, None
    text = rest.strip()
    return ([text] if text else []), False, None


def _parse_maybe_json_to_list(rest: str, start: int, end: int, escape: str) -> ArgResult:
    value = _maybe_json(rest, start)
    if value is not None:
        return value, True, None
    return rest.split(), False, None


def _parse_words(rest: str, start: int, end: int, escape: str) -> ArgResult:
    return rest.split(), False, None


def _parse_string(rest: str, start: int, end: int, escape: str) -> ArgResult:
    text = rest.strip()
    return ([text] if text else []), False, None


def split_quoted(text: str, escape: str) -> list[str]:
    """docker's parseWords: white-space separated words, quotes and escapes kept as written.

    White space inside quotes, or after the escape character, does not split; inside single
    quotes the escape character is an ordinary one; an escape character ending the text is
    dropped; a quoted empty word (``""``) is a word.
    """
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    break
                word.append(ch)
                i += 1
                ch = text[i]
            word.append(ch)
        elif ch.isspace():
            if word or blank_ok:
                words.append("".join(word))
            word, blank_ok = [], False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == n:
                    break
                word.append(ch)
                i += 1
                ch = text[i]
            word.append(ch)
        i += 1
    if word or blank_ok:
        words.append("".join(word))
    return words


def _parse_pairs(keyword: str, rest: str, start: int, escape: str) -> list[str]:
    """``k=v k2="v 2"`` or the legacy ``k v w``; returns a flat [k, v, k, v, ...]."""
    words = split_quoted(rest, escape)
    if not words:
        raise parse_error(start, f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        # The legacy form: the first word is the name, all the rest (as written) its value.
        name = words[0]
        value = rest.strip()[len(name):].strip()
        if not value:
            if keyword == "LABEL":
                raise parse_error(start, "LABEL requires at least two arguments")
            raise parse_error(start, f"{keyword} must have two arguments")
        return [name, value]
    out: list[str] = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise parse_error(
                start,
                f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value",
            )
        if not name:
            raise parse_error(start, f"{keyword} names can not be blank")
        out += [name, value]
    return out


def _parse_env(rest: str, start: int, end: int, escape: str) -> ArgResult:
    return _parse_pairs("ENV", rest, start, escape), False, None


def _parse_label(rest: str, start: int, end: int, escape: str) -> ArgResult:
    return _parse_pairs("LABEL", rest, start, escape), False, None


def _parse_arg(rest: str, start: int, end: int, escape: str) -> ArgResult:
    return split_quoted(rest, escape), False, None


def _parse_onbuild(rest: str, start: int, end: int, escape: str) -> ArgResult:
    text = rest.strip()
    if not text:
        raise parse_error(start, "ONBUILD requires at least one argument")
    sub = _node(text, start, end, escape)
    if sub.keyword == "onbuild":
        raise parse_error(start, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if sub.keyword in ("from", "maintainer"):
        raise parse_error(start, f"{sub.keyword.upper()} isn't allowed as an ONBUILD trigger")
    return [text], False, sub


def _parse_healthcheck(rest: str, start: int, end: int, escape: str) -> ArgResult:
    """[type, command...]: the type as written (checked with the other arguments later)."""
    kind, cmd = _split_keyword(rest.strip())
    if not kind:
        return [], False, None
    value = _maybe_json(cmd, start)
    if value is not None:
        return [kind, *value], True, None
    return ([kind, cmd.strip()] if cmd.strip() else [kind]), False, None


_ARG_PARSERS = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_arg,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_env,
    "expose": _parse_words,
    "from": _parse_words,
    "healthcheck": _parse_healthcheck,
    "label": _parse_label,
    "maintainer": _parse_string,
    "onbuild": _parse_onbuild,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}


def _heredoc_names(node: Node, escape: str) -> list[tuple[str, bool, bool]]:
    """The heredocs a RUN/COPY/ADD line opens: (delimiter, chomp, expand), in order."""
    if node.json:
        return []
    found: list[tuple[str, bool, bool]] = []
    text = node.original.split(None, 1)[1] if " " in node.original else ""
    for word in split_quoted(text, escape):
        heredoc = parse_heredoc(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


def parse_heredoc(word: str) -> tuple[str, bool, bool] | None:
    """``<<EOF`` -> ("EOF", chomp, expand), or None if ``word`` opens no heredoc.

    The delimiter is one shell word, quotes removed; any quoting in it (``<<"EOF"``,
    ``<<'EOF'``, ``<<E"O"F``) means the body is taken as it is, without expansion.
    """
    match = _HEREDOC.match(word)
    if match is None or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = expand_words(rest, {})
    except DockerfileError:
        return None
    if len(words) != 1 or not words[0]:
        return None
    name = words[0]
    quotes = rest.count("'") + rest.count('"')
    return name, match.group(2) == "-", name.count("'") + name.count('"') == quotes
