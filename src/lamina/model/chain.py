"""ChainIDs, as the OCI image spec defines them.

ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). A ChainID names
a layer together with every layer under it, so an unpacked snapshot keyed by it can be shared by
every image whose stack starts the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.model.digest import Digest


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """The ChainID of each layer of a stack, bottom first."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        diff_id = Digest.parse(diff_id)
        if not out:
            out.append(diff_id)
        else:
            out.append(Digest.of(f"{out[-1]} {diff_id}".encode()))
    return out


def chain_id(diff_ids: Sequence[Digest]) -> Digest | None:
    """The ChainID of the whole stack (its top layer), or None for no layers."""
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else None
