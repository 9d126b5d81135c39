""".dockerignore, with docker's pattern rules."""

from __future__ import annotations

import pytest

from lamina.build.dockerignore import DockerIgnore


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp", False),
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("*/*/temp*", "somedir/temporary.txt", False),
    ("temp?", "tempa", True),
    ("temp?", "tempab", False),
    ("temp?", "temp/x", False),
    ("**/*.go", "a/b/c.go", True),
    ("**/*.go", "c.go", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**", "a/x/y", True),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
    ("node_modules", "node_modules/x/y.js", True),  # a matched directory hides its contents
    ("/node_modules", "node_modules/x", True),  # leading slash is dropped
    ("./build/../dist", "dist/a", True),  # patterns are cleaned
    ("# comment\n\n  secret  ", "secret", True),
    ("[a-c]x", "bx", True),
    ("[a-c]x", "dx", False),
    ("[!a-c]x", "dx", True),
    ("\\*x", "*x", True),
    ("\\*x", "ax", False),
    ("*", "anything/at/all", True),
    ("*\n!keep", "keep", False),
])
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert DockerIgnore.parse(patterns).excluded(path) is excluded


def test_empty_file_excludes_nothing() -> None:
    assert not DockerIgnore.parse("").excluded("x")
