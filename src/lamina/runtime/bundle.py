"""A container's directory, and the OCI bundle made from it each time it starts.

``containers/<id>/`` holds::

    init/      docker's "init layer": mount points the runtime needs (proc, sys, dev, and
               /etc/hostname, hosts, resolv.conf), and what programs expect of a container
               (/.dockerenv, /etc/mtab -> /proc/mounts), stacked over the image so they never
               show up in the container's own changes (diff, commit)
    upper/     the container's writable layer;  work/  overlayfs' work directory
    rootfs/    where the overlay is mounted while it runs
    config.json            the OCI runtime spec (with rootfs/, the bundle)
    hostname hosts resolv.conf   bind-mounted over the /etc files
    <id>-json.log          stdout and stderr, docker's json-file lines
    monitor.lock           held by the monitor while the container runs
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from lamina.errors import ContainerError, InvalidArgument
from lamina.model.digest import Digest
from lamina.runtime.cgroups import cgroup_path
from lamina.runtime.mounts import mount_overlay, unmount
from lamina.runtime.oci import Runtime
from lamina.runtime.rootpath import RootFS
from lamina.runtime.security import Security, host_devices
from lamina.runtime.spec import (
    Bind,
    ContainerSpec,
    Resources,
    bounding_caps,
    build_spec,
    capabilities,
)
from lamina.runtime.step import exec_error, path_of, with_defaults
from lamina.runtime.users import User, added_groups, resolve_user
from lamina.store import ContainerRecord, Store
from lamina.store.scratch import remove_tree

ETC_FILES = ("hostname", "hosts", "resolv.conf")
HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
         "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
         "ff02::2\tip6-allrouters\n")


class ContainerDir(NamedTuple):
    """A container's directory (see the module docstring) and the paths in it."""

    path: Path

    @classmethod
    def of(cls, store: Store, container_id: str) -> ContainerDir:
        return cls(store.containers_dir / container_id)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def upper(self) -> Path:
        return self.path / "upper"

    @property
    def work(self) -> Path:
        return self.path / "work"

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def init(self) -> Path:
        return self.path / "init"

    @property
    def log(self) -> Path:
        return self.path / f"{self.id}-json.log"

    @property
    def lock(self) -> Path:
        return self.path / "monitor.lock"

    @property
    def runtime_log(self) -> Path:
        return self.path / "runtime.log"

    @property
    def pid_file(self) -> Path:
        return self.path / "init.pid"

    def create(self) -> None:
        """Make the directory with its init layer (mode 0700: it holds the container's files)."""
        self.path.mkdir(mode=0o700)
        for sub in ("upper", "work", "rootfs"):
            (self.path / sub).mkdir(mode=0o755)
        init = self.init
        for sub in ("init", "init/proc", "init/sys", "init/dev", "init/etc"):
            (self.path / sub).mkdir(mode=0o755)
        for name in ETC_FILES:
            (init / "etc" / name).touch(0o644)
        (init / ".dockerenv").touch(0o755)  # how programs tell they run in a container
        (init / "etc" / "mtab").symlink_to("/proc/mounts")
        (self.path / "init/dev/pts").mkdir(mode=0o755)
        (self.path / "init/dev/shm").mkdir(mode=0o755)

    def remove(self) -> None:
        unmount(self.rootfs)
        if os.path.ismount(self.rootfs):  # never delete through a mount
            raise ContainerError(f"the root filesystem of container {self.id[:12]} is still "
                                 "mounted; not removing it")
        with suppress(OSError):
            remove_tree(self.path)  # iterative: a container may have made a tree of any depth
        if self.path.exists():
            raise ContainerError(f"cannot remove the directory of container {self.id[:12]}")


def layers_of(store: Store, record: ContainerRecord) -> list[Digest]:
    return [layer.chain_id for layer in store.image(record.image_id).layers]


def mount_rootfs(store: Store, cdir: ContainerDir, record: ContainerRecord) -> None:
    if os.path.ismount(cdir.rootfs):
        return
    lowers = layers_of(store, record)
    autoremove = bool(record.config.get("HostConfig", {}).get("AutoRemove"))
    mount_overlay(store, lowers, cdir.upper, cdir.work, cdir.rootfs, extra_top=[cdir.init],
                  volatile=autoremove)


class Prepared(NamedTuple):
    """A bundle ready to run: its runtime spec, and the user its process runs as."""

    spec: dict[str, Any]
    user: User


def prepare(store: Store, cdir: ContainerDir, record: ContainerRecord,
            runtime: Runtime | None = None) -> Prepared:
    """Mount the rootfs and write the bundle's config.json; unmounted again if this fails.

    Raises ContainerError with exit code 127 or 126 when the command cannot run, as docker.
    """
    mount_rootfs(store, cdir, record)
    try:
        return _write_bundle(cdir, record, runtime)
    except BaseException:
        unmount(cdir.rootfs)
        raise


def _write_bundle(cdir: ContainerDir, record: ContainerRecord,
                  runtime: Runtime | None = None) -> Prepared:
    config = record.config.get("Config", {})
    host = record.config.get("HostConfig", {})
    args = [record.config.get("Path", ""), *record.config.get("Args", [])]
    if not args[0]:
        raise ContainerError("no command specified", exit_code=125)
    fs = RootFS(cdir.rootfs)
    user = resolve_user(fs, config.get("User") or "")
    group_add = added_groups(fs, host.get("GroupAdd") or ())
    cwd = fs.makedirs(config.get("WorkingDir") or "/")
    hostname = config.get("Hostname") or record.id[:12]
    env = [f"HOSTNAME={hostname}", *(["TERM=xterm"] if config.get("Tty") else [])]
    env = replace_env(env, config.get("Env") or [])
    env = with_defaults(env, user.home)
    _, code = fs.find_executable(args[0], path_of(env))
    if code:
        raise ContainerError(f"unable to start container process: {exec_error(args[0], code)}",
                             exit_code=code)
    _write_etc(cdir, hostname, host.get("NetworkMode", "none"))
    readonly = bool(host.get("ReadonlyRootfs"))
    # --read-only: the /etc files too, as docker has them
    binds = [Bind(str(cdir.path / name), f"/etc/{name}", readonly, recursive=False)
             for name in ETC_FILES]
    # Read-only binds are so all the way down when the runtime says it knows "rro" (runc
    # 1.1+); one that does not, or cannot say, would refuse the option: it gets the top
    # mount read-only only (docker 25+ falls back the same way).
    options = runtime.mount_options() if runtime is not None else None
    recursive = options is not None and "rro" in options
    for text in host.get("Binds") or []:
        bind = parse_bind(text)
        # docker makes a missing host directory for a bind (a file is bound as it is)
        if not os.path.exists(bind.source):
            os.makedirs(bind.source, mode=0o755, exist_ok=True)
        binds.append(bind._replace(recursive=recursive))
    resources = Resources(
        memory=host.get("Memory") or None,
        cpus=(host["NanoCpus"] / 1e9) if host.get("NanoCpus") else None,
        pids_limit=host.get("PidsLimit") or None,
    )
    security = Security.of(host)
    cap_add, cap_drop = host.get("CapAdd") or (), host.get("CapDrop") or ()
    caps = bounding_caps() if security.privileged else capabilities(cap_add, cap_drop)
    spec = build_spec(ContainerSpec(
        rootfs="rootfs", args=args, env=env, cwd=cwd, user=user, hostname=hostname,
        network=host.get("NetworkMode", "none"), terminal=bool(config.get("Tty")),
        readonly=readonly, binds=binds, cap_add=cap_add, cap_drop=cap_drop,
        resources=resources, cgroups_path=cgroup_path(record.id),
        privileged=security.privileged, seccomp=security.seccomp_spec(caps),
        no_new_privileges=security.no_new_privileges, apparmor=security.apparmor_profile(),
        unmasked=security.unmasked, group_add=group_add,
        devices=host_devices() if security.privileged else (),
    ))
    (cdir.path / "config.json").write_text(json.dumps(spec))
    return Prepared(spec, user)


def _write_etc(cdir: ContainerDir, hostname: str, network: str) -> None:
    (cdir.path / "hostname").write_text(hostname + "\n")
    hosts = HOSTS
    if network == "host":
        try:
            hosts = Path("/etc/hosts").read_text()
        except OSError:
            hosts = HOSTS
    # (without a network, docker writes no line for the container's own name: it has no
    # address to give it)
    (cdir.path / "hosts").write_text(hosts)
    try:
        resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        resolv = ""
    if network != "host":
        # Without a network, a nameserver on the host's loopback cannot be reached anyway.
        resolv = "".join(line + "\n" for line in resolv.splitlines()
                         if not line.startswith("nameserver 127."))
    (cdir.path / "resolv.conf").write_text(resolv)


def replace_env(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """docker's ReplaceOrAppendEnvValues: same names replaced in place, others appended."""
    result = list(base)
    index = {e.partition("=")[0]: i for i, e in enumerate(result)}
    for entry in overrides:
        key = entry.partition("=")[0]
        if key in index:
            result[index[key]] = entry
        else:
            index[key] = len(result)
            result.append(entry)
    return result


def parse_bind(text: str) -> Bind:
    """``SRC:DST[:ro|rw]``; SRC must be an absolute host path (named volumes are not kept)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{text}'")
    source, destination = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if not source.startswith("/"):
        raise InvalidArgument(f"named volumes are not supported: '{text}' (give an absolute "
                              "host path)")
    if not destination.startswith("/") or destination == "/":
        raise InvalidArgument(f"invalid volume specification: '{text}': the mount destination "
                              "must be an absolute path other than /")
    if mode not in ("ro", "rw", "z", "Z"):
        raise InvalidArgument(f"invalid mode: {mode}")
    return Bind(os.path.normpath(source), os.path.normpath(destination), mode == "ro")

