"""Image configs (OCI image config / Docker image JSON), validated strictly.

An image's ID is the digest of its config's exact bytes, so the bytes are kept as received and
never re-serialised. Every field lamina exposes is type-checked on parse: a config comes from
registries and archives, and a wrong type must fail here, naming the field, not deep inside a
command later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from lamina.errors import InvalidDigest, InvalidManifest
from lamina.model.digest import Digest
from lamina.model.document import MAX_CONFIG_SIZE, dump, load_object

if TYPE_CHECKING:  # loaded by the property below: running a container needs no Platform
    from lamina.model.platform import Platform

# RFC 3339 as Go's time.Time accepts it in JSON; docker cannot load a config whose times differ.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)

# Container config fields (docker's container.Config) by expected JSON type; null is allowed
# for every one, as Go writes nil slices and maps as null.
_STR_FIELDS: Final = (
    "User", "WorkingDir", "StopSignal", "Hostname", "Domainname", "Image", "MacAddress",
)  # fmt: skip
_BOOL_FIELDS: Final = (
    "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce",
    "ArgsEscaped", "NetworkDisabled",
)  # fmt: skip
_STR_LIST_FIELDS: Final = ("Env", "OnBuild", "Shell")
# Docker's strslice accepts a single string as well as a list, for Cmd and Entrypoint.
_STRSLICE_FIELDS: Final = ("Cmd", "Entrypoint")
_SET_FIELDS: Final = ("ExposedPorts", "Volumes")  # objects whose values are {} in practice


def _fail(where: str, expected: str) -> InvalidManifest:
    return InvalidManifest(f"invalid image config: {where}: expected {expected}")


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{where}{key}", "a string")
    return value


def _opt_time(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _opt_str(obj, key, where)
    if value is not None and not _RFC3339.fullmatch(value):
        raise _fail(f"{where}{key}", f"an RFC 3339 time, got {value!r}")
    return value


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class History(NamedTuple):
    """One step of an image's history; ``empty_layer`` steps made no layer."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: Any, where: str = "history") -> History:
        if not isinstance(obj, Mapping):
            raise _fail(where, "an object")
        empty = obj.get("empty_layer", False)
        if empty is None:
            empty = False
        if not isinstance(empty, bool):
            raise _fail(f"{where}.empty_layer", "a boolean")
        return cls(
            _opt_time(obj, "created", f"{where}."),
            _opt_str(obj, "created_by", f"{where}."),
            _opt_str(obj, "author", f"{where}."),
            _opt_str(obj, "comment", f"{where}."),
            empty,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("created", "created_by", "author", "comment"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out


class ImageConfig(NamedTuple):
    """An image config: the exact ``raw`` bytes and the validated, parsed ``data``."""

    raw: bytes
    data: dict[str, Any]  # parsed from raw
    diff_ids: tuple[Digest, ...]
    history: tuple[History, ...]
    config: dict[str, Any]  # the container config, data["config"] checked

    # raw says it all: the parsed fields follow from it.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageConfig) and self.raw == other.raw

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"ImageConfig(id={self.id}, diff_ids={len(self.diff_ids)})"

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        data = load_object(raw, "image config", max_size=MAX_CONFIG_SIZE)
        for key in ("architecture", "os", "variant", "os.version", "author"):
            _opt_str(data, key, "")
        _opt_time(data, "created", "")
        features = data.get("os.features")
        if features is not None and not _is_str_list(features):
            raise _fail("os.features", "a list of strings")
        diff_ids = _parse_rootfs(data.get("rootfs"))
        history = _parse_history(data.get("history"))
        if history:
            non_empty = sum(1 for h in history if not h.empty_layer)
            if non_empty != len(diff_ids):
                raise InvalidManifest(
                    f"invalid image config: history has {non_empty} non-empty entries "
                    f"but rootfs.diff_ids has {len(diff_ids)}"
                )
        container = _parse_container_config(data.get("config"), "config")
        # Docker's legacy field; only type-checked, as docker shows it in inspect.
        _parse_container_config(data.get("container_config"), "container_config")
        return cls(bytes(raw), data, diff_ids, history, container)

    @classmethod
    def build(cls, data: Mapping[str, Any]) -> ImageConfig:
        """Serialise ``data`` once (key order as given) and validate the result."""
        return cls.parse(dump(dict(data)))

    @property
    def id(self) -> Digest:
        """The image ID: the digest of the config's exact bytes."""
        return Digest.of(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def architecture(self) -> str:
        return self.data.get("architecture") or ""

    @property
    def os(self) -> str:
        return self.data.get("os") or ""

    @property
    def variant(self) -> str | None:
        return self.data.get("variant") or None

    @property
    def os_version(self) -> str | None:
        return self.data.get("os.version") or None

    @property
    def created(self) -> str | None:
        return self.data.get("created")

    @property
    def author(self) -> str | None:
        return self.data.get("author")

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})

    @property
    def platform(self) -> Platform | None:
        """The config's platform, or None when os or architecture is missing."""
        if not self.os or not self.architecture:
            return None
        from lamina.model.platform import Platform

        return Platform(self.os, self.architecture, self.variant, self.os_version)

    def layer_history(self) -> list[tuple[History, Digest | None]]:
        """Each history entry with the diff_id of the layer it made (None for empty steps)."""
        out: list[tuple[History, Digest | None]] = []
        layers = iter(self.diff_ids)
        for entry in self.history:
            out.append((entry, None if entry.empty_layer else next(layers, None)))
        return out


def _parse_rootfs(rootfs: Any) -> tuple[Digest, ...]:
    if not isinstance(rootfs, Mapping):
        raise _fail("rootfs", "an object")
    if rootfs.get("type") != "layers":
        raise _fail("rootfs.type", f"'layers', got {rootfs.get('type')!r}")
    raw_ids = rootfs.get("diff_ids")
    if raw_ids is None:
        raw_ids = []
    if not isinstance(raw_ids, list):
        raise _fail("rootfs.diff_ids", "a list")
    diff_ids = []
    for i, item in enumerate(raw_ids):
        if not isinstance(item, str):
            raise _fail(f"rootfs.diff_ids[{i}]", "a digest string")
        try:
            diff_ids.append(Digest.parse(item))
        except InvalidDigest as err:
            raise InvalidManifest(f"invalid image config: rootfs.diff_ids[{i}]: {err}") from None
    return tuple(diff_ids)


def _parse_history(value: Any) -> tuple[History, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("history", "a list")
    return tuple(History.from_json(item, f"history[{i}]") for i, item in enumerate(value))


def _parse_container_config(value: Any, where: str) -> dict[str, Any]:
    """Type-check docker's container config and return a copy with strslices as lists."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, "an object")
    out = dict(value)
    for key in _STR_FIELDS:
        _opt_str(value, key, f"{where}.")
    for key in _BOOL_FIELDS:
        if value.get(key) is not None and not isinstance(value[key], bool):
            raise _fail(f"{where}.{key}", "a boolean")
    for key in _STR_LIST_FIELDS:
        if value.get(key) is not None and not _is_str_list(value[key]):
            raise _fail(f"{where}.{key}", "a list of strings")
    for key in _STRSLICE_FIELDS:
        item = value.get(key)
        if isinstance(item, str):
            out[key] = [item]
        elif item is not None and not _is_str_list(item):
            raise _fail(f"{where}.{key}", "a list of strings")
    labels = value.get("Labels")
    if labels is not None and not (
        isinstance(labels, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise _fail(f"{where}.Labels", "an object of strings")
    for key in _SET_FIELDS:
        item = value.get(key)
        if item is not None and not (
            isinstance(item, Mapping) and all(isinstance(v, Mapping) for v in item.values())
        ):
            raise _fail(f"{where}.{key}", "an object of objects")
    timeout = value.get("StopTimeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
        raise _fail(f"{where}.StopTimeout", "an integer")
    health = value.get("Healthcheck")
    if health is not None:
        _check_healthcheck(health, f"{where}.Healthcheck")
    return out


def _check_healthcheck(value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise _fail(where, "an object")
    test = value.get("Test")
    if test is not None and not _is_str_list(test):
        raise _fail(f"{where}.Test", "a list of strings")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        item = value.get(key)
        if item is not None and (not isinstance(item, int) or isinstance(item, bool)):
            raise _fail(f"{where}.{key}", "an integer")
