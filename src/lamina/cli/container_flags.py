"""The flags ``run`` and ``create`` share, as docker 28 spells them, and how they reach the engine.

The flags are one table. ``lamina.cli.container_options`` makes click options of it for the
full command line (help, errors, every form); ``parse`` reads the common command lines with it
directly, so that ``lamina run`` starts without loading click (a third of its start-up). This
module must not import click.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from lamina.errors import ContainerError, InvalidArgument, LaminaError, UsageError

# Kinds of flag: a switch, a string, a string that may repeat (a list), an integer; a
# switch that is on unless turned off (``--sig-proxy=false``); and a switch whose absence is
# not false (None: ``--disable-content-trust``, whose default DOCKER_CONTENT_TRUST decides).
FLAG, VALUE, LIST, INT, ON, TRI = "flag", "value", "list", "int", "on", "tri"
SWITCHES = (FLAG, ON, TRI)

# (names, parameter, kind, metavar, help)
Flag = tuple[tuple[str, ...], str, str, str, str]

CREATE_FLAGS: tuple[Flag, ...] = (
    (("--name",), "name", VALUE, "string", "Assign a name to the container"),
    (("-e", "--env"), "env", LIST, "list", "Set environment variables"),
    (("--env-file",), "env_files", LIST, "list", "Read in a file of environment variables"),
    (("-w", "--workdir"), "workdir", VALUE, "string", "Working directory inside the container"),
    (("-u", "--user"), "user", VALUE, "string",
     "Username or UID (format: <name|uid>[:<group|gid>])"),
    (("--entrypoint",), "entrypoint", VALUE, "string",
     "Overwrite the default ENTRYPOINT of the image"),
    (("-v", "--volume"), "volumes", LIST, "list", "Bind mount a volume (SRC:DST[:ro])"),
    (("--network", "--net"), "network", VALUE, "network",
     "Connect a container to a network"),
    (("-h", "--hostname"), "hostname", VALUE, "string", "Container host name"),
    (("-m", "--memory"), "memory", VALUE, "bytes", "Memory limit"),
    (("--cpus",), "cpus", VALUE, "decimal", "Number of CPUs"),
    (("--pids-limit",), "pids_limit", INT, "int",
     "Tune container pids limit (set -1 for unlimited)"),
    (("--read-only",), "read_only", FLAG, "", "Mount the container's root filesystem as read only"),
    (("--cap-add",), "cap_add", LIST, "list", "Add Linux capabilities"),
    (("--cap-drop",), "cap_drop", LIST, "list", "Drop Linux capabilities"),
    (("-l", "--label"), "labels", LIST, "list", "Set meta data on a container"),
    (("-i", "--interactive"), "interactive", FLAG, "", "Keep STDIN open even if not attached"),
    (("-t", "--tty"), "tty", FLAG, "", "Allocate a pseudo-TTY"),
    (("--rm",), "autoremove", FLAG, "",
     "Automatically remove the container and its associated anonymous volumes when it exits"),
    (("--runtime",), "runtime", VALUE, "string",
     "Runtime to use for this container (runc or crun)"),
    (("--security-opt",), "security_opt", LIST, "list", "Security Options"),
    (("--privileged",), "privileged", FLAG, "", "Give extended privileges to this container"),
    (("--group-add",), "group_add", LIST, "list", "Add additional groups to join"),
    # -- restarts, init, health, stopping (the monitor's work)
    (("--restart",), "restart", VALUE, "string",
     'Restart policy to apply when a container exits (default "no")'),
    (("--init",), "init", FLAG, "",
     "Run an init inside the container that forwards signals and reaps processes"),
    (("--health-cmd",), "health_cmd", VALUE, "string", "Command to run to check health"),
    (("--health-interval",), "health_interval", VALUE, "duration",
     "Time between running the check (ms|s|m|h) (default 0s)"),
    (("--health-timeout",), "health_timeout", VALUE, "duration",
     "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    (("--health-retries",), "health_retries", INT, "int",
     "Consecutive failures needed to report unhealthy"),
    (("--health-start-period",), "health_start_period", VALUE, "duration",
     "Start period for the container to initialize before starting health-retries countdown"),
    (("--no-healthcheck",), "no_healthcheck", FLAG, "", "Disable any container-specified HEALTHCHECK"),
    (("--stop-signal",), "stop_signal", VALUE, "string", "Signal to stop the container"),
    (("--stop-timeout",), "stop_timeout", INT, "int", "Timeout (in seconds) to stop a container"),
    # -- limits, mounts and devices (the runtime spec's)
    (("--ulimit",), "ulimits", LIST, "ulimit", "Ulimit options"),
    (("--shm-size",), "shm_size", VALUE, "bytes", "Size of /dev/shm"),
    (("--tmpfs",), "tmpfs", LIST, "list", "Mount a tmpfs directory"),
    (("--mount",), "mounts", LIST, "mount", "Attach a filesystem mount to the container"),
    (("--device",), "devices", LIST, "list", "Add a host device to the container"),
    (("--ipc",), "ipc", VALUE, "string", "IPC mode to use"),
    (("--pid",), "pid", VALUE, "string", "PID namespace to use"),
    (("--uts",), "uts", VALUE, "string", "UTS namespace to use"),
    (("--cgroupns",), "cgroupns", VALUE, "string",
     'Cgroup namespace to use (host|private)'),
    (("--userns",), "userns", VALUE, "string", "User namespace to use (host)"),
    (("--oom-kill-disable",), "oom_kill_disable", FLAG, "", "Disable OOM Killer"),
    (("--memory-swap",), "memory_swap", VALUE, "bytes",
     "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    (("--memory-reservation",), "memory_reservation", VALUE, "bytes", "Memory soft limit"),
    (("-c", "--cpu-shares"), "cpu_shares", INT, "int", "CPU shares (relative weight)"),
    (("--cpuset-cpus",), "cpuset_cpus", VALUE, "string", "CPUs in which to allow execution (0-3, 0,1)"),
    (("--cpu-quota",), "cpu_quota", INT, "int", "Limit CPU CFS (Completely Fair Scheduler) quota"),
    (("--cpu-period",), "cpu_period", INT, "int", "Limit CPU CFS (Completely Fair Scheduler) period"),
    (("--blkio-weight",), "blkio_weight", INT, "uint16",
     "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"),
    (("--gpus",), "gpus", VALUE, "gpu-request", "GPU devices to add to the container ('all' to pass all GPUs)"),
    # -- the image
    (("--pull",), "pull", VALUE, "string",
     'Pull image before running ("always", "missing", "never") (default "missing")'),
    (("--platform",), "platform", VALUE, "string", "Set platform if server is multi-platform capable"),
    (("-q", "--quiet"), "quiet", FLAG, "", "Suppress the pull output"),
    # -- metadata
    (("--cidfile",), "cidfile", VALUE, "string", "Write the container ID to the file"),
    (("--label-file",), "label_files", LIST, "list", "Read in a line delimited file of labels"),
    (("--annotation",), "annotations", LIST, "map",
     "Add an annotation to the container (passed through to the OCI runtime)"),
    (("--domainname",), "domainname", VALUE, "string", "Container NIS domain name"),
    # -- streams and logs
    (("-a", "--attach"), "attach", LIST, "list", "Attach to STDIN, STDOUT or STDERR"),
    (("--log-driver",), "log_driver", VALUE, "string", "Logging driver for the container"),
    (("--log-opt",), "log_opts", LIST, "list", "Log driver options"),
    (("--volumes-from",), "volumes_from", LIST, "list", "Mount volumes from the specified container(s)"),
    (("--detach-keys",), "detach_keys", VALUE, "string",
     "Override the key sequence for detaching a container"),
    (("--sig-proxy",), "sig_proxy", ON, "", "Proxy received signals to the process (default true)"),
    # -- networks (lamina.network)
    (("-p", "--publish"), "publish", LIST, "list", "Publish a container's port(s) to the host"),
    (("-P", "--publish-all"), "publish_all", FLAG, "",
     "Publish all exposed ports to random ports"),
    (("--expose",), "expose", LIST, "list", "Expose a port or a range of ports"),
    (("--ip",), "ip", VALUE, "string", "IPv4 address (e.g., 172.30.100.104)"),
    (("--add-host",), "add_host", LIST, "list", "Add a custom host-to-IP mapping (host:ip)"),
    (("--dns",), "dns", LIST, "list", "Set custom DNS servers"),
    (("--dns-search",), "dns_search", LIST, "list", "Set custom DNS search domains"),
    (("--dns-option",), "dns_option", LIST, "list", "Set DNS options"),
    (("--network-alias",), "network_alias", LIST, "list",
     "Add network-scoped alias for the container"),
    (("--mac-address",), "mac_address", VALUE, "string", "Container MAC address (e.g., "
     "92:d0:c6:0a:29:33)"),
    (("--disable-content-trust",), "disable_content_trust", TRI, "",
     "Skip image verification (default true)"),
)

RUN_FLAGS: tuple[Flag, ...] = (
    (("-d", "--detach"), "detach", FLAG, "", "Run container in background and print container ID"),
    *CREATE_FLAGS,
)


def parse(args: list[str], flags: tuple[Flag, ...]
          ) -> tuple[dict[str, Any], str, list[str]] | None:
    """``[FLAGS] IMAGE [COMMAND] [ARG...]`` read as click reads it (flags stop at the image;
    ``--x=v``, ``--x v``, ``-xv``, ``-x v`` and clustered switches such as ``-it``), as the
    parameters, the image and the command; None for anything else (help, an unknown flag, a
    missing or malformed value, no image), which click then reads and reports."""
    table = {name: flag for flag in flags for name in flag[0]}
    kw: dict[str, Any] = {param: () if kind == LIST else False if kind == FLAG else
                          True if kind == ON else None
                          for _, param, kind, _, _ in flags}  # click's defaults
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            return kw, arg, args[i:]
        # The flags this argument names, each with the value it carries (None: none given).
        given: list[tuple[str, str | None]] = []
        if arg.startswith("--"):
            long_name, eq, inline = arg.partition("=")
            given.append((long_name, inline if eq else None))
        elif len(arg) > 2 and arg[2] == "=" and table.get(arg[:2], ("", "", ""))[2] in SWITCHES:
            # -d=false, as pflag reads a switch
            given.append((arg[:2], arg[3:]))
        else:  # -it, -e K=V, -eK=V: switches, then at most one flag that takes the rest
            for j in range(1, len(arg)):
                flag = table.get("-" + arg[j])
                if flag is not None and flag[2] not in SWITCHES:
                    given.append(("-" + arg[j], arg[j + 1:] or None))
                    break
                given.append(("-" + arg[j], None))
        for name, value in given:
            flag = table.get(name)
            if flag is None:
                return None
            _, param, kind, _, _ = flag
            if kind in SWITCHES:
                truth = True if value is None else parse_bool(value)
                if truth is None:
                    return None  # --rm=yes: click says what is wrong
                kw[param] = truth
                continue
            if value is None:
                if i == len(args):
                    return None
                value = args[i]
                i += 1
            if kind == LIST:
                kw[param] = (*kw[param], value)
            elif kind == INT:
                try:
                    kw[param] = int(value)  # as click converts it
                except ValueError:
                    return None
            else:
                kw[param] = value
    if i < len(args):  # after "--": the image, then the command
        return kw, args[i], args[i + 1:]
    return None


def parse_bool(text: str) -> bool | None:
    """A switch's value as Go's strconv.ParseBool reads it (``--rm=false``); None if none."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    return None


def build_options(kw: dict[str, Any], *, detach: bool = False) -> Any:
    """CreateOptions from the parsed flags (values checked as docker checks them)."""
    from lamina.engine.containers import CreateOptions

    memory = None
    if kw.get("memory"):
        from lamina.cli.format.units import parse_bytes  # (its datetime and calendar too)

        memory = parse_bytes(kw["memory"])
    if memory is not None and memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    cpus = None
    if kw.get("cpus"):
        try:
            cpus = float(kw["cpus"])
        except ValueError:
            raise UsageError(f'invalid argument "{kw["cpus"]}" for "--cpus" flag') from None
        count = len(os.sched_getaffinity(0)) or 1
        if cpus < 0 or cpus > count:  # (docker's engine's check, in its words)
            raise InvalidArgument(f"Range of CPUs is from 0.01 to {count:.2f}, as there are "
                                  f"only {count} CPUs available")
        cpus = cpus or None  # 0: no limit, as if not given
    pids = kw.get("pids_limit")
    host, config = _host_and_config(kw, memory, cpus)
    labels = (*_label_files(kw.get("label_files") or ()), *kw.get("labels", ()))
    if kw.get("pull") not in (None, "always", "missing", "never"):
        raise UsageError(f"invalid pull option: '{kw['pull']}': must be one of "
                              '"always", "missing" or "never"')
    return CreateOptions(
        name=kw.get("name"), env=kw.get("env", ()), env_files=kw.get("env_files", ()),
        workdir=kw.get("workdir"), user=kw.get("user"), entrypoint=kw.get("entrypoint"),
        volumes=tuple(_absolute_source(v) for v in kw.get("volumes", ())),
        network=kw.get("network") or "bridge",
        hostname=kw.get("hostname"), memory=memory, cpus=cpus,
        pids_limit=pids if pids and pids > 0 else None, read_only=kw.get("read_only", False),
        cap_add=kw.get("cap_add", ()), cap_drop=kw.get("cap_drop", ()),
        labels=labels, tty=kw.get("tty", False),
        interactive=kw.get("interactive", False), autoremove=kw.get("autoremove", False),
        runtime=kw.get("runtime"), detach=detach,
        security_opt=kw.get("security_opt", ()), privileged=kw.get("privileged", False),
        group_add=kw.get("group_add", ()), host_config=host, config=config,
        volumes_from=kw.get("volumes_from") or (), pull=kw.get("pull") or "missing",
        platform=kw.get("platform"),
        publish=kw.get("publish", ()), publish_all=kw.get("publish_all", False),
        expose=kw.get("expose", ()), ip=kw.get("ip"), add_host=kw.get("add_host", ()),
        dns=kw.get("dns", ()), dns_search=kw.get("dns_search", ()),
        dns_option=kw.get("dns_option", ()), network_alias=kw.get("network_alias", ()),
        mac_address=kw.get("mac_address"),
    )


def _absolute_source(spec: str) -> str:
    """``-v ./data:/data``: a source that starts with ``.`` is a directory relative to where
    the command runs, made absolute as docker's CLI makes it (not a volume's name)."""
    source, sep, rest = spec.partition(":")
    if sep and (source in (".", "..") or source.startswith(("./", "../"))):
        return f"{os.path.abspath(source)}:{rest}"
    return spec


def _label_files(paths: tuple[str, ...]) -> list[str]:
    if not paths:
        return []
    from lamina.engine.hostconfig import read_label_files

    return read_label_files(paths)


# The flags that keep their defaults in the common command line: nothing more to read then.
_PLAIN = {"restart": None, "init": False, "health_cmd": None, "health_interval": None,
          "health_timeout": None, "health_retries": None, "health_start_period": None,
          "no_healthcheck": False, "stop_signal": None, "stop_timeout": None, "ulimits": (),
          "shm_size": None, "tmpfs": (), "mounts": (), "devices": (), "ipc": None,
          "pid": None, "uts": None, "cgroupns": None, "userns": None,
          "oom_kill_disable": False, "memory_swap": None, "memory_reservation": None,
          "cpu_shares": None, "cpuset_cpus": None, "cpu_quota": None, "cpu_period": None,
          "blkio_weight": None, "gpus": None, "annotations": (), "domainname": None,
          "attach": (), "log_driver": None, "log_opts": (), "detach_keys": None}


def _host_and_config(kw: dict[str, Any], memory: int | None, cpus: float | None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The HostConfig and Config entries of the flags beyond the common ones, checked as
    docker checks them (``lamina.engine.hostconfig``)."""
    if all(kw.get(key, default) in (default, None) for key, default in _PLAIN.items()):
        return {}, {}
    from lamina.cli.format.units import parse_bytes
    from lamina.engine import hostconfig as hc

    host: dict[str, Any] = {}
    config: dict[str, Any] = {}
    if kw.get("gpus"):
        host["DeviceRequests"] = [hc.gpu_request(kw["gpus"])]  # (refused when it starts)
    if kw.get("restart"):
        host["RestartPolicy"] = hc.restart_policy(kw["restart"])
    if kw.get("init"):
        host["Init"] = True
    check = hc.healthcheck(kw.get("health_cmd"), kw.get("health_interval"),
                           kw.get("health_timeout"), kw.get("health_retries"),
                           kw.get("health_start_period"), bool(kw.get("no_healthcheck")))
    if check is not None:
        config["Healthcheck"] = check
    if kw.get("stop_signal"):
        config["StopSignal"] = hc.stop_signal(kw["stop_signal"])
    if kw.get("stop_timeout") is not None:
        config["StopTimeout"] = kw["stop_timeout"]
    if kw.get("ulimits"):
        host["Ulimits"] = [hc.ulimit(text) for text in kw["ulimits"]]
    if kw.get("shm_size"):
        try:
            size = parse_bytes(kw["shm_size"])
        except InvalidArgument:
            size = -1
        if size < 0:
            raise UsageError(f'invalid argument "{kw["shm_size"]}" for "--shm-size" flag: '
                             f"invalid size: '{kw['shm_size']}'")
        if size:  # (0: docker's default, as if not given)
            host["ShmSize"] = size
    if kw.get("tmpfs"):
        host["Tmpfs"] = dict(hc.tmpfs(text) for text in kw["tmpfs"])
    if kw.get("mounts"):
        host["Mounts"] = [hc.mount(text) for text in kw["mounts"]]
    if kw.get("devices"):
        host["Devices"] = [hc.device(text) for text in kw["devices"]]
    for kind, key in (("ipc", "IpcMode"), ("pid", "PidMode"), ("uts", "UTSMode"),
                      ("cgroupns", "CgroupnsMode"), ("userns", "UsernsMode")):
        if kw.get(kind):
            host[key] = hc.namespace_mode(kind, kw[kind])
    if kw.get("oom_kill_disable"):
        host["OomKillDisable"] = True
        if memory is None:
            sys.stderr.write("WARNING: OOM killer is disabled for the container, but no memory "
                             "limit is set, this can result in the system running out of "
                             "resources.\n")
    if kw.get("memory_swap"):
        swap = -1 if kw["memory_swap"] == "-1" else parse_bytes(kw["memory_swap"])
        if memory is None:
            raise InvalidArgument("You should always set the Memory limit when using "
                                  "Memoryswap limit, see usage")
        if swap != -1 and swap < memory:
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory "
                                  "limit, see usage")
        host["MemorySwap"] = swap
    if kw.get("memory_reservation"):
        reservation = parse_bytes(kw["memory_reservation"])
        if memory is not None and reservation > memory:
            raise InvalidArgument("Minimum memory limit can not be less than memory "
                                  "reservation limit, see usage")
        host["MemoryReservation"] = reservation
    if kw.get("cpu_shares") is not None:
        host["CpuShares"] = kw["cpu_shares"]
    if kw.get("cpuset_cpus"):
        host["CpusetCpus"] = _cpuset(kw["cpuset_cpus"])
    for flag, key in (("cpu_quota", "CpuQuota"), ("cpu_period", "CpuPeriod")):
        if kw.get(flag) is not None:
            if cpus is not None:
                raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot "
                                      "both be set")
            host[key] = kw[flag]
    if kw.get("cpu_period") is not None and kw["cpu_period"] and \
            not 1000 <= kw["cpu_period"] <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if kw.get("cpu_quota") is not None and 0 < kw["cpu_quota"] < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if kw.get("blkio_weight") is not None:
        weight = kw["blkio_weight"]
        # (where the kernel has no weight, docker drops it with a warning, unchecked)
        if weight and not 10 <= weight <= 1000 and hc.blkio_weight_supported():
            raise InvalidArgument("Range of blkio weight is from 10 to 1000")
        host["BlkioWeight"] = weight
    if kw.get("annotations"):
        host["Annotations"] = hc.parse_annotations(kw["annotations"])
    if kw.get("domainname"):
        config["Domainname"] = kw["domainname"]
    if kw.get("attach"):
        streams = hc.attach_streams(kw["attach"])
        config.update(AttachStdin="stdin" in streams, AttachStdout="stdout" in streams,
                      AttachStderr="stderr" in streams)
    if kw.get("log_driver") or kw.get("log_opts"):
        host["LogConfig"] = hc.log_config(kw.get("log_driver"), kw.get("log_opts") or ())
    if kw.get("detach_keys"):
        hc.detach_sequence(kw["detach_keys"])  # checked now; used when attaching
    return host, config


def _cpuset(text: str) -> str:
    """0-3 or 0,1: the CPUs must exist here."""
    count = os.cpu_count() or 1
    for part in text.split(","):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise InvalidArgument(f"invalid value {text} for cpuset cpus") from None
        if first > last or last >= count:
            raise InvalidArgument(f"Requested CPUs are not available - requested {text}, "
                                  f"available: 0-{count - 1}")
    return text


def as_run_error(exc: LaminaError) -> ContainerError:
    """docker run/create exit with 125 when the engine fails (not the container)."""
    if isinstance(exc, ContainerError):
        return exc
    return ContainerError(exc.message, hint=exc.hint, exit_code=125)


def require_terminal() -> None:
    """docker's check for ``-it``: attached stdin and a tty need our stdin to be a terminal.
    It fails before anything is made, with docker's bare line and status 1."""
    try:
        terminal = sys.stdin.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal:
        sys.stdout.flush()
        sys.stderr.write("the input device is not a TTY\n")
        sys.exit(1)


def stdin_fd() -> int:
    """Our stdin as an fd for the container; a pipe fed by a thread when it has none (tests)."""
    import io
    import os

    try:
        return sys.stdin.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        pass
    source = getattr(sys.stdin, "buffer", sys.stdin)
    read_end, write_end = os.pipe()

    def feed() -> None:
        try:
            data = source.read()
            if isinstance(data, str):
                data = data.encode()
            while data:
                data = data[os.write(write_end, data):]
        except OSError:
            pass
        finally:
            os.close(write_end)

    threading.Thread(target=feed, daemon=True).start()
    return read_end
