"""The layering of DESIGN.md, enforced: imports flow downward only.

An AST walk over every module, so it sees imports inside functions too (lazy imports are
still dependencies).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "lamina"

# package -> the lamina packages it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "model": {"errors"},
    "image": {"model", "errors"},
    "registry": {"trust", "model", "errors"},
    "trust": {"remote", "image", "model", "errors"},
    "remote": {"image", "model", "errors"},
    "store": {"image", "model", "errors"},
    # container networks: netlink, nftables, the network state (files under the store root)
    "network": {"errors"},
    "runtime": {"store", "network", "image", "model", "errors"},
    "build": {"runtime", "store", "image", "model", "errors"},
    "engine": {"build", "runtime", "network", "store", "remote", "trust", "image", "model",
               "errors"},
    "cli": {"engine", "registry", "api", "model", "errors"},
    # The Docker Engine API service: a front end beside cli, over the engine; it pumps the
    # attached streams of the containers it starts itself (runtime), asynchronously.
    "api": {"engine", "runtime", "store", "remote", "model", "errors"},
}
# Modules that touch the filesystem or the network; the model must not import them.
IO_MODULES = {"os", "io", "pathlib", "socket", "shutil", "subprocess", "tempfile", "sqlite3",
              "httpx", "urllib", "http", "tarfile", "gzip", "zlib", "open"}


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem != "__init__" else ""


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool) -> list[str]:
    """Every module ``source`` imports, absolute; relative imports resolved against its
    package, and ``from package import name`` counted as importing ``package.name`` too."""
    tree = ast.parse(source)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append(name)
            found += [f"{name}.{alias.name}" for alias in node.names]
    return found


def test_relative_imports_are_resolved() -> None:
    """A relative import is no way around the layering: ``from ..cli import x`` in the engine
    is an import of lamina.cli."""
    source = "from ..cli import main\nfrom . import ingest\nfrom .views import X\n"
    assert imports_in(source, "lamina.engine.pull", False) == [
        "lamina.cli", "lamina.cli.main", "lamina.engine", "lamina.engine.ingest",
        "lamina.engine.views", "lamina.engine.views.X"]
    assert imports_in("from .. import errors\n", "lamina.store", True) == [
        "lamina", "lamina.errors"]


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_downward(path: Path) -> None:
    package = package_of(path)
    if package in ("", "__main__"):
        return
    allowed = ALLOWED[package]
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] != "lamina" or len(parts) < 2:
            continue
        target = parts[1]
        if target == package:
            continue
        assert target in allowed, f"{path.relative_to(SRC)}: {package} may not import {name}"


@pytest.mark.parametrize("path", sorted((SRC / "model").rglob("*.py")),
                         ids=lambda p: p.name)
def test_model_does_no_io(path: Path) -> None:
    for name in imports_of(path):
        assert name.split(".")[0] not in IO_MODULES, f"model/{path.name} imports {name}"
    tree = ast.parse(path.read_text())
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)}
    assert "open" not in calls, f"model/{path.name} calls open()"


def test_images_does_not_import_heavy_modules(tmp_path: Path) -> None:
    """`lamina images` must start fast: no httpx, starlette, rich, uvicorn behind it."""
    code = (
        "import sys\n"
        "from lamina.cli.main import main\n"
        "try:\n"
        "    main(['images'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'httpx', 'starlette', 'rich', 'uvicorn', 'zstandard', 'jwt', 'bcrypt'})\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"LAMINA_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=True)
    assert out.stdout.splitlines()[-1] == "HEAVY:", out.stdout
