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
        release_network(self)
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
        return _write_bundle(cdir, record, runtime, _joined_namespaces(store, record))
    except BaseException:
        release_network(cdir)
        unmount(cdir.rootfs)
        raise


def _joined_namespaces(store: Store, record: ContainerRecord) -> dict[str, str]:
    """--ipc/--pid/--uts/--cgroupns as the spec takes them: "container:X" becomes the path
    of X's namespace, which must be running."""
    host = record.config.get("HostConfig", {})
    modes = {"ipc": host.get("IpcMode") or "", "pid": host.get("PidMode") or "",
             "uts": host.get("UTSMode") or "", "cgroup": host.get("CgroupnsMode") or "host"}
    for kind, mode in modes.items():
        if mode == "private" or mode == "shareable":
            modes[kind] = ""
        elif mode.startswith("container:"):
            other = store.containers.find(mode[10:])
            if other.state != "running" or not other.pid:
                raise ContainerError(f"cannot join {kind} of a non running container: "
                                     f"{other.id[:12]}", exit_code=125)
            modes[kind] = f"/proc/{other.pid}/ns/{kind}"
    return modes


def init_binary() -> str:
    """The init ``--init`` runs: Debian's tini, static (the image may have no libc)."""
    import shutil

    for name in ("tini-static", "docker-init"):
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}")
                                       else None)
        if found:
            return found
    raise ContainerError("--init needs tini: install Debian's tini package (tini-static was "
                         "not found)", exit_code=125)


INIT_PATH = "/sbin/docker-init"  # where docker puts its init in the container


def _extra_mounts(host: dict[str, Any]) -> tuple[list[Bind], list[dict[str, Any]]]:
    """--mount binds, and the tmpfs mounts of --tmpfs and --mount type=tmpfs."""
    binds: list[Bind] = []
    mounts: list[dict[str, Any]] = []
    for path, text in (host.get("Tmpfs") or {}).items():
        options = ["nosuid", "nodev", "noexec"]
        for option in (o for o in text.split(",") if o):
            opposite = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}.get(option)
            if opposite in options:
                options.remove(opposite)
            options.append(option)
        mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs",
                       "options": options})
    for m in host.get("Mounts") or []:
        if m["Type"] == "bind":
            binds.append(Bind(os.path.normpath(m["Source"]), os.path.normpath(m["Target"]),
                              bool(m.get("ReadOnly"))))
        elif m["Type"] == "tmpfs":
            options = ["nosuid", "nodev", "noexec"]
            tmpfs = m.get("TmpfsOptions") or {}
            if tmpfs.get("SizeBytes"):
                options.append(f"size={tmpfs['SizeBytes']}")
            if tmpfs.get("Mode"):
                options.append(f"mode={tmpfs['Mode']:o}")
            if m.get("ReadOnly"):
                options.append("ro")
            mounts.append({"destination": os.path.normpath(m["Target"]), "type": "tmpfs",
                           "source": "tmpfs", "options": options})
    return binds, mounts


def _devices(host: dict[str, Any]) -> list[dict[str, Any]]:
    """--device: the host's node (type, numbers, mode) at its path in the container."""
    import stat

    devices = []
    for d in host.get("Devices") or []:
        try:
            st = os.stat(d["PathOnHost"])
        except OSError as exc:
            raise ContainerError(f"error gathering device information while adding custom "
                                 f"device \"{d['PathOnHost']}\": {exc.strerror}",
                                 exit_code=125) from None
        devices.append({
            "path": d["PathInContainer"], "type": "b" if stat.S_ISBLK(st.st_mode) else "c",
            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "access": d.get("CgroupPermissions") or "rwm",
        })
    return devices


def _with_devices(base: Any, asked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """--privileged's host devices, and --device's (which win where both name a path)."""
    paths = {d["path"] for d in asked}
    return [*(dict(d) for d in base if d.get("path") not in paths), *asked]


def _blkio_weight(weight: int | None) -> int | None:
    """docker drops a block I/O weight the kernel has no file for, with a warning."""
    if not weight:
        return None
    if not any(os.path.exists(f"/sys/fs/cgroup/{p}") for p in  # (hostconfig's check too)
               ("blkio/blkio.weight", "blkio/blkio.bfq.weight", "io.weight", "io.bfq.weight")):
        import sys

        sys.stderr.write("WARNING: Your kernel does not support Block I/O weight or the cgroup "
                         "is not mounted. Weight discarded.\n")
        return None
    return weight


def _write_bundle(cdir: ContainerDir, record: ContainerRecord,
                  runtime: Runtime | None = None,
                  namespaces: dict[str, str] | None = None) -> Prepared:
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
    network = host.get("NetworkMode", "none")
    if _bridged(record):
        from lamina.network.attach import connect

        # an address, a namespace with its veths, the NAT and ports, /etc/hosts, resolv.conf
        network = str(connect(cdir.path.parent.parent, cdir.path, record))
    else:
        _write_etc(cdir, hostname, network, host)
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
        if not text.startswith("/"):
            continue  # a volume: in MountPoints, resolved
        bind = parse_bind(text)
        # docker makes a missing host directory for a bind (a file is bound as it is)
        if not os.path.exists(bind.source):
            os.makedirs(bind.source, mode=0o755, exist_ok=True)
        binds.append(bind._replace(recursive=recursive))
    points = record.config.get("MountPoints") or ()
    binds += [b._replace(recursive=recursive)
              for b in volume_binds(fs, [p for p in points if not p.get("Tmpfs")])]
    more_binds, mounts = _extra_mounts(host)
    mounts += [_tmpfs_volume(p) for p in points if p.get("Tmpfs")]
    # (--mount binds are read-only all the way down as -v ones are, where the runtime can)
    binds += [b._replace(recursive=recursive) for b in more_binds]
    if host.get("Init"):
        binds.append(Bind(init_binary(), INIT_PATH, readonly=True, recursive=False))
        args = [INIT_PATH, "--", *args]
    resources = Resources(
        memory=host.get("Memory") or None,
        cpus=(host["NanoCpus"] / 1e9) if host.get("NanoCpus") else None,
        pids_limit=host.get("PidsLimit") or None,
        memory_swap=host.get("MemorySwap") or None,
        memory_reservation=host.get("MemoryReservation") or None,
        oom_kill_disable=bool(host.get("OomKillDisable")),
        cpu_shares=host.get("CpuShares") or None,
        cpuset_cpus=host.get("CpusetCpus") or None,
        cpu_quota=host.get("CpuQuota") or None,
        cpu_period=host.get("CpuPeriod") or None,
        blkio_weight=_blkio_weight(host.get("BlkioWeight")),
    )
    security = Security.of(host)
    cap_add, cap_drop = host.get("CapAdd") or (), host.get("CapDrop") or ()
    caps = bounding_caps() if security.privileged else capabilities(cap_add, cap_drop)
    spec = build_spec(ContainerSpec(
        rootfs="rootfs", args=args, env=env, cwd=cwd, user=user, hostname=hostname,
        network=network, terminal=bool(config.get("Tty")),
        readonly=readonly, binds=binds, cap_add=cap_add, cap_drop=cap_drop,
        resources=resources, cgroups_path=cgroup_path(record.id),
        annotations=host.get("Annotations") or {},
        rlimits=[(u["Name"], u["Soft"], u["Hard"]) for u in host.get("Ulimits") or []],
        shm_size=host.get("ShmSize") or None, mounts=mounts,
        namespaces=namespaces or {}, domainname=config.get("Domainname") or "",
        privileged=security.privileged, seccomp=security.seccomp_spec(caps),
        no_new_privileges=security.no_new_privileges, apparmor=security.apparmor_profile(),
        unmasked=security.unmasked, group_add=group_add,
        devices=_with_devices(host_devices() if security.privileged else (), _devices(host)),
    ))
    (cdir.path / "config.json").write_text(json.dumps(spec))
    return Prepared(spec, user)


def volume_binds(fs: RootFS, points: Sequence[dict[str, Any]]) -> list[Bind]:
    """The container's volumes as binds; an empty volume first gets the image's content at
    its path (docker's copy-up; not with ``nocopy``)."""
    binds = []
    for point in points:
        source = Path(point["Source"])
        if not source.is_dir():
            raise ContainerError(f"error while mounting volume '{source}': the volume "
                                 f"{point.get('Name', '')} has no data directory", exit_code=125)
        if not point.get("NoCopy") and not any(source.iterdir()):
            _copy_up(fs, point["Destination"], source)
        binds.append(Bind(str(source), point["Destination"], not point.get("RW", True)))
    return binds


def _tmpfs_volume(point: dict[str, Any]) -> dict[str, Any]:
    """A ``type=tmpfs`` volume: a tmpfs of its own in each container that mounts it, with the
    volume's ``o`` options (``size=``...), as the local driver mounts it."""
    options = [o for o in str(point.get("TmpfsOptions") or "").split(",") if o and o != "bind"]
    if not point.get("RW", True):
        options.append("ro")
    return {"destination": point["Destination"], "type": "tmpfs", "source": "tmpfs",
            "options": options}


def _copy_up(fs: RootFS, destination: str, volume: Path) -> None:
    import subprocess

    inside = fs.root / fs.resolve(destination).lstrip("/")  # symlinks kept inside the rootfs
    if not inside.is_dir() or inside.is_symlink():
        return
    # cp -a: owners, modes, times, links and xattrs as the image has them, and the
    # directory's own owner and mode onto the volume's root (as docker's copy-up)
    done = subprocess.run(["cp", "-a", "--", f"{inside}/.", str(volume)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ContainerError(f"copying the image's {destination} into its volume failed: "
                             f"{done.stderr.strip()}", exit_code=125)


def _bridged(record: ContainerRecord) -> bool:
    mode = record.config.get("HostConfig", {}).get("NetworkMode") or "none"
    return mode not in ("host", "none")


def release_network(cdir: ContainerDir) -> None:
    """The container's network endpoints and namespace go (when it had any)."""
    if (cdir.path / "netns").exists():
        from lamina.network.attach import release

        release(cdir.path.parent.parent, cdir.id, cdir.path)


def _write_etc(cdir: ContainerDir, hostname: str, network: str,
               host: dict[str, Any] | None = None) -> None:
    (cdir.path / "hostname").write_text(hostname + "\n")
    hosts = HOSTS
    if network == "host":
        try:
            hosts = Path("/etc/hosts").read_text()
        except OSError:
            hosts = HOSTS
    # (without a network, docker writes no line for the container's own name: it has no
    # address to give it)
    host = host or {}
    if host.get("ExtraHosts"):
        from lamina.network.etc import extra_host_lines

        hosts += extra_host_lines(host["ExtraHosts"], None)
    (cdir.path / "hosts").write_text(hosts)
    try:
        resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        resolv = ""
    if network != "host":
        # Without a network, a nameserver on the host's loopback cannot be reached anyway.
        resolv = "".join(line + "\n" for line in resolv.splitlines()
                         if not line.startswith("nameserver 127."))
    if host.get("Dns") or host.get("DnsSearch") or host.get("DnsOptions"):
        from lamina.network.etc import resolv_conf

        resolv = resolv_conf(resolv, dns=host.get("Dns") or (), search=host.get("DnsSearch")
                             or (), options=host.get("DnsOptions") or (), network=network)
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

