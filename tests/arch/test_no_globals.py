"""No module reads the environment when it is imported, and nothing patches other libraries
for the whole process: the library's configuration is the Settings it is given."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "lamina"


def module_level(tree: ast.Module) -> list[ast.AST]:
    """Every node run at import time: not inside a function (a class body is run)."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def reads_environment(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id in ("getenv", "environ")


def patches_sys_modules(node: ast.AST) -> bool:
    """``sys.modules[...] = ...`` or ``sys.modules.setdefault(...)``."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
        node = node.value
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("setdefault", "update", "__setitem__"):
        node = node.func.value
    else:
        return False
    return isinstance(node, ast.Attribute) and node.attr == "modules" and \
        isinstance(node.value, ast.Name) and node.value.id == "sys"


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_environment_read_at_import(path: Path) -> None:
    tree = ast.parse(path.read_text())
    where = [n.lineno for n in module_level(tree) if reads_environment(n)
             and hasattr(n, "lineno")]
    assert where == [], f"{path.relative_to(SRC)}:{where}: reads the environment on import"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_patching_of_the_process(path: Path) -> None:
    tree = ast.parse(path.read_text())
    where = [n.lineno for n in ast.walk(tree) if patches_sys_modules(n) and hasattr(n, "lineno")]
    assert where == [], f"{path.relative_to(SRC)}:{where}: patches sys.modules"


def test_the_checks_see_what_they_look_for() -> None:
    bad = ast.parse("import os, sys\nROOT = os.environ.get('X')\n"
                    "sys.modules.setdefault('a', None)\nsys.modules['b'] = None\n"
                    "def fine():\n    return os.environ['Y']\n")
    assert [n.lineno for n in module_level(bad) if reads_environment(n)] == [2]
    assert sorted(n.lineno for n in ast.walk(bad) if patches_sys_modules(n)) == [3, 4]


def imported_names(tree: ast.Module) -> set[str]:
    """Names bound to modules or objects of other libraries (anywhere in the module)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "lamina":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] != "lamina":
            names.update(alias.asname or alias.name for alias in node.names)
    # And names bound to what is reached through them: ``cls = getattr(module, "X")``,
    # ``cls = module.X`` (a patch through an alias is still a patch).
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign) or not all(
                    isinstance(t, ast.Name) for t in node.targets):
                continue
            value = node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                    value.func.id == "getattr" and value.args:
                value = value.args[0]
            while isinstance(value, ast.Attribute):
                value = value.value
            if isinstance(value, ast.Name) and value.id in names:
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in names:
                        names.add(target.id)
                        changed = True
    return names


def patches_a_library(node: ast.AST, imported: set[str]) -> bool:
    """``module.attr = ...`` (or ``Class.attr = ...``) on something imported from elsewhere."""
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
    for target in targets:
        base = target
        while isinstance(base, ast.Attribute):
            base = base.value
        if target is not base and isinstance(base, ast.Name) and base.id in imported:
            return True
    return False


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_attribute_of_another_library_is_set(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = imported_names(tree)
    where = [n.lineno for n in ast.walk(tree) if patches_a_library(n, imported)]
    assert where == [], f"{path.relative_to(SRC)}:{where}: sets an attribute of a library"


def test_the_library_patch_check_sees_one() -> None:
    bad = ast.parse("from httpcore._sync import http11\n"
                    "def f():\n    http11.HTTP11Connection.READ_NUM_BYTES = 1\n"
                    "    connection = getattr(http11, 'HTTP11Connection', None)\n"
                    "    connection.READ_NUM_BYTES = 2\n")
    imported = imported_names(bad)
    assert [n.lineno for n in ast.walk(bad) if patches_a_library(n, imported)] == [3, 5]
