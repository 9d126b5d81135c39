"""``lamina pull``: docker's flags and output lines."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.cli.progress import make_progress
from lamina.cli.trust_flags import (
    ContentTrustCommand,
    content_trust_option,
    policy_option,
    trust_options,
)
from lamina.engine import Engine
from lamina.model.reference import Reference


@click.command("pull", cls=ContentTrustCommand)
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository")
@content_trust_option()
@click.option("--platform", default=None, metavar="string",
              help="Set platform if server is multi-platform capable")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@policy_option
@click.argument("name")
@pass_engine
def pull(engine: Engine, all_tags: bool, disable_content_trust: bool | None,
         platform: str | None, quiet: bool, signature_policy: str | None, name: str) -> None:
    """Download an image from a registry"""
    trust = trust_options(disable_content_trust, signature_policy)
    ref = Reference.parse(name)
    if not all_tags and ref.is_name_only and not quiet:
        click.echo("Using default tag: latest")
    progress = make_progress(quiet)
    if progress is None:
        results = engine.pull(name, platform=platform, all_tags=all_tags, trust=trust)
    else:
        with progress:
            results = engine.pull(name, platform=platform, all_tags=all_tags,
                                  progress=progress, trust=trust)
    if all_tags:
        if not quiet:
            status = ("Downloaded newer image" if any(r.updated for r in results)
                      else "Image is up to date")
            click.echo(f"Status: {status} for {ref.familiar_name}")
        click.echo(ref.repository)
        return
    for result in results:
        if not quiet:
            status = "Downloaded newer image" if result.updated else "Image is up to date"
            click.echo(f"Status: {status} for {result.reference.familiar}")
        click.echo(str(result.reference))
