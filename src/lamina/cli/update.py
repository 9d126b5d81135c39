"""``lamina update``: change the resource limits of one or more containers."""

from __future__ import annotations

import click

from lamina.cli.commands import GO_INT
from lamina.cli.container_each import for_each
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import InvalidArgument


def _bytes(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    if value == "-1":
        return -1
    from lamina.cli.format.units import parse_bytes

    try:
        return parse_bytes(value)
    except (InvalidArgument, ValueError):
        raise click.BadParameter(f'invalid argument "{value}" for "{flag}" flag') from None


@click.command("update", context_settings={"help_option_names": ["--help"]})
@click.option("--blkio-weight", type=GO_INT, default=None, metavar="uint16",
              help="Block IO (relative weight), between 10 and 1000, or 0 to disable")
@click.option("--cpu-period", type=GO_INT, default=None, metavar="int",
              help="Limit CPU CFS (Completely Fair Scheduler) period")
@click.option("--cpu-quota", type=GO_INT, default=None, metavar="int",
              help="Limit CPU CFS (Completely Fair Scheduler) quota")
@click.option("--cpu-rt-period", type=GO_INT, default=None, metavar="int",
              help="Limit the CPU real-time period in microseconds")
@click.option("--cpu-rt-runtime", type=GO_INT, default=None, metavar="int",
              help="Limit the CPU real-time runtime in microseconds")
@click.option("-c", "--cpu-shares", type=GO_INT, default=None, metavar="int",
              help="CPU shares (relative weight)")
@click.option("--cpus", default=None, metavar="decimal", help="Number of CPUs")
@click.option("--cpuset-cpus", default=None, metavar="string",
              help="CPUs in which to allow execution (0-3, 0,1)")
@click.option("--cpuset-mems", default=None, metavar="string",
              help="MEMs in which to allow execution (0-3, 0,1)")
@click.option("-m", "--memory", default=None, metavar="bytes", help="Memory limit")
@click.option("--memory-reservation", default=None, metavar="bytes",
              help="Memory soft limit")
@click.option("--memory-swap", default=None, metavar="bytes",
              help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
@click.option("--pids-limit", type=GO_INT, default=None, metavar="int",
              help="Tune container pids limit (set -1 for unlimited)")
@click.option("--restart", default=None, metavar="string",
              help="Restart policy to apply when a container exits")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_engine
def update(engine: Engine, names: tuple[str, ...], blkio_weight: int | None,
           cpu_period: int | None, cpu_quota: int | None, cpu_rt_period: int | None,
           cpu_rt_runtime: int | None, cpu_shares: int | None, cpus: str | None,
           cpuset_cpus: str | None, cpuset_mems: str | None, memory: str | None,
           memory_reservation: str | None, memory_swap: str | None, pids_limit: int | None,
           restart: str | None) -> int:
    """Update configuration of one or more containers"""
    from lamina.engine.update import UpdateOptions, check

    cpu_count = None
    if cpus is not None:
        try:
            cpu_count = float(cpus)
        except ValueError:
            raise click.BadParameter(f'invalid argument "{cpus}" for "--cpus" flag: failed '
                                     f"to parse {cpus} as a rational number") from None
    opts = UpdateOptions(
        memory=_bytes(memory, "--memory"), memory_swap=_bytes(memory_swap, "--memory-swap"),
        memory_reservation=_bytes(memory_reservation, "--memory-reservation"),
        cpus=cpu_count, cpu_shares=cpu_shares, cpu_period=cpu_period, cpu_quota=cpu_quota,
        cpu_rt_period=cpu_rt_period, cpu_rt_runtime=cpu_rt_runtime, cpuset_cpus=cpuset_cpus,
        cpuset_mems=cpuset_mems, pids_limit=pids_limit, blkio_weight=blkio_weight,
        restart=restart,
    )
    check(opts)
    return for_each(names, lambda name: engine.update(name, opts))
