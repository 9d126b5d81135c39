"""Variable substitution in Dockerfile words, as docker's shell lexer does it.

Only the instructions docker expands use this (FROM, COPY, ADD, ENV, LABEL, ARG, EXPOSE,
VOLUME, USER, WORKDIR, STOPSIGNAL, ONBUILD's triggers when they run); RUN and the shell forms
of CMD and ENTRYPOINT are left to the shell in the container.

The rules: ``'...'`` is literal; ``"..."`` expands ``$`` and lets the escape character escape
only ``"``, ``$`` and itself; outside quotes the escape character makes the next character
literal. ``$NAME``, ``${NAME}``, ``${NAME:-word}``, ``${NAME-word}``, ``${NAME:+word}``,
``${NAME+word}``, ``${NAME:?msg}``, ``${NAME?msg}``, ``${NAME#pat}``, ``${NAME##pat}``,
``${NAME%pat}``, ``${NAME%%pat}`` and ``${NAME/pat/repl}`` (``//`` for all). An unset name
expands to nothing; ``$`` not followed by a name stays ``$``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from lamina.errors import DockerfileError

_EOF = ""
_SPECIAL = "@*#?-$!0"


class _Words:
    """Word splitting of ProcessWords: unquoted white space ends a word."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.word += ch
            self.in_word = True

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.in_word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, raw: bool) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        # Raw (heredoc bodies): quotes are ordinary characters, escapes are kept as written.
        self.raw = raw
        self.used: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process(self, stop: str = _EOF) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.result()
            if ch == "'" and not self.raw:
                tmp = self.single_quote()
                result.append(tmp)
                words.add_raw(tmp)
            elif ch == '"' and not self.raw:
                tmp = self.double_quote()
                result.append(tmp)
                words.add_raw(tmp)
            elif ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
            else:
                ch = self.next()
                if ch == self.escape:
                    if self.raw:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise DockerfileError(
                f"unexpected end of statement while looking for matching {stop}"
            )
        return "".join(result), words.result()

    def single_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise DockerfileError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise DockerfileError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: list[str] = []
        while (ch := self.peek()) != _EOF:
            if not out and ch.isdigit():
                while self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL:
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def lookup(self, name: str) -> str | None:
        self.used.add(name)
        return self.env.get(name)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            return self.lookup(name) or ""
        self.next()
        if self.peek() == _EOF:
            raise DockerfileError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise DockerfileError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        value = self.lookup(name)
        if ch == "}":
            return value or ""
        if ch == _EOF:
            raise DockerfileError("syntax error: missing '}'")
        if ch == ":":
            modifier = self.next()
            word, _ = self.process("}")
            current = value or ""
            if modifier == "+":
                return word if current else ""
            if modifier == "-":
                return current or word
            if modifier == "?":
                if not current:
                    raise DockerfileError(f"{name}: {word or 'is not allowed to be empty'}")
                return current
            raise DockerfileError(f"unsupported modifier ({modifier}) in substitution")
        if ch in "+-?":
            word, _ = self.process("}")
            if ch == "+":
                return word if value is not None else ""
            if ch == "-":
                return value if value is not None else word
            if value is None:
                raise DockerfileError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in "#%":
            longest = self.peek() == ch
            if longest:
                self.next()
            pattern, _ = self.process("}")
            return _trim(value or "", pattern, prefix=ch == "#", longest=longest)
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            pattern, _ = self.process("/")
            replacement, _ = self.process("}")
            return _replace(value or "", pattern, replacement, replace_all)
        raise DockerfileError(f"unsupported modifier ({ch}) in substitution")


def _glob(pattern: str) -> re.Pattern[str]:
    """A shell pattern (``*``, ``?``, ``[...]``, ``\\`` escapes) as a regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch in "*?[":
            end = i + 1
            if ch == "[":
                end = pattern.find("]", i + 2)
                if end < 0:
                    out.append(re.escape(ch))
                    i += 1
                    continue
                end += 1
            out.append(fnmatch.translate(pattern[i:end]).removeprefix("(?s:")
                       .removesuffix(")\\Z"))
            i = end
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    rx = _glob(pattern)
    cuts = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for n in cuts:
        part = value[:n] if prefix else value[len(value) - n:]
        if rx.fullmatch(part):
            return value[n:] if prefix else value[: len(value) - n]
    return value


def _replace(value: str, pattern: str, replacement: str, replace_all: bool) -> str:
    rx = _glob(pattern)
    out = rx.sub(lambda _: replacement, value, count=0 if replace_all else 1)
    return out


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with quotes removed and variables expanded (docker's ProcessWord)."""
    return _Lexer(word, env, escape, False).process()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand and split on unquoted white space (docker's ProcessWords)."""
    return _Lexer(text, env, escape, False).process()[1]


def expand_heredoc(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """A heredoc body: variables expanded, quotes kept as they are."""
    return _Lexer(text, env, escape, True).process()[0]


def names_used(text: str, env: Mapping[str, str], escape: str = "\\") -> set[str]:
    """The variable names ``text`` refers to (to tell which build args a step depends on)."""
    lexer = _Lexer(text, env, escape, False)
    try:
        lexer.process()
    except DockerfileError:
        return set()
    return lexer.used
