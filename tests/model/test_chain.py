"""ChainIDs against the image spec's definition, computed independently with hashlib."""

from __future__ import annotations

import hashlib

import pytest

from lamina.errors import InvalidDigest
from lamina.model.chain import chain_id, chain_ids
from lamina.model.digest import Digest


def spec_chain_id(diff_ids: list[str]) -> str:
    # ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
    current = diff_ids[0]
    for diff_id in diff_ids[1:]:
        current = "sha256:" + hashlib.sha256(f"{current} {diff_id}".encode()).hexdigest()
    return current


DIFFS = [Digest.of(f"layer {i}".encode()) for i in range(6)]


def test_empty() -> None:
    assert chain_ids([]) == []
    assert chain_id([]) is None


def test_single_layer_chain_is_its_diff_id() -> None:
    assert chain_ids(DIFFS[:1]) == [DIFFS[0]]


@pytest.mark.parametrize("n", range(1, 7))
def test_matches_spec_definition(n: int) -> None:
    ids = chain_ids(DIFFS[:n])
    assert len(ids) == n
    for i in range(n):
        assert ids[i] == spec_chain_id(DIFFS[: i + 1])
    assert chain_id(DIFFS[:n]) == ids[-1]
    assert all(isinstance(d, Digest) for d in ids)


def test_two_layers_literal() -> None:
    a = "sha256:" + "a" * 64
    b = "sha256:" + "b" * 64
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([Digest.parse(a), Digest.parse(b)]) == [a, expected]


def test_prefix_property() -> None:
    # A stack's chain IDs begin with those of any stack it extends: snapshots are shared.
    assert chain_ids(DIFFS[:3]) == chain_ids(DIFFS)[:3]
    assert chain_ids(DIFFS[1:3])[-1] != chain_ids(DIFFS[:3])[-1]


def test_order_matters() -> None:
    assert chain_id(DIFFS[:2]) != chain_id(list(reversed(DIFFS[:2])))


def test_sha512_diff_ids_are_chained_with_sha256() -> None:
    a = Digest.of(b"x", "sha512")
    b = Digest.of(b"y", "sha512")
    assert chain_ids([a, b])[1] == spec_chain_id([a, b])


def test_rejects_non_digests() -> None:
    with pytest.raises(InvalidDigest):
        chain_ids(["nope"])  # type: ignore[list-item]
