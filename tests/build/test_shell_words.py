"""Variable substitution, as docker's shell lexer does it."""

from __future__ import annotations

import pytest

from lamina.build.shell import expand, expand_heredoc, expand_words
from lamina.errors import DockerfileError

ENV = {"A": "a", "B": "x y", "EMPTY": "", "PATH": "/usr/bin:/bin", "FILE": "archive.tar.gz"}


@pytest.mark.parametrize(("word", "expected"), [
    ("$A", "a"),
    ("${A}", "a"),
    ("${A}b", "ab"),
    ("$Ab", ""),  # the name is "Ab"
    ("pre-$A-post", "pre-a-post"),
    ("$UNSET", ""),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${UNSET-default}", "default"),
    ("${A:-default}", "a"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$A}", "a"),
    ("${UNSET:-${A}b}", "ab"),
    ("'$A'", "$A"),
    ('"$A"', "a"),
    ('"${A} and \\$A"', "a and $A"),
    ("\\$A", "$A"),
    ("a\\ b", "a b"),
    ('"a\\nb"', "a\\nb"),  # inside double quotes only \" \$ \\ are escapes
    ("$", "$"),
    ("$ a", "$ a"),
    ("${FILE%.gz}", "archive.tar"),
    ("${FILE%%.*}", "archive"),
    ("${FILE#*.}", "tar.gz"),
    ("${FILE##*.}", "gz"),
    ("${B/ /_}", "x_y"),
    ("${PATH//\\//:}", ":usr:bin::bin"),
    ("$1", ""),
    ("it''s", "its"),
    ("${UNSET:-\\$A:}x", "$A:x"),  # escapes work inside a modifier's word
    ("${UNSET:-\\${A}z}x", "${Az}x"),  # ... and the first "}" ends it
    ("\\${}", "${}"),
    ("a\\\\", "a\\"),
    ('""', ""),
])
def test_expand(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


def test_backtick_escape() -> None:
    assert expand("a` b`$A", ENV, "`") == "a b$A"
    assert expand("c:\\dir", ENV, "`") == "c:\\dir"


@pytest.mark.parametrize(("word", "message"), [
    ("${A", "missing '}'"),
    ("${", "missing '}'"),
    ("${}", "bad substitution"),
    ("${:-x}", "bad substitution"),
    ("'abc", "matching single-quote"),
    ('"abc', "matching double-quote"),
    ("${UNSET:?must be set}", "UNSET: must be set"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${A!x}", r"unsupported modifier \(!\) in substitution"),
])
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        expand(word, ENV)


def test_words_split_on_unquoted_space_and_expanded_values() -> None:
    assert expand_words('$B "c d" e\\ f \'\'', ENV) == ["x", "y", "c d", "e f", ""]
    env = {"lead": "  ab c", "trail": "ab c   "}
    assert expand_words("x${lead}y", env) == ["x", "ab", "cy"]
    assert expand_words('x"${lead}" y', env) == ["x  ab c", "y"]
    assert expand_words("x${trail}y", env) == ["xab", "c", "y"]


def test_heredoc_keeps_quotes_and_escapes() -> None:
    assert expand_heredoc("echo \"$A\" '$A' \\n\n", ENV) == "echo \"a\" 'a' \\n\n"
