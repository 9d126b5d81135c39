"""No command parses a flag and then drops it: every parameter of every click command is used
in its body, and every flag of run/create reaches ``build_options``.

Dropped flags have lost data (``container prune --filter`` removed every stopped container) and
surprised users (``restart -s``, ``exec -d``, ``rm -l``, ``commit -p``). A flag lamina accepts
but has nothing to do for must say so in the body (``del flag  # why``).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from lamina.cli import container_flags

CLI = Path(__file__).resolve().parents[2] / "src" / "lamina" / "cli"


def commands() -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for path in sorted(CLI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                    "command" in ast.unparse(d) for d in node.decorator_list):
                found.append((f"{path.relative_to(CLI)}:{node.name}", node))
    return found


@pytest.mark.parametrize(("where", "node"), commands(), ids=[w for w, _ in commands()])
def test_every_parameter_is_used(where: str, node: ast.FunctionDef) -> None:
    used = {n.id for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    params = [a.arg for a in [*node.args.args, *node.args.kwonlyargs]
              if a.arg not in ("engine", "ctx")]
    assert [p for p in params if p not in used] == [], f"{where} drops these flags"


def test_every_run_flag_reaches_the_options() -> None:
    """Each flag is read where it takes effect: the options (``build_options`` and the
    HostConfig/Config entries it makes), or, for what only an attached or pulling run uses
    (-a, --sig-proxy, --detach-keys, --cidfile, -q, --pull, --platform), run's body and its
    puller."""
    from lamina.cli import container_options, runner

    source = "".join(inspect.getsource(f) for f in (
        container_flags.build_options, container_flags._host_and_config, runner.execute,
        runner._execute, container_options.puller))
    params = {flag[1] for flag in (*container_flags.RUN_FLAGS, *container_flags.CREATE_FLAGS)}
    params.discard("detach")  # a keyword of build_options itself
    # Goes to the pull of a missing image (container_options.puller), not to the container.
    params.discard("disable_content_trust")
    assert [p for p in sorted(params) if f'"{p}"' not in source] == []
