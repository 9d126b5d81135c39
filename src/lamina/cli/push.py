"""``lamina push``: docker's flags and output lines."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.cli.progress import make_progress
from lamina.engine import Engine
from lamina.model.reference import Reference


@click.command("push")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.argument("name")
@pass_engine
def push(engine: Engine, all_tags: bool, quiet: bool, name: str) -> None:
    """Upload an image to a registry"""
    ref = Reference.parse(name)
    if not all_tags and ref.is_name_only and not quiet:
        click.echo("Using default tag: latest")
    progress = make_progress(quiet)
    if progress is None:
        results = engine.push(name, all_tags=all_tags)
    else:
        with progress:
            results = engine.push(name, all_tags=all_tags, progress=progress)
    for result in results:
        if quiet:
            click.echo(str(result.reference))
        else:
            click.echo(f"{result.reference.tag}: digest: {result.digest} size: {result.size}")
