"""The ``lamina`` command's click side: the root group, its verbs (imported lazily, one
module per verb, so ``lamina images`` loads only what it needs), and click's errors as docker
words them. ``lamina.cli.main`` is the entry point."""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import click

# verb -> "module:attribute", imported on first use. The container verbs stand both at the top
# and under `lamina container`, as docker has them.
CONTAINER_COMMANDS: dict[str, str] = {
    "run": "lamina.cli.run:run",
    "create": "lamina.cli.create:create",
    "start": "lamina.cli.start:start",
    "stop": "lamina.cli.stop:stop",
    "kill": "lamina.cli.kill:kill",
    "restart": "lamina.cli.restart:restart",
    "rm": "lamina.cli.rm:rm",
    "wait": "lamina.cli.wait:wait",
    "logs": "lamina.cli.logs:logs",
    "ps": "lamina.cli.ps:ps",
    "exec": "lamina.cli.exec_:exec_",
    "diff": "lamina.cli.diff:diff",
    "export": "lamina.cli.export:export",
    "commit": "lamina.cli.commit:commit",
    "pause": "lamina.cli.pause:pause",
    "unpause": "lamina.cli.unpause:unpause",
    "rename": "lamina.cli.rename:rename",
    "top": "lamina.cli.top:top",
    "stats": "lamina.cli.stats:stats",
    "cp": "lamina.cli.cp:cp",
    "update": "lamina.cli.update:update",
    "attach": "lamina.cli.attach:attach",
    "port": "lamina.cli.port:port",
}
COMMANDS: dict[str, str] = {
    "images": "lamina.cli.images:images",
    "tag": "lamina.cli.tag:tag",
    "history": "lamina.cli.history:history",
    "inspect": "lamina.cli.inspect:inspect",
    "rmi": "lamina.cli.rmi:rmi",
    "save": "lamina.cli.save:save",
    "load": "lamina.cli.load:load",
    "import": "lamina.cli.import_:import_",
    "build": "lamina.cli.build:build",
    "image": "lamina.cli.image:image",
    "system": "lamina.cli.system:system",
    "registry": "lamina.cli.registry:registry",
    "pull": "lamina.cli.pull:pull",
    "push": "lamina.cli.push:push",
    "login": "lamina.cli.login:login",
    "logout": "lamina.cli.logout:logout",
    "trust": "lamina.cli.trust:trust",
    "generate": "lamina.cli.generate:generate",
    "version": "lamina.cli.version:version",
    "info": "lamina.cli.info:info",
    "events": "lamina.cli.events:events",
    "builder": "lamina.cli.builder:builder",
    "manifest": "lamina.cli.manifest:manifest",
    "volume": "lamina.cli.volume:volume",
    "network": "lamina.cli.network:network",
    **CONTAINER_COMMANDS,
    "container": "lamina.cli.container:container",
}


class FlagValueError(click.UsageError):
    """A flag's value that cannot be read: docker's (pflag's) words, bare, then where help is
    (exit 125)."""

    command_path = "lamina"


class GoInt(click.ParamType):
    """An integer flag read as docker's pflag reads one, and refused in its words:
    ``invalid argument "x" for "-t, --timeout" flag: strconv.ParseInt: ...`` (exit 125)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return int(str(value), 10)
        except ValueError:
            pass
        opts = list(param.opts) if param is not None else []
        shorts = [o for o in opts if not o.startswith("--")]
        longs = [o for o in opts if o.startswith("--")]
        flag = ", ".join([*shorts[:1], *longs[:1]]) or "value"
        error = FlagValueError(f'invalid argument "{value}" for "{flag}" flag: '
                               f'strconv.ParseInt: parsing "{value}": invalid syntax')
        if ctx is not None:
            error.command_path = ctx.command_path
        raise error


GO_INT = GoInt()


def pflag_args(command: click.Command, args: list[str]) -> list[str]:
    """``args`` for ``command`` with every switch given a value (``--all=false``, ``-d=1``,
    as docker's pflag takes them) spelled as click reads switches: the switch itself when
    true; nothing, or its ``--no-`` form when it is on by default, when false. Values of
    other options are stepped over, and the reading stops where click's options stop."""
    switches: dict[str, click.Option] = {}
    takes_value: set[str] = set()
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        for name in param.opts:
            if param.is_flag and param.is_bool_flag:
                switches[name] = param
            elif not param.is_flag and not param.count:
                takes_value.add(name)
    interspersed = command.context_settings.get("allow_interspersed_args",
                                                command.allow_interspersed_args)
    out: list[str] = []
    given: dict[str, list[int]] = {}  # a switch's name -> where in ``out`` it was turned on
    dropped: set[int] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--" or (isinstance(command, click.Group) and not arg.startswith("-")):
            out += [arg, *args[i:]]
            break
        if not arg.startswith("-") or arg == "-":
            out.append(arg)
            if not interspersed:
                out += args[i:]
                break
            continue
        if not arg.startswith("--") and len(arg) > 2 and "=" not in arg \
                and all("-" + c in switches for c in arg[1:]):
            # -dit: switches only, each of which a later -d=false takes back alone
            for c in arg[1:]:
                given.setdefault(switches["-" + c].name or "", []).append(len(out))
                out.append("-" + c)
            continue
        name, eq, value = arg.partition("=")
        if not arg.startswith("--") and len(name) != 2:
            eq = ""  # -dit, -eA=1: a cluster, or a short option's attached value
        switch = switches.get(name) if eq else None
        if switch is not None and switch.default is None and not switch.secondary_opts:
            switch = None  # a switch whose absence differs from false reads its own value
        if switch is None:
            short = not arg.startswith("--")
            pieces = _split_cluster(arg, switches, takes_value) if short else None
            for piece in pieces or [arg]:
                if piece in switches:  # (each one, so that a later =false takes it back)
                    given.setdefault(switches[piece].name or "", []).append(len(out))
                out.append(piece)
            wants_next = (name in takes_value and not eq and not short) or \
                (short and _cluster_wants_next(arg, switches, takes_value))
            if wants_next and i < len(args):
                out.append(args[i])
                i += 1
            continue
        from lamina.cli.container_flags import parse_bool

        truth = parse_bool(value)
        if truth is None:
            raise FlagValueError(f'invalid argument "{value}" for "{name}" flag: '
                                 f'strconv.ParseBool: parsing "{value}": invalid syntax')
        if truth:
            given.setdefault(switch.name or "", []).append(len(out))
            out.append(name)
        elif switch.default is not False and switch.secondary_opts:
            out.append(switch.secondary_opts[0])  # on by default, or unset (None) unlike off
        else:  # false, and off by default: the last word wins, so take back earlier trues
            dropped.update(given.pop(switch.name or "", []))
    return [a for index, a in enumerate(out) if index not in dropped]


def _split_cluster(arg: str, switches: dict[str, click.Option], takes_value: set[str]
                   ) -> list[str] | None:
    """A short option cluster as its options (``-it`` -> ``-i -t``; ``-dp80`` -> ``-d
    -p80``), or None when it holds a letter that is neither (click says what is wrong)."""
    if len(arg) <= 2:
        return None
    pieces: list[str] = []
    for j in range(1, len(arg)):
        name = "-" + arg[j]
        if name in takes_value:
            return [*pieces, name + arg[j + 1:]]
        if name not in switches:
            return None
        pieces.append(name)
    return pieces


def _cluster_wants_next(arg: str, switches: dict[str, click.Option], takes_value: set[str]
                        ) -> bool:
    """Whether a short option cluster (-it, -e, -dp) ends with an option whose value is the
    next argument."""
    for j in range(1, len(arg)):
        name = "-" + arg[j]
        if name in takes_value:
            return j == len(arg) - 1
        if name not in switches:
            return False
    return False


class PflagGroup(click.Group):
    """A group whose commands read switches as docker's pflag does (``--all=false``)."""

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            try:
                rest = pflag_args(command, rest)
            except FlagValueError as exc:
                exc.command_path = f"{ctx.command_path} {name}"
                raise
        return name, command, rest


class LazyGroup(PflagGroup):
    """A group whose subcommands are imported only when invoked (or listed by --help)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.lazy) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = self.lazy.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # listed but not built yet
            raise
        command: click.Command = getattr(module, attr)
        return command


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="lamina", prog_name="lamina", message="lamina version %(version)s")
@click.option("--root", envvar="LAMINA_ROOT", type=click.Path(file_okay=False), default=None,
              help="Root of the local store (default: $LAMINA_ROOT, /var/lib/lamina as root, "
                   "~/.local/share/lamina otherwise)")
@click.pass_context
def cli(ctx: click.Context, root: str | None) -> None:
    """A daemonless container engine and OCI registry."""
    from lamina.engine.settings import Settings

    ctx.obj = Settings.from_env(root=root)


def invoke(argv: list[str] | None) -> NoReturn:
    """Parse ``argv`` with click and run the verb; click's errors end the process here with
    docker's words and exit codes, the engine's reach ``lamina.cli.main``."""
    try:
        rv = cli.main(args=argv, prog_name="lamina", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.exceptions.NoSuchOption as exc:
        # docker: "unknown flag: --bogus" then "See 'docker images --help'."
        command = exc.ctx.command_path if exc.ctx else "lamina"
        click.echo(f"unknown flag: {exc.option_name}\nSee '{command} --help'.", err=True)
        sys.exit(125)
    except FlagValueError as exc:
        click.echo(f"{exc.format_message()}\nSee '{exc.command_path} --help'.", err=True)
        sys.exit(125)
    except click.MissingParameter as exc:
        if exc.ctx is None or not isinstance(exc.param, click.Argument):
            _usage_error(exc)
        _missing_argument(exc.ctx)
    except click.UsageError as exc:
        _usage_error(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _usage_error(exc: click.UsageError) -> NoReturn:
    command = exc.ctx.command_path if exc.ctx else "lamina"
    click.echo(f"{command}: {exc.format_message()}\nSee '{command} --help'.", err=True)
    sys.exit(125)


def _missing_argument(ctx: click.Context) -> NoReturn:
    """docker's words and exit status (1, not a usage error's 125) for too few arguments:
    ``docker: 'docker tag' requires 2 arguments``, the usage line, and where help is."""
    command = ctx.command_path
    arguments = [p for p in ctx.command.params if isinstance(p, click.Argument)]
    required = [p for p in arguments if p.required]
    count = sum(max(p.nargs, 1) for p in required)
    at_least = any(p.nargs == -1 for p in arguments) or len(required) < len(arguments)
    plural = "s" if count != 1 else ""
    need = f"requires {'at least ' if at_least else ''}{count} argument{plural}"
    usage = " ".join(ctx.command.collect_usage_pieces(ctx))
    click.echo(f"lamina: '{command}' {need}\n\nUsage:  {command} {usage}\n\n"
               f"Run '{command} --help' for more information", err=True)
    sys.exit(1)
