"""``clean_name``, the one-string form of ``clean_path`` the extractor looks directories up
by, agrees with it on every name: kept, cleaned or refused alike."""

from __future__ import annotations

import itertools

import pytest

from lamina.errors import InvalidArgument
from lamina.image.layer import clean_name, clean_path

PIECES = ("a", ".", "..", "", ".b", "c.", "...", ".wh.x")


def _names() -> list[str]:
    names = []
    for count in range(1, 5):
        for combo in itertools.product(PIECES, repeat=count):
            for lead in ("", "/", "./", "../"):
                for trail in ("", "/", "//", "/."):
                    names.append(lead + "/".join(combo) + trail)
    return names


def _outcome(fn: object, name: str) -> tuple[str, str]:
    try:
        return "kept", "/".join(fn(name)) if fn is clean_path else fn(name)  # type: ignore[operator]
    except InvalidArgument as exc:
        return "refused", str(exc)


def test_clean_name_is_clean_path_joined() -> None:
    names = _names()
    assert len(names) > 10_000
    differ = [n for n in names if _outcome(clean_name, n) != _outcome(clean_path, n)]
    assert differ == []


@pytest.mark.parametrize("name", ["a\x00b", "../x", "a/../../x"])
def test_clean_name_refuses_as_clean_path(name: str) -> None:
    with pytest.raises(InvalidArgument):
        clean_name(name)


def test_the_usual_name_is_kept_whole() -> None:
    deep = "d/" * 10_000 + "bottom"
    assert clean_name(deep) == deep
    assert clean_name("d/" * 10_000) == deep.removesuffix("/bottom")
