"""The model package: its curated public names, and its purity (no I/O, no other lamina imports)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import lamina.model
from lamina.model import mediatype

MODEL_DIR = Path(lamina.model.__file__).parent
# Modules that do I/O, spawn, or talk to the network; none of them belongs in a pure model.
FORBIDDEN = {
    "os", "io", "subprocess", "socket", "shutil", "tempfile", "pathlib", "sqlite3", "tarfile",
    "gzip", "zlib", "urllib", "http", "asyncio", "threading", "multiprocessing", "glob",
}  # fmt: skip


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(lamina.model.__all__) == sorted(
        [
            "DEFAULT_DOMAIN",
            "DEFAULT_TAG",
            "Descriptor",
            "Digest",
            "Hasher",
            "History",
            "ImageConfig",
            "Index",
            "Manifest",
            "Platform",
            "Reference",
            "chain_id",
            "chain_ids",
            "hasher_for",
            "mediatype",
            "parse_manifest",
            "validate_path",
            "validate_tag",
        ]
    )
    for name in lamina.model.__all__:
        assert getattr(lamina.model, name) is not None
    assert lamina.model.mediatype is mediatype


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_model_imports_only_stdlib_errors_and_itself() -> None:
    for path in sorted(MODEL_DIR.glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "lamina":
                assert name == "lamina.errors" or name.startswith("lamina.model"), (path, name)
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (path, name)
                assert top not in FORBIDDEN, (path, name)
