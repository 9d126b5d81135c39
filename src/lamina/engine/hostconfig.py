"""``run``/``create`` flag values read into the pieces of docker's ``HostConfig`` and ``Config``
they become (restart policy, health check, ulimits, mounts, devices, namespaces, log config),
each checked as docker checks it: a bad value is one ``InvalidArgument`` naming it, before
anything is created. Pure functions of their text (and, for devices and bind sources, of the
host's files); the runtime spec is made from what they return (``lamina.runtime.spec``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamina.errors import InvalidArgument, UsageError

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
           "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")
LOG_DRIVERS = ("json-file", "local", "none")
LOG_OPTS = ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex",
            "tag", "mode", "max-buffer-size")
NAMESPACE_MODES = {
    "ipc": ("", "private", "shareable", "host", "none"),
    "pid": ("", "host"),
    "uts": ("", "host"),
    "cgroupns": ("", "host", "private"),
    "userns": ("", "host"),
}
SECOND = 1_000_000_000  # docker keeps durations in nanoseconds


def restart_policy(text: str | None) -> dict[str, Any]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` as docker's RestartPolicy."""
    if not text:
        return {"Name": "no", "MaximumRetryCount": 0}
    # (docker's words: the CLI's for the format, its daemon's for the rest)
    name, sep, count = text.partition(":")
    retries = 0
    if sep:
        try:
            retries = int(count)
        except ValueError:
            raise UsageError("invalid restart policy format: maximum retry count must "
                                  "be an integer") from None
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if sep and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy "
                              f"'{name}'")
    if retries < 0:
        raise InvalidArgument("maximum retry count cannot be negative")
    return {"Name": name, "MaximumRetryCount": retries}


def duration_ns(flag: str, text: str | None) -> int:
    """A Go duration (``30s``, ``1m30s``) in nanoseconds; 0 when not given."""
    if not text:
        return 0
    from lamina.engine.filters import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: time: invalid '
                         f'duration "{text}"') from None
    return int(seconds * SECOND)


def healthcheck(cmd: str | None, interval: str | None, timeout: str | None,
                retries: int | None, start_period: str | None, disabled: bool
                ) -> dict[str, Any] | None:
    """docker's Config.Healthcheck from the --health-* flags; None leaves the image's."""
    given = cmd is not None or interval or timeout or retries is not None or start_period
    if disabled:
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    check: dict[str, Any] = {}
    if cmd is not None:
        check["Test"] = ["CMD-SHELL", cmd] if cmd else []
    for flag, key, text in (("--health-interval", "Interval", interval),
                            ("--health-timeout", "Timeout", timeout),
                            ("--health-start-period", "StartPeriod", start_period)):
        value = duration_ns(flag, text)
        if value < 0:
            raise UsageError(f"{flag} cannot be negative")
        if value:
            check[key] = value
    if retries is not None:
        if retries < 0:
            raise UsageError("--health-retries cannot be negative")
        check["Retries"] = retries
    return check


def stop_signal(text: str) -> str:
    """--stop-signal: a signal name or number the runtime knows."""
    from lamina.errors import ContainerError
    from lamina.runtime.oci import signal_number

    try:
        signal_number(text)
    except ContainerError as exc:
        raise InvalidArgument(exc.message) from None
    return text


def ulimit(text: str) -> dict[str, Any]:
    """``name=soft[:hard]`` as docker's Ulimit."""
    name, sep, values = text.partition("=")
    if not sep:
        raise UsageError(f'invalid argument "{text}" for "--ulimit" flag: invalid ulimit '
                         f"argument: {text}")
    if name not in ULIMITS:
        raise UsageError(f'invalid argument "{text}" for "--ulimit" flag: invalid ulimit '
                         f"type: {name}")
    soft_text, colon, hard_text = values.partition(":")
    for number in (soft_text, *([hard_text] if colon else [])):
        try:
            int(number)
        except ValueError:
            raise UsageError(f'invalid argument "{text}" for "--ulimit" flag: '
                             f'strconv.ParseInt: parsing "{number}": invalid syntax') from None
    soft = int(soft_text)
    hard = int(hard_text) if colon else soft
    if soft > hard:
        raise UsageError(f'invalid argument "{text}" for "--ulimit" flag: ulimit soft '
                         f"limit must be less than or equal to hard limit: {soft} > {hard}")
    from lamina.runtime.spec import check_rlimit

    check_rlimit(name, hard)  # refused here, before anything is made
    return {"Name": name, "Soft": soft, "Hard": hard}


def tmpfs(text: str) -> tuple[str, str]:
    """``/path[:options]`` (--tmpfs)."""
    path, _, options = text.partition(":")
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{path}' mount path must be absolute")
    return os.path.normpath(path), options


def mount(text: str) -> dict[str, Any]:
    """``type=bind|tmpfs,source=..,target=..[,readonly]`` (--mount) as docker's Mount."""
    from lamina.model.units import parse_bytes

    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        fields[key] = value if sep else "true"
    kind = fields.pop("type", "volume")
    target = fields.pop("target", None) or fields.pop("destination", None) or \
        fields.pop("dst", None)
    source = fields.pop("source", None) or fields.pop("src", None)
    readonly = fields.pop("readonly", fields.pop("ro", "false"))
    if readonly not in ("true", "1", "false", "0"):
        raise UsageError(f"invalid value for readonly: {readonly}")
    if not target:
        raise UsageError(f'invalid argument "{text}" for "--mount" flag: target is required')
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount config for type \"{kind}\": invalid mount path: "
                              f"'{target}' mount path must be absolute")
    out: dict[str, Any] = {"Type": kind, "Source": source or "", "Target": target,
                           "ReadOnly": readonly in ("true", "1")}
    if kind == "bind":
        if not source:
            raise InvalidArgument('invalid mount config for type "bind": field Source must '
                                  "not be empty")
        if not source.startswith("/"):
            raise InvalidArgument(f"invalid mount config for type \"bind\": invalid mount "
                                  f"path: '{source}' mount path must be absolute")
        if not os.path.exists(source):
            raise InvalidArgument(f'invalid mount config for type "bind": bind source path '
                                  f"does not exist: {source}")
        fields.pop("bind-propagation", None)
        fields.pop("consistency", None)
    elif kind == "tmpfs":
        if source:
            raise InvalidArgument('invalid mount config for type "tmpfs": field Source must '
                                  "not be specified")
        options: dict[str, Any] = {}
        if "tmpfs-size" in fields:
            options["SizeBytes"] = parse_bytes(fields.pop("tmpfs-size"))
        if "tmpfs-mode" in fields:
            mode = fields.pop("tmpfs-mode")
            try:
                options["Mode"] = int(mode, 8)
            except ValueError:
                raise UsageError(f"invalid value for tmpfs-mode: {mode}") from None
        if options:
            out["TmpfsOptions"] = options
    elif kind == "volume":
        if source:
            from lamina.store.volumes import check_name

            check_name(source)
        nocopy = fields.pop("volume-nocopy", "false")
        if nocopy not in ("true", "1", "false", "0"):
            raise UsageError(f"invalid value for volume-nocopy: {nocopy}")
        driver = fields.pop("volume-driver", "local")
        if driver != "local":
            raise InvalidArgument(f'plugin "{driver}" not found')
        out["VolumeOptions"] = {"NoCopy": nocopy in ("true", "1")}
    else:
        raise InvalidArgument(f"invalid mount config for type \"{kind}\": mount type unknown")
    if fields:
        raise UsageError(f"unexpected key '{next(iter(fields))}' in '{text}'")
    return out


def device(text: str) -> dict[str, str]:
    """``/dev/host[:/dev/container][:rwm]`` (--device); the host's device must exist."""
    parts = text.split(":")
    permissions = "rwm"
    if len(parts) > 1 and parts[-1] and set(parts[-1]) <= set("rwm") and \
            not parts[-1].startswith("/"):
        permissions = parts.pop()
    if len(parts) > 2 or not parts[0]:
        raise UsageError(f"invalid device specification: {text}")
    host = parts[0]
    inside = parts[1] if len(parts) == 2 and parts[1] else host
    if not host.startswith("/") or not inside.startswith("/"):
        raise UsageError(f"invalid device specification: {text}")
    # (the device itself is looked for when the container starts, as docker's)
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": permissions}


def missing_device(host_config: dict[str, Any]) -> str | None:
    """docker's error for a --device that is not a device node on the host (now)."""
    import stat

    for device in host_config.get("Devices") or ():
        path = device["PathOnHost"]
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            return (f'error gathering device information while adding custom device "{path}": '
                    f"{exc.strerror.lower() if exc.strerror else exc}")
        if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
            return (f'error gathering device information while adding custom device "{path}": '
                    "not a device node")
    return None


def namespace_mode(kind: str, text: str | None) -> str:
    """--ipc/--pid/--uts/--cgroupns/--userns: a mode lamina has (``container:`` joins are
    for ipc and pid only)."""
    value = text or ""
    if kind in ("ipc", "pid") and value.startswith("container:") and value[10:]:
        return value
    if value not in NAMESPACE_MODES[kind]:
        if kind == "ipc":  # (docker's engine checks this one, its CLI the others)
            raise InvalidArgument(f"Invalid IPC mode: {value}")
        word = {"pid": "PID", "uts": "UTS", "cgroupns": "CGROUP", "userns": "USER"}[kind]
        raise UsageError(f"--{kind}: invalid {word} mode")
    return value


def log_config(driver: str | None, options: Sequence[str]) -> dict[str, Any]:
    """--log-driver and --log-opt as docker's LogConfig."""
    from lamina.model.units import parse_bytes

    name = driver or "json-file"
    if name not in LOG_DRIVERS:
        raise InvalidArgument(f'failed to create the logger: logging driver "{name}" is not '
                              f"available here (lamina has {', '.join(LOG_DRIVERS)})")
    config: dict[str, str] = {}
    for text in options:
        key, sep, value = text.partition("=")
        if not sep:
            raise UsageError(f"invalid key value pair format in logging opts: {text}")
        if name == "none" or key not in LOG_OPTS:
            raise InvalidArgument(f"unknown log opt '{key}' for {name} log driver")
        config[key] = value
    # (docker's driver reads these when it starts, in its words; lamina before anything is
    # made. max-file without max-size is taken and does nothing, as docker's.)
    failed = "failed to initialize logging driver: "
    if "max-size" in config:
        try:
            size = parse_bytes(config["max-size"])
        except InvalidArgument as exc:
            raise InvalidArgument(failed + exc.message) from None
        if size <= 0:
            raise InvalidArgument(f"{failed}invalid size: '{config['max-size']}'")
    if "max-file" in config:
        try:
            files = int(config["max-file"])
        except ValueError:
            raise InvalidArgument(f'{failed}strconv.Atoi: parsing "{config["max-file"]}": '
                                  "invalid syntax") from None
        if files < 1:
            raise InvalidArgument(failed + "max-file cannot be less than 1")
    return {"Type": name, "Config": config}


def read_label_files(paths: Sequence[str]) -> list[str]:
    """--label-file: one ``key=value`` a line; ``#`` comments and blank lines skipped."""
    labels = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                labels.append(line)
    return labels


def parse_annotations(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise UsageError(f'invalid argument "{item}" for "--annotation" flag: bad '
                             "format for annotation (expected key=value)")
        out[key] = value
    return out


def attach_streams(items: Sequence[str]) -> tuple[str, ...]:
    """-a: stdin, stdout, stderr (any case)."""
    out = []
    for item in items:
        name = item.lower()
        if name not in ("stdin", "stdout", "stderr"):
            raise UsageError(f'invalid argument "{item}" for "-a, --attach" flag: valid '
                             "streams are STDIN, STDOUT and STDERR")
        out.append(name)
    return tuple(out)


def gpu_request(text: str) -> dict[str, Any]:
    """--gpus (``all``, a count, ``device=ID``, ``driver=``, ``capabilities=``) as docker's
    DeviceRequest; no driver here can satisfy one: starting such a container fails, as
    docker's does where no GPU driver is installed."""
    request: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None,
                               "Capabilities": [["gpu"]], "Options": {}}
    for field in text.split(","):
        key, sep, value = field.partition("=")
        if not sep:
            key, value = "count", field
        if key == "count":
            if value == "all":
                request["Count"] = -1
                continue
            try:
                request["Count"] = int(value)
            except ValueError:
                raise UsageError(f'invalid argument "{text}" for "--gpus" flag: invalid count '
                                 f'({value}): value must be either "all" or an integer: '
                                 "invalid syntax") from None
        elif key == "device":
            request["DeviceIDs"] = [*(request["DeviceIDs"] or []), value]
        elif key == "driver":
            request["Driver"] = value
        elif key == "capabilities":
            request["Capabilities"] = [[*value.split(" "), "gpu"]]
        else:
            raise UsageError(f'invalid argument "{text}" for "--gpus" flag: unexpected key '
                             f"'{key}' in '{field}'")
    return request


def unsatisfiable_device_request(host: dict[str, Any]) -> str | None:
    """docker's error for a DeviceRequest (--gpus) no installed driver selects: lamina has no
    device drivers, so any is one."""
    for request in host.get("DeviceRequests") or ():
        capabilities = " ".join("[" + " ".join(c) + "]" for c in request.get("Capabilities")
                                or [])
        return (f'could not select device driver "{request.get("Driver", "")}" with '
                f"capabilities: [{capabilities}]")
    return None


def blkio_weight_supported() -> bool:
    """Whether the kernel takes a block I/O weight (cgroup v1's blkio or v2's io weight)."""
    return any(os.path.exists(f"/sys/fs/cgroup/{path}") for path in (
        "blkio/blkio.weight", "blkio/blkio.bfq.weight", "io.weight", "io.bfq.weight"))


def detach_sequence(text: str | None) -> bytes:
    """--detach-keys as the bytes typed: ``ctrl-p,ctrl-q`` (docker's default), a letter, or
    ``ctrl-`` with a letter or one of ``@[\\]^_``."""
    if not text:
        return b"\x10\x11"
    out = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            out.append(ord(key))
        elif key.startswith("ctrl-") and len(key) == 6 and \
                (key[5].isalpha() or key[5] in "@[\\]^_"):
            out.append(ord(key[5].upper()) & 0x1F)
        else:
            raise InvalidArgument(f"Invalid detach keys ({text}) provided")
    return bytes(out)
