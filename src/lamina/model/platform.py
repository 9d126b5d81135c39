"""Platforms (``os/architecture[/variant]``), normalised and matched as docker and containerd do."""

from __future__ import annotations

import platform as _host
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from lamina.errors import InvalidArgument, InvalidManifest

_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")

KNOWN_OS: Final = frozenset(
    {
        "aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js",
        "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows",
    }
)  # fmt: skip
KNOWN_ARCH: Final = frozenset(
    {
        "386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle",
        "ppc64", "ppc64le", "riscv64", "s390x", "wasm",
    }
)  # fmt: skip
# Names other tools and kernels use for Go's architecture names.
_ARCH_ALIASES: Final = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "i386": "386",
    "i686": "386",
    "armhf": "arm",
    "armel": "arm",
    "armv7l": "arm",
    "armv6l": "arm",
}
# The variant an alias implies, when it implies one.
_ALIAS_VARIANT: Final = {"armhf": "v7", "armel": "v6", "armv7l": "v7", "armv6l": "v6"}
# The variant assumed when none is given, for matching only.
_DEFAULT_VARIANT: Final = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


def _norm_variant(architecture: str, variant: str | None) -> str | None:
    if not variant:
        return None
    variant = variant.lower()
    if variant.isdigit():
        variant = "v" + variant
    if architecture == "arm64" and variant == "v8.0":
        variant = "v8"
    return variant


@dataclass(frozen=True, slots=True)
class Platform:
    """A target platform. Names are normalised on construction (``x86_64`` -> ``amd64``)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    features: tuple[str, ...] = ()
    os_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        os_name = self.os.lower()
        if os_name == "macos":
            os_name = "darwin"
        raw_arch = self.architecture.lower()
        arch = _ARCH_ALIASES.get(raw_arch, raw_arch)
        variant = _norm_variant(arch, self.variant or _ALIAS_VARIANT.get(raw_arch))
        object.__setattr__(self, "os", os_name)
        object.__setattr__(self, "architecture", arch)
        object.__setattr__(self, "variant", variant)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]``, or a lone ``os`` or ``arch`` (the rest from the host)."""
        if not isinstance(text, str) or not text:
            raise InvalidArgument("invalid platform: empty")
        parts = text.split("/")
        if len(parts) > 3 or not all(_COMPONENT.fullmatch(p) for p in parts):
            raise InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant]")
        if len(parts) == 1:
            word = parts[0].lower()
            host = cls.host()
            if word in KNOWN_OS or word == "macos":
                return cls(word, host.architecture, host.variant)
            arch = _ARCH_ALIASES.get(word, word)
            if arch in KNOWN_ARCH:
                return cls("linux", word)
            raise InvalidArgument(
                f"invalid platform {text!r}: unknown operating system or architecture"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        """The platform of the running machine (the OS is always that of containers: linux)."""
        os_name = "windows" if sys.platform.startswith("win") else "linux"
        machine = _host.machine() or "amd64"
        return cls(os_name, machine)

    @classmethod
    def from_json(cls, obj: Any) -> Platform:
        """Read a descriptor's ``platform`` object; wrong types are InvalidManifest."""
        if not isinstance(obj, Mapping):
            raise InvalidManifest("platform: expected an object")
        os_name, arch = obj.get("os"), obj.get("architecture")
        if not isinstance(os_name, str) or not os_name:
            raise InvalidManifest("platform.os: expected a non-empty string")
        if not isinstance(arch, str) or not arch:
            raise InvalidManifest("platform.architecture: expected a non-empty string")
        variant = _opt_str(obj, "variant")
        os_version = _opt_str(obj, "os.version")
        return cls(
            os_name,
            arch,
            variant,
            os_version,
            _str_tuple(obj, "features"),
            _str_tuple(obj, "os.features"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out

    @property
    def effective_variant(self) -> str | None:
        """The variant, or the architecture's default one (arm64 -> v8, arm -> v7)."""
        return self.variant or _DEFAULT_VARIANT.get(self.architecture)

    def matches(self, other: Platform) -> bool:
        """Whether ``other`` (a candidate, e.g. from an index) satisfies this platform."""
        if self.os != other.os or self.architecture != other.architecture:
            return False
        if self.effective_variant != other.effective_variant:
            return False
        # An OS version is only compared when both sides state one (Windows builds).
        return not (self.os_version and other.os_version and self.os_version != other.os_version)

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidManifest(f"platform.{key}: expected a string")
    return value


def _str_tuple(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidManifest(f"platform.{key}: expected a list of strings")
    return tuple(value)
