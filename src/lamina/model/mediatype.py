"""Media types of the OCI image spec and of Docker's image manifest v2 schema 2."""

from __future__ import annotations

from typing import Final

from lamina.errors import Unsupported

# --- OCI image spec ---------------------------------------------------------------------------
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYOUT_HEADER: Final = "application/vnd.oci.layout.header.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
# Non-distributable layers are deprecated by the spec but still found in the wild.
OCI_LAYER_NONDIST: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"

# --- Docker v2 schema 2 -----------------------------------------------------------------------
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# Uncompressed Docker layers: written by some tools (buildkit with compression=uncompressed).
DOCKER_LAYER_UNCOMPRESSED: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_ZSTD: Final = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_PLUGIN_CONFIG: Final = "application/vnd.docker.plugin.v1+json"

# --- Docker v2 schema 1 (only to recognise and refuse it) -------------------------------------
DOCKER_MANIFEST_V1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1_TYPES: Final = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})

MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})
FOREIGN_LAYER_TYPES: Final = frozenset(
    {DOCKER_FOREIGN_LAYER, OCI_LAYER_NONDIST, OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST_ZSTD}
)
_GZIP_LAYERS: Final = frozenset(
    {OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER, DOCKER_FOREIGN_LAYER}
)
_ZSTD_LAYERS: Final = frozenset({OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_ZSTD, DOCKER_LAYER_ZSTD})
_PLAIN_LAYERS: Final = frozenset({OCI_LAYER, OCI_LAYER_NONDIST, DOCKER_LAYER_UNCOMPRESSED})
LAYER_TYPES: Final = _GZIP_LAYERS | _ZSTD_LAYERS | _PLAIN_LAYERS
# Every type a registry may serve at a manifest endpoint.
MANIFEST_ACCEPT: Final = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)


def base(media_type: str) -> str:
    """The type without parameters: ``a/b; charset=utf-8`` -> ``a/b``."""
    return media_type.partition(";")[0].strip()


def is_manifest(media_type: str | None) -> bool:
    return media_type is not None and base(media_type) in MANIFEST_TYPES


def is_index(media_type: str | None) -> bool:
    return media_type is not None and base(media_type) in INDEX_TYPES


def is_config(media_type: str | None) -> bool:
    return media_type is not None and base(media_type) in CONFIG_TYPES


def is_layer(media_type: str | None) -> bool:
    return media_type is not None and base(media_type) in LAYER_TYPES


def is_foreign(media_type: str | None) -> bool:
    """Non-distributable layers: their blobs may be absent from the registry."""
    return media_type is not None and base(media_type) in FOREIGN_LAYER_TYPES


def is_docker(media_type: str | None) -> bool:
    return media_type is not None and base(media_type).startswith("application/vnd.docker.")


def is_schema1(media_type: str | None) -> bool:
    return media_type is not None and base(media_type) in SCHEMA1_TYPES


def compression(media_type: str) -> str | None:
    """``"gzip"``, ``"zstd"`` or None (uncompressed or unknown) for a layer media type.

    Unknown types that end in ``+gzip`` / ``+zstd`` are classified by that suffix, as
    artifacts often use their own layer types with the standard suffixes.
    """
    mt = base(media_type)
    if mt in _GZIP_LAYERS or mt.endswith("+gzip"):
        return "gzip"
    if mt in _ZSTD_LAYERS or mt.endswith("+zstd") or mt.endswith(".zstd"):
        return "zstd"
    return None


def layer_type(compression_: str | None, *, docker: bool = False) -> str:
    """The layer media type for a compression (``"gzip"``, ``"zstd"`` or None)."""
    if docker:
        table = {"gzip": DOCKER_LAYER, "zstd": DOCKER_LAYER_ZSTD, None: DOCKER_LAYER_UNCOMPRESSED}
    else:
        table = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, None: OCI_LAYER}
    if compression_ not in table:
        raise Unsupported(f"unknown layer compression {compression_!r}")
    return table[compression_]
