"""``lamina registry``: serve a private OCI registry, collect its garbage, manage its users.

Everything heavy (uvicorn, starlette, bcrypt, jwt) is imported inside the commands, so that
loading the CLI does not load the server.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lamina.cli.commands import PflagGroup

if TYPE_CHECKING:
    from lamina.registry.config import RegistryConfig

_PATH = click.Path(path_type=Path)
_FILE = click.Path(path_type=Path, exists=True, dir_okay=False)


def _load(config_file: Path | None, **flags: object) -> RegistryConfig:
    """The file's settings, then LAMINA_REGISTRY_* variables, then flags."""
    from lamina.registry.serve import apply_env, apply_flags, load_config

    return apply_flags(apply_env(load_config(config_file)), **flags)


def _env_help() -> str:
    from lamina.registry.config import env_settings

    rows = "\n".join(f"  {name:<44} {setting}" for name, setting in env_settings())
    return (
        "Every setting of the TOML file can be given by an environment variable instead "
        "(the file first, then the variables, then flags):\n\n\b\n" + rows
    )


@click.group("registry", cls=PflagGroup)
def registry() -> None:
    """Run and manage a private OCI registry."""


@registry.command("serve", epilog=_env_help())
@click.option("--root", type=_PATH, help="Directory holding blobs and metadata.")
@click.option("--addr", metavar="HOST:PORT", help="Address to listen on [127.0.0.1:5000].")
@click.option("--config", "config_file", type=_FILE, help="TOML settings file.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes [1].")
@click.option("--read-only/--no-read-only", default=None,
              help="Refuse pushes and deletes (=false: take them, whatever the settings say).")
@click.option("--tls-cert", type=_FILE, help="PEM certificate chain for HTTPS.")
@click.option("--tls-key", type=_FILE, help="PEM private key for HTTPS.")
def serve_command(
    root: Path | None,
    addr: str | None,
    config_file: Path | None,
    workers: int | None,
    read_only: bool | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Serve the OCI Distribution API until SIGTERM or Ctrl-C."""
    from lamina.registry.backends import describe
    from lamina.registry.serve import parse_addr, prepare, serve, validate

    config = _load(
        config_file,
        root=root,
        addr=addr,
        workers=workers,
        read_only=read_only,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    validate(config)
    prepare(config)  # reachable backends, migrated schema: else one line, and no banner
    host, port = parse_addr(config.addr)
    scheme = "https" if config.tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"lamina registry serving {describe(config)} on {scheme}://{shown}:{port} "
        f"(auth: {config.auth.kind}, workers: {config.workers})",
        err=True,
    )
    status = serve(config, prepared=True)
    if status:
        raise SystemExit(status)


@registry.command("gc")
@click.option("--root", type=_PATH, help="Directory holding blobs and metadata.")
@click.option("--config", "config_file", type=_FILE, help="TOML settings file.")
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
@click.option("--delete-untagged", is_flag=True, help="Also remove manifests no tag reaches.")
def gc_command(
    root: Path | None, config_file: Path | None, dry_run: bool, delete_untagged: bool
) -> None:
    """Remove blobs and manifests that nothing references; safe while the registry serves."""
    from lamina.registry.gc import run_gc

    config = _load(config_file, root=root)
    if config.metadata.kind == "sqlite" and not Path(config.root).is_dir():
        from lamina.errors import NotFound

        raise NotFound(f"no registry at {config.root}", hint="give its --root or --config")
    report = run_gc(config, dry_run=dry_run, delete_untagged=delete_untagged)
    if dry_run:
        for repository, digest in report.manifests:
            click.echo(f"manifest {repository}@{digest}")
        for digest in report.blobs:
            click.echo(f"blob {digest}")
    click.echo(report.summary())


@registry.command("migrate")
@click.option("--from", "source", type=_FILE, required=True, help="TOML settings of the source.")
@click.option("--to", "target", type=_FILE, required=True, help="TOML settings of the target.")
def migrate_command(source: Path, target: Path) -> None:
    """Copy a registry to other backends (say, SQLite and a directory to PostgreSQL and S3).

    The source is only read. Every blob and manifest is checked against its digest. Run it
    again after an interruption: what the target has already is skipped.
    """
    from lamina.registry.migrate import migrate
    from lamina.registry.serve import load_config

    source_config, target_config = load_config(source), load_config(target)
    if (
        source_config.metadata.kind == "sqlite"
        and not (Path(source_config.root) / "registry.db").is_file()
    ):
        from lamina.errors import NotFound

        raise NotFound(f"no registry at {source_config.root}", hint="check root in " + str(source))
    report = migrate(source_config, target_config, progress=lambda line: click.echo(line, err=True))
    for name in report.manifests_broken:
        click.echo(f"left out {name}: it names content the source no longer has", err=True)
    click.echo(report.summary())


@registry.command("htpasswd")
@click.argument("file", type=_PATH)
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def htpasswd_command(file: Path, user: str, password_stdin: bool) -> None:
    """Add USER to the htpasswd FILE (bcrypt), or change their password."""
    from lamina.registry.auth.htpasswd import set_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    set_user(file, user, password)
    click.echo(f"set password for {user} in {file}", err=True)


__all__ = ["registry"]
