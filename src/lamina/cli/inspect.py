"""``lamina inspect`` and ``lamina image inspect``: docker's JSON objects, or --format."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import NotFound

if TYPE_CHECKING:
    from lamina.cli.format.template import Template


# Members of docker's inspect objects that are Go maps (the rest are structs): marshalled and
# printed with their keys sorted, as Go does.
GO_MAPS = frozenset({"Labels", "ExposedPorts", "Volumes", "PortBindings", "Ports", "Networks",
                     "Data", "Sysctls", "StorageOpt", "Annotations", "Tmpfs", "DriverOpts",
                     "Options"})


def _with_go_maps(value: Any, key: str = "") -> Any:
    from lamina.cli.format.gofmt import GoMap

    if isinstance(value, dict):
        items = {k: _with_go_maps(v, str(k)) for k, v in value.items()}
        return GoMap(items) if key in GO_MAPS else items
    if isinstance(value, list):
        return [_with_go_maps(v) for v in value]
    return value


def render_objects(objects: list[dict[str, Any]], fmt: str | None,
                   template: Template | None = None) -> None:
    objects = [_with_go_maps(obj) for obj in objects]
    if fmt is None or fmt == "json":
        from lamina.cli.format.gofmt import marshal_json

        # docker's encoder: 4-space indent, and <, > and & escaped as \u003c...
        click.echo(marshal_json(objects, indent="    ", escape_html=True))
        return
    if template is None:
        template = _template(fmt)
    if not objects:
        click.echo()  # docker's template writer ends with a newline, even with nothing
    for obj in objects:
        click.echo(template.execute(obj))


def _template(fmt: str) -> Template:
    """The --format template, parsed before anything is looked up: a syntax error exits 64
    with docker's words and nothing else printed."""
    from lamina.cli.format.template import Template, TemplateError

    try:
        # An unknown field is an error in inspect, as docker reports it.
        return Template(fmt, missing_key="error")
    except TemplateError as exc:
        click.echo(str(exc), err=True)
        sys.exit(64)


def inspect_all(names: tuple[str, ...], lookup: Callable[[str], dict[str, Any]],
                fmt: str | None, missing: Callable[[str], str]) -> None:
    """Inspect every name; print what was found (``[]`` when nothing was, as docker), then
    fail on the first that was not."""
    template = _template(fmt) if fmt is not None and fmt != "json" else None
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(lookup(name))
        except NotFound:
            errors.append(missing(name))
    render_objects(found, fmt, template)
    if errors:
        raise NotFound(errors[0] if len(errors) == 1 else "; ".join(errors))


def _object_lookup(engine: Engine, kind: str | None, size: bool = False
                   ) -> Callable[[str], dict[str, Any]]:
    """Find a name among the kinds asked for: containers first, as docker looks them up."""

    def lookup(name: str) -> dict[str, Any]:
        if kind in (None, "container"):
            try:
                return engine.inspect_container(name, size=size)
            except NotFound:
                if kind == "container":
                    raise
        return engine.inspect_image(name)

    return lookup


MISSING = {
    None: "No such object: {}",
    "image": "No such image: {}",
    "container": "No such container: {}",
}


@click.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="NAME|ID [NAME|ID...]")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json' or a Go template")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container")
@click.option("--type", "kind", type=click.Choice(["image", "container"]), default=None,
              help="Only inspect objects of the given type")
@pass_engine
def inspect(engine: Engine, names: tuple[str, ...], fmt: str | None, size: bool,
            kind: str | None) -> None:
    """Return low-level information on lamina objects"""
    inspect_all(names, _object_lookup(engine, kind, size), fmt, MISSING[kind].format)


@click.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json' or a Go template")
@pass_engine
def image_inspect(engine: Engine, names: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more images"""
    inspect_all(names, engine.inspect_image, fmt, lambda n: f"No such image: {n}")


@click.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json' or a Go template")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@pass_engine
def container_inspect(engine: Engine, names: tuple[str, ...], fmt: str | None,
                      size: bool) -> None:
    """Display detailed information on one or more containers"""
    inspect_all(names, lambda n: engine.inspect_container(n, size=size), fmt,
                lambda n: f"No such container: {n}")
