"""``lamina info`` (and ``lamina system info``): docker's report of the engine, with
lamina's values: the store, its overlay storage, the runtimes, cgroups, security options."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.context import pass_engine
from lamina.cli.version import render
from lamina.engine import Engine


def _text(client: dict[str, Any], info: dict[str, Any]) -> str:
    from lamina.cli.format.units import binary_size

    out = ["Client:", f" Version:    {client['Version']}", f" Context:    {client['Context']}",
           " Debug Mode: false", "", "Server:",
           f" Containers: {info['Containers']}",
           f"  Running: {info['ContainersRunning']}",
           f"  Paused: {info['ContainersPaused']}",
           f"  Stopped: {info['ContainersStopped']}",
           f" Images: {info['Images']}",
           f" Server Version: {info['ServerVersion']}",
           f" Storage Driver: {info['Driver']}"]
    out += [f"  {key}: {value}" for key, value in info["DriverStatus"]]
    out += [f" Logging Driver: {info['LoggingDriver']}",
            f" Cgroup Driver: {info['CgroupDriver']}",
            f" Cgroup Version: {info['CgroupVersion']}",
            " Plugins:",
            f"  Volume: {' '.join(info['Plugins']['Volume'])}".rstrip(),
            f"  Network: {' '.join(info['Plugins']['Network'])}",
            f"  Log: {' '.join(info['Plugins']['Log'])}",
            f" Runtimes: {' '.join(sorted(info['Runtimes']))}",
            f" Default Runtime: {info['DefaultRuntime']}",
            " Security Options:"]
    for option in info["SecurityOptions"]:
        fields = dict(part.partition("=")[::2] for part in option.split(","))
        out.append(f"  {fields.get('name', option)}")
        for key, value in fields.items():
            if key != "name":
                out.append(f"   {key.capitalize()}: {value}")
    out += [f" Kernel Version: {info['KernelVersion']}",
            f" Operating System: {info['OperatingSystem']}",
            f" OSType: {info['OSType']}",
            f" Architecture: {info['Architecture']}",
            f" CPUs: {info['NCPU']}",
            f" Total Memory: {binary_size(info['MemTotal'])}",
            f" Name: {info['Name']}",
            f" Lamina Root Dir: {info['DockerRootDir']}",
            " Debug Mode: false",
            f" Experimental: {str(info['ExperimentalBuild']).lower()}",
            f" Live Restore Enabled: {str(info['LiveRestoreEnabled']).lower()}"]
    return "\n".join(out)


@click.command("info")
@click.option("-f", "--format", "fmt", default=None, metavar="string",
              help="Format output using a custom template: 'json', or a Go template")
@pass_engine
def info(engine: Engine, fmt: str | None) -> None:
    """Display system-wide information"""
    data = engine.info()
    client = engine.version()["Client"]
    if fmt:
        # docker's object: the server's fields, and the client's under ClientInfo
        render({**data, "ClientInfo": client}, fmt)
        return
    click.echo(_text(client, data))
