"""``lamina version``: docker's report of the client and the server, lamina's values in it.

lamina has no daemon, so the "server" is lamina itself with the OCI runtimes it drives."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.context import pass_engine
from lamina.engine import Engine


def render(data: dict[str, Any], fmt: str | None) -> None:
    """A docker-style object through --format (``json`` or a Go template)."""
    from lamina.cli.format.gofmt import marshal_json
    from lamina.cli.format.template import Template

    if fmt == "json":
        click.echo(marshal_json(data))
    else:
        assert fmt is not None
        click.echo(Template(fmt).execute(data))


def line(indent: str, label: str, value: Any) -> str:
    """``  Label:     value``, values from the 21st column, as docker aligns them."""
    return f"{indent}{label}:".ljust(20) + str(value)


@click.command("version")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json', or a Go template")
@pass_engine
def version(engine: Engine, fmt: str | None) -> None:
    """Show the lamina version information"""
    data = engine.version()
    if fmt:
        render(data, fmt)
        return
    client, server = data["Client"], data["Server"]
    os_arch = f"{client['Os']}/{client['Arch']}"
    lines = ["Client:", line(" ", "Version", client["Version"]),
             line(" ", "Python version", client["PythonVersion"]),
             line(" ", "OS/Arch", os_arch), line(" ", "Context", client["Context"]), "",
             f"Server: {server['Platform']['Name']}"]
    for component in server["Components"]:
        details = component["Details"]
        lines.append(f" {component['Name'] if component['Name'] != 'Engine' else 'Engine'}:")
        lines.append(line("  ", "Version", component["Version"]))
        if component["Name"] == "Engine":
            lines += [line("  ", "Python version", details["PythonVersion"]),
                      line("  ", "OS/Arch", f"{details['Os']}/{details['Arch']}"),
                      line("  ", "Kernel version", details["KernelVersion"]),
                      line("  ", "Experimental", details["Experimental"])]
        else:
            lines.append(line("  ", "GitCommit", details.get("GitCommit", "")))
    click.echo("\n".join(lines))
