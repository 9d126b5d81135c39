"""``lamina manifest``: create, annotate, inspect, push and rm multi-platform indexes."""

from __future__ import annotations

import json

import click

from lamina.cli.commands import PflagGroup
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import NotFound


@click.group("manifest", cls=PflagGroup)
def manifest() -> None:
    """Manage Docker image manifests and manifest lists"""


@manifest.command("create")
@click.argument("name", metavar="MANIFEST_LIST")
@click.argument("manifests", nargs=-1, required=True, metavar="MANIFEST [MANIFEST...]")
@click.option("-a", "--amend", is_flag=True, help="Amend an existing manifest list")
@click.option("--insecure", is_flag=True, help="Allow communication with an insecure registry")
@pass_engine
def create(engine: Engine, name: str, manifests: tuple[str, ...], amend: bool,
           insecure: bool) -> None:
    """Create a local manifest list for annotating and pushing to a registry"""
    # (lamina reaches a registry over plain HTTP where its settings say so: loopback, or
    # the insecure registries configured; --insecure is docker's switch for the same.)
    del insecure
    created = engine.manifest_create(name, manifests, amend=amend)
    click.echo(f"Created manifest list {created}")


@manifest.command("annotate")
@click.argument("name", metavar="MANIFEST_LIST")
@click.argument("image", metavar="MANIFEST")
@click.option("--arch", default=None, metavar="string", help="Set architecture")
@click.option("--os", "os_", default=None, metavar="string", help="Set operating system")
@click.option("--os-features", multiple=True, metavar="strings", help="Set operating system "
              "feature")
@click.option("--os-version", default=None, metavar="string", help="Set operating system "
              "version")
@click.option("--variant", default=None, metavar="string", help="Set architecture variant")
@pass_engine
def annotate(engine: Engine, name: str, image: str, arch: str | None, os_: str | None,
             os_features: tuple[str, ...], os_version: str | None,
             variant: str | None) -> None:
    """Add additional information to a local image manifest"""
    features = [f for item in os_features for f in item.split(",") if f]
    engine.manifest_annotate(name, image, os=os_, arch=arch, variant=variant,
                             os_features=features, os_version=os_version)


@manifest.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="[MANIFEST_LIST] MANIFEST")
@click.option("--insecure", is_flag=True, help="Allow communication with an insecure registry")
@click.option("-v", "--verbose", is_flag=True, help="Output additional info including layers "
              "and platform")
@pass_engine
def inspect(engine: Engine, names: tuple[str, ...], insecure: bool, verbose: bool) -> None:
    """Display an image manifest, or manifest list"""
    del insecure  # (as for create)
    if len(names) > 2:
        raise click.UsageError("requires at most 2 arguments")
    raw, local = engine.manifest_inspect(names[-1])
    document = json.loads(raw)
    if verbose and not local:
        document = {"Ref": names[-1], "Descriptor": document}
    # docker prints it indented with tabs, keys in the order the document has them.
    click.echo(json.dumps(document, indent="\t"))


@manifest.command("push")
@click.argument("name", metavar="MANIFEST_LIST")
@click.option("--insecure", is_flag=True, help="Allow push to an insecure registry")
@click.option("-p", "--purge", is_flag=True, help="Remove the local manifest list after push")
@pass_engine
def push(engine: Engine, name: str, insecure: bool, purge: bool) -> None:
    """Push a manifest list to a repository"""
    del insecure  # (as for create)
    click.echo(engine.manifest_push(name, purge=purge))


@manifest.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="MANIFEST_LIST [MANIFEST_LIST...]")
@pass_engine
def rm(engine: Engine, names: tuple[str, ...]) -> None:
    """Delete one or more manifest lists from local storage"""
    missing = engine.manifest_remove(names)
    if missing:
        raise NotFound("; ".join(f"No such manifest: {n}" for n in missing))
