"""``lamina registry``: the click group the main CLI mounts (serve is run for real in
test_serve.py and test_interop.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lamina.cli.registry import registry
from lamina.registry.auth.htpasswd import Htpasswd


def test_group_is_named_registry_and_has_its_commands() -> None:
    assert registry.name == "registry"
    assert set(registry.commands) >= {"serve", "gc", "htpasswd"}


def test_htpasswd_command_adds_and_changes_users(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    runner = CliRunner()
    r = runner.invoke(registry, ["htpasswd", str(path), "alice", "--password-stdin"], input="pw1\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(registry, ["htpasswd", str(path), "alice", "--password-stdin"], input="pw2\n")
    assert r.exit_code == 0, r.output
    hp = Htpasswd(path)
    assert list(hp.users()) == ["alice"]
    assert hp.check("alice", "pw2") and not hp.check("alice", "pw1")


def test_gc_dry_run_on_an_empty_registry(tmp_path: Path) -> None:
    missing = CliRunner().invoke(registry, ["gc", "--root", str(tmp_path / "nope")])
    assert "no registry at" in str(missing.exception)
    r = CliRunner().invoke(registry, ["gc", "--root", str(tmp_path), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would remove 0 manifests" in r.output


def test_serve_refuses_half_a_tls_pair(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    r = CliRunner().invoke(registry, ["serve", "--root", str(tmp_path), "--tls-cert", str(cert)])
    assert r.exit_code != 0
    assert "TLS" in str(r.exception)


def test_htpasswd_command_refuses_a_password_bcrypt_cannot_take(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "htpasswd"
    done = subprocess.run([sys.executable, "-m", "lamina", "registry", "htpasswd", str(path),
                           "alice", "--password-stdin"], input="x" * 73 + "\n",
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == "Error: the password is 73 bytes long; bcrypt uses at most 72\n"
    assert not path.exists()
