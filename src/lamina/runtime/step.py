"""``run_step``: one command in the foreground over an image's layers, as a build's RUN step.

The layers (snapshots, bottom first) are mounted as overlayfs lowerdirs under the caller's
``upper`` directory, which keeps whatever the command changes; the command runs under the OCI
runtime with its output going where the caller says; the mount is undone on the way out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NamedTuple

from lamina.errors import ContainerError
from lamina.model.digest import Digest
from lamina.runtime.mounts import mount_overlay, require_root, unmount
from lamina.runtime.oci import Runtime
from lamina.runtime.rootpath import RootFS
from lamina.runtime.security import Security
from lamina.runtime.spec import DEFAULT_PATH, Bind, ContainerSpec, build_spec, capabilities
from lamina.runtime.users import resolve_user
from lamina.store import Store

Output = IO[bytes] | IO[str] | int | None


class StepLimits(NamedTuple):
    """What build's flags give every RUN step: --add-host lines, --ulimit, --shm-size."""

    extra_hosts: Sequence[tuple[str, str]] = ()  # (name, address)
    rlimits: Sequence[tuple[str, int, int]] = ()
    shm_size: int | None = None


def run_step(
    store: Store,
    layers: Sequence[Digest],
    upper: Path,
    argv: list[str],
    *,
    env: list[str],
    workdir: str,
    user: str,
    network: str = "host",
    stdout: Output = None,
    stderr: Output = None,
    runtime: str | None = None,
    state_root: Path,
    limits: StepLimits | None = None,
) -> int:
    """Run ``argv`` over ``layers`` with ``upper`` as the writable layer; return its status.

    ``stdout``/``stderr``: a file object or fd to stream the output to (None: ours). 127 means
    the command was not found, 126 that it could not be executed. The working directory is
    made if missing, as docker does.
    """
    if not argv:
        raise ContainerError("no command given for the step")
    require_root("a RUN instruction")
    import tempfile  # (build only: containers reach this module for its helpers below)

    oci = Runtime(runtime, state_root)
    upper = Path(upper)
    upper.mkdir(mode=0o755, parents=True, exist_ok=True)
    bundle = Path(tempfile.mkdtemp(prefix=".step-", dir=upper.parent))
    rootfs = bundle / "rootfs"
    work = bundle / "work"
    rootfs.mkdir()
    work.mkdir()
    container_id = "lamina-step-" + os.urandom(8).hex()
    mounted = False
    try:
        mount_overlay(store, layers, upper, work, rootfs)
        mounted = True
        fs = RootFS(rootfs)
        who = resolve_user(fs, user)
        cwd = fs.makedirs(workdir or "/", uid=who.uid, gid=who.gid)
        env = with_defaults(env, who.home)
        _, code = fs.find_executable(argv[0], path_of(env))
        if code:
            _say(stderr, exec_error(argv[0], code) + "\n")
            return code
        limits = limits or StepLimits()
        binds = _network_files(fs, bundle, limits.extra_hosts, network)
        spec = build_spec(ContainerSpec(
            rootfs=str(rootfs), args=argv, env=env, cwd=cwd, user=who,
            hostname=container_id[-12:], network=network, binds=binds,
            rlimits=limits.rlimits, shm_size=limits.shm_size,
            # the default seccomp profile, as docker's builder confines RUN
            seccomp=Security().seccomp_spec(capabilities((), ())),
        ))
        (bundle / "config.json").write_text(json.dumps(spec))
        result = subprocess.run(
            oci.command("run", "--bundle", str(bundle), container_id),
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, check=False,
        )
        return result.returncode
    finally:
        if mounted:
            unmount(rootfs)
        shutil.rmtree(bundle, ignore_errors=True)


def exec_error(command: str, code: int) -> str:
    """The runtime's words for a command that cannot run, as docker shows them."""
    if code == 127:
        where = "no such file or directory" if "/" in command else \
            "executable file not found in $PATH"
        return f'exec: "{command}": {where}'
    return f'exec: "{command}": permission denied'


def with_defaults(env: Sequence[str], home: str = "/") -> list[str]:
    """docker's additions: PATH if the image has none, HOME from the user's passwd entry."""
    result = list(env)
    names = {e.partition("=")[0] for e in result}
    if "PATH" not in names:
        result.insert(0, f"PATH={DEFAULT_PATH}")
    if "HOME" not in names:
        result.append(f"HOME={home or '/'}")
    return result


def path_of(env: Sequence[str]) -> str:
    for entry in reversed(env):
        key, _, value = entry.partition("=")
        if key == "PATH":
            return value
    return DEFAULT_PATH


def _network_files(fs: RootFS, bundle: Path, extra_hosts: Sequence[tuple[str, str]] = (),
                   network: str = "host") -> list[Bind]:
    """With the host's network, the host's resolver configuration, where the image has one;
    with --add-host, a hosts file (the host's, or docker's own without the host's network)
    and its lines after it, whether the image has one or not (the build removes the mount
    point it then leaves: ``lamina.build.filesystem``).

    A copy, bind-mounted: the step cannot change the host's file, and nothing is added to the
    layer when the image has no such file."""
    from lamina.runtime.bundle import HOSTS

    binds = []
    for name in ("resolv.conf", "hosts"):
        hosts_needed = name == "hosts" and bool(extra_hosts)
        if network != "host" and not hosts_needed:
            continue
        target = fs.resolve(f"/etc/{name}")
        if fs.read(target) is None and not hosts_needed:
            continue
        try:
            data = Path("/etc", name).read_bytes() if network == "host" else HOSTS.encode()
        except OSError:
            if not hosts_needed:
                continue
            data = HOSTS.encode()
        if name == "hosts" and extra_hosts:
            data = data.rstrip(b"\n") + b"\n" + b"".join(
                f"{address}\t{host}\n".encode() for host, address in extra_hosts)
        copy = bundle / name
        copy.write_bytes(data)
        os.chmod(copy, 0o644)
        binds.append(Bind(str(copy), target, readonly=True))
    return binds


def _say(stream: Output, text: str) -> None:
    """Write a line of our own where the command's stderr goes (a subprocess target has an fd)."""
    if stream is None:
        fd = 2
    elif isinstance(stream, int):
        fd = stream
    else:
        stream.flush()
        fd = stream.fileno()
    os.write(fd, text.encode())
