"""Content descriptors: a media type, a digest and a size, plus optional metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lamina.errors import InvalidDigest, InvalidManifest
from lamina.model.digest import Digest
from lamina.model.platform import Platform

# RFC 6838 type/subtype (with an optional parameter tail), as the OCI spec requires.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:\s*;.*)?",
    re.DOTALL,
)
# Sizes beyond this are not real blobs; refusing them keeps arithmetic on them sane.
MAX_SIZE: Final = 1 << 53


def valid_media_type(value: str) -> bool:
    return _MEDIA_TYPE.fullmatch(value) is not None and "\n" not in value


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor. ``annotations`` is a read-only mapping or None."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    platform: Platform | None = None
    artifact_type: str | None = None
    # The data field embeds the content itself (base64) — kept as read, never decoded here.
    data: str | None = None

    @classmethod
    def from_json(cls, obj: Any, *, where: str = "descriptor") -> Descriptor:
        """Validate a descriptor object read from untrusted JSON; InvalidManifest if bad."""
        if not isinstance(obj, Mapping):
            raise InvalidManifest(f"{where}: expected an object")
        media_type = obj.get("mediaType")
        if not isinstance(media_type, str) or not valid_media_type(media_type):
            raise InvalidManifest(f"{where}.mediaType: expected a media type, got {media_type!r}")
        raw_digest = obj.get("digest")
        if not isinstance(raw_digest, str):
            raise InvalidManifest(f"{where}.digest: expected a string")
        try:
            digest = Digest.parse(raw_digest)
        except InvalidDigest as err:
            raise InvalidManifest(f"{where}.digest: {err}") from None
        size = obj.get("size")
        # bool is an int in Python; JSON true is not a size.
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
            raise InvalidManifest(f"{where}.size: expected a non-negative integer, got {size!r}")
        urls = obj.get("urls")
        if urls is None:
            urls = []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidManifest(f"{where}.urls: expected a list of strings")
        annotations = parse_annotations(obj.get("annotations"), f"{where}.annotations")
        platform_obj = obj.get("platform")
        platform = None
        if platform_obj is not None:
            try:
                platform = Platform.from_json(platform_obj)
            except InvalidManifest as err:
                raise InvalidManifest(f"{where}.{err}") from None
        artifact_type = obj.get("artifactType")
        if artifact_type is not None and (
            not isinstance(artifact_type, str) or not valid_media_type(artifact_type)
        ):
            raise InvalidManifest(f"{where}.artifactType: expected a media type")
        data = obj.get("data")
        if data is not None and not isinstance(data, str):
            raise InvalidManifest(f"{where}.data: expected a base64 string")
        return cls(
            media_type, digest, size, tuple(urls), annotations, platform, artifact_type, data
        )

    def to_json(self) -> dict[str, Any]:
        """A dict in the spec's key order; optional fields only when set."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out


def parse_annotations(value: Any, where: str) -> Mapping[str, str] | None:
    """Validate an annotations object (string to string); None when absent."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidManifest(f"{where}: expected an object of strings")
    return dict(value)
