"""registries.d(5): where signatures of a registry or repository are kept besides the registry.

Every ``*.yaml`` file of the directory (the engine's settings name it: the user's
``~/.config/containers/registries.d`` if it exists, else ``/etc/containers/registries.d``) may
set ``default-docker`` and per-scope
``docker`` entries with ``lookaside`` (read from), ``lookaside-staging`` (written to; a
``file://`` URL), their old names ``sigstore`` and ``sigstore-staging``, and
``use-sigstore-attachments``. The most specific scope wins, as in the policy.

lamina reads cosign attachments from the registry unless a file says
``use-sigstore-attachments: false`` for the scope: an image signed with ``lamina trust sign``
or cosign then verifies without any registries.d file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.errors import InvalidArgument
from lamina.model.digest import Digest
from lamina.model.reference import Reference
from lamina.trust.policy import scopes_of

KEYS = {"lookaside", "lookaside-staging", "sigstore", "sigstore-staging",
        "use-sigstore-attachments"}


@dataclass(frozen=True)
class Location:
    lookaside: str | None = None
    lookaside_staging: str | None = None
    use_attachments: bool | None = None

    @property
    def attachments(self) -> bool:
        return self.use_attachments is not False


def location_for(ref: Reference, where: Path | None) -> Location:
    """Where ``ref``'s signatures are, by the registries.d directory ``where`` (None: none)."""
    if where is None:
        return Location()
    entries, default = _load(where)
    for scope in scopes_of(ref):
        if scope in entries:
            return entries[scope]
    return default


def lookaside_path(base: str, ref: Reference, digest: Digest, index: int) -> str:
    """``<base>/<path>@<algorithm>=<hex>/signature-<n>``, n from 1 (containers/image's
    layout; the path has no registry host)."""
    return f"{base.rstrip('/')}/{ref.path}@{digest.algorithm}={digest.hex}/signature-{index}"


def _load(where: Path) -> tuple[dict[str, Location], Location]:
    import yaml

    entries: dict[str, Location] = {}
    default = Location()
    if not where.is_dir():
        return entries, default
    for path in sorted(where.glob("*.yaml")):
        try:
            doc: Any = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise InvalidArgument(f"registries.d {path}: {err}") from None
        except RecursionError:
            raise InvalidArgument(f"registries.d {path}: nested too deeply") from None
        if doc is None:
            continue
        if not isinstance(doc, dict) or set(doc) - {"default-docker", "docker"}:
            raise InvalidArgument(f"registries.d {path}: expected default-docker and docker")
        if "default-docker" in doc:
            default = _location(doc["default-docker"], f"{path}: default-docker")
        scopes = doc.get("docker") or {}
        if not isinstance(scopes, dict):
            raise InvalidArgument(f"registries.d {path}: docker must map scopes to settings")
        for scope, value in scopes.items():
            if scope in entries:
                raise InvalidArgument(f"registries.d {path}: scope {scope!r} is configured "
                                      "twice")
            entries[str(scope)] = _location(value, f"{path}: docker[{scope!r}]")
    return entries, default


def _location(value: Any, where: str) -> Location:
    if value is None:
        return Location()
    if not isinstance(value, dict) or set(value) - KEYS:
        raise InvalidArgument(f"registries.d {where}: unknown keys "
                              f"{sorted(set(value) - KEYS) if isinstance(value, dict) else ''}")
    use = value.get("use-sigstore-attachments")
    if use is not None and not isinstance(use, bool):
        raise InvalidArgument(f"registries.d {where}: use-sigstore-attachments must be a bool")
    return Location(value.get("lookaside") or value.get("sigstore"),
                    value.get("lookaside-staging") or value.get("sigstore-staging"), use)
