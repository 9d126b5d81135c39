"""The registry's GC, for signatures: a signature whose image is gone is garbage too.

cosign names what belongs to a manifest by tags of its digest: ``sha256-<hex>.sig``
(signatures), ``.att`` (attestations), ``.sbom``, and the OCI referrers fallback tag
``sha256-<hex>`` (an index of the referrers). Such a tag whose subject is absent from its
repository, pushed before the grace cutoff, is removed with its manifest (and, for a fallback
tag, the referrers it lists, and the referrers the registry holds for that subject); GC's own
sweep then frees their blobs. Other referrers whose subject is gone (an image signed only
with bundles, then deleted) are removed by GC with ``--delete-untagged``.

Only the metadata store's public operations are used (list, get, delete), so this works on
whatever backs the registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lamina.model import mediatype as mt

_ATTACHED = re.compile(r"(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(\.sig|\.att|\.sbom)?")
PAGE = 1000


@dataclass
class Orphans:
    removed: list[tuple[str, str]] = field(default_factory=list)  # (repository, tag or digest)
    digests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest) of each


def subject_of_tag(tag: str) -> str | None:
    """The digest a cosign or referrers-fallback tag belongs to, or None."""
    match = _ATTACHED.fullmatch(tag)
    return f"{match.group(1)}:{match.group(2)}" if match else None


def remove_orphan_signatures(metadata: Any, cutoff: float, *, dry_run: bool) -> Orphans:
    report = Orphans()
    for repo in _all(lambda last: metadata.list_repositories(last, PAGE)):
        for tag in _all(lambda last, repo=repo: metadata.list_tags(repo, last, PAGE)):
            subject = subject_of_tag(tag)
            if subject is None or metadata.get_manifest(repo, subject) is not None:
                continue
            stored = metadata.get_manifest(repo, tag)
            if stored is None or stored.pushed >= cutoff:
                continue  # a copy may push signatures first: only old ones are orphans
            doomed = [stored.digest]
            if tag.count(".") == 0 and mt.is_index(stored.media_type):
                doomed += _listed(stored.raw)
            doomed += [r.digest for r in metadata.referrers(repo, subject, None)
                       if r.digest not in doomed]
            for digest in doomed:
                if dry_run or metadata.delete_manifest(repo, digest):
                    report.removed.append((repo, tag if digest == stored.digest else digest))
                    report.digests.append((repo, digest))
    return report


def _listed(raw: bytes) -> list[str]:
    import json

    try:
        return [str(d["digest"]) for d in json.loads(raw).get("manifests", [])]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return []


def _all(page: Any) -> Iterator[str]:
    """Every name, a page at a time (GC never holds a registry's worth of names)."""
    last = None
    while True:
        items = page(last)
        yield from items
        if len(items) < PAGE:
            return
        last = items[-1]
