"""The verdicts and signatures kept in the store beside pulled images.

``<root>/trust/<image-id hex>.json`` maps each ``repository@digest`` the image was pulled as to
the verdict of that pull (``lamina.trust.verify.Verdict``), signatures included, so that
``inspect`` can say how the image was verified and ``push`` can carry its signatures on.
Written atomically (a temporary file renamed over the old one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lamina.model.digest import Digest
from lamina.trust.verify import Verdict


def _path(root: Path, image_id: Digest) -> Path:
    return root / "trust" / f"{image_id.hex}.json"


def load_all(root: Path, image_id: Digest) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(_path(root, image_id).read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def verdicts(root: Path, image_id: Digest) -> dict[str, Verdict]:
    out = {}
    for key, value in load_all(root, image_id).items():
        try:
            out[key] = Verdict.from_json(value)
        except (KeyError, TypeError, ValueError):
            continue  # a damaged entry is as if never kept
    return out


def keep(root: Path, image_id: Digest, pulled_as: str, verdict: Verdict) -> None:
    path = _path(root, image_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = load_all(root, image_id)
    doc[pulled_as] = verdict.to_json()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def forget(root: Path, image_id: Digest, pulled_as: str) -> None:
    path = _path(root, image_id)
    if not path.exists():
        return
    doc = load_all(root, image_id)
    if doc.pop(pulled_as, None) is None:
        return
    if not doc:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def drop(root: Path, image_id: Digest) -> None:
    _path(root, image_id).unlink(missing_ok=True)


def summary(root: Path, image_id: Digest) -> dict[str, Any] | None:
    """What ``inspect`` shows: whether the image was verified, by which requirement."""
    kept = verdicts(root, image_id)
    if not kept:
        return None
    return {
        "Verified": any(v.verified for v in kept.values()),
        "Pulls": [{"PulledAs": key, "Scope": v.scope, "Requirements": v.requirements,
                   "Verified": v.verified, "Signers": v.signers,
                   "Signatures": [{"Format": s.format, "Digest": str(s.subject),
                                   "Where": s.where} for s in v.signatures]}
                  for key, v in sorted(kept.items())],
    }
