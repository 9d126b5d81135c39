"""``version`` and ``info``: docker's objects (its field names, so ``--format`` templates
written for docker work), with lamina's own values.

lamina has no daemon: the "server" is lamina itself, working on the store this command
opened; its storage driver is overlay (overlayfs over layer snapshots), its runtimes the OCI
runtimes found on PATH, its security options those every container gets by default.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from lamina.errors import LaminaError
from lamina.store import Store

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def lamina_version() -> str:
    try:
        return metadata.version("lamina")
    except metadata.PackageNotFoundError:
        return "dev"


def arch() -> str:
    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def runtime_versions() -> dict[str, tuple[str, str]]:
    """Each OCI runtime on PATH: name -> (version, commit), from its ``--version``."""
    from lamina.runtime.oci import RUNTIMES

    found = {}
    for name in RUNTIMES:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            text = subprocess.run([path, "--version"], capture_output=True, text=True,
                                  timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            text = ""
        version = commit = ""
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "commit":
                commit = value.strip()
            elif not version and "version" in line:
                version = line.split("version", 1)[1].strip()
        found[name] = (version, commit)
    return found


def version() -> dict[str, Any]:
    """docker version's object."""
    python = platform.python_version()
    engine = {
        "Name": "Engine", "Version": lamina_version(),
        "Details": {"Arch": arch(), "Os": "linux", "KernelVersion": os.uname().release,
                    "PythonVersion": python, "Experimental": "false"},
    }
    components = [engine]
    for name, (ver, commit) in runtime_versions().items():
        components.append({"Name": name, "Version": ver, "Details": {"GitCommit": commit}})
    return {
        "Client": {"Version": lamina_version(), "PythonVersion": python, "Os": "linux",
                   "Arch": arch(), "Context": "default"},
        "Server": {"Platform": {"Name": "lamina"}, "Components": components,
                   "Version": lamina_version(), "PythonVersion": python, "Os": "linux",
                   "Arch": arch(), "KernelVersion": os.uname().release,
                   "Experimental": False},
    }


def cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _backing_filesystem(path: Path) -> str:
    """The filesystem the store is on, as docker names it (extfs, xfs, tmpfs...)."""
    best, kind = "", "unknown"
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return kind
    target = str(path.resolve())
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, fields[2]
    return {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs"}.get(kind, kind)


def _os_release() -> tuple[str, str]:
    values: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def _memory_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def info(store: Store) -> dict[str, Any]:
    """docker info's object (the server's part)."""
    from lamina.engine.container_views import state_of
    from lamina.runtime.oci import find_runtime
    from lamina.runtime.seccomp import default_source

    states = [state_of(record, store) for record in store.containers.all()]
    running = sum(1 for s in states if s == "running")
    paused = sum(1 for s in states if s == "paused")
    versions = runtime_versions()
    runtimes = {name: {"path": shutil.which(name) or name} for name in versions}
    try:
        default_runtime = Path(find_runtime()).name
    except LaminaError:  # none installed: info still answers
        default_runtime = ""
    security = ["name=seccomp,profile=" + ("default" if default_source() != "builtin"
                                            else "builtin")]
    from lamina.runtime.security import apparmor_enabled

    if apparmor_enabled():
        security.insert(0, "name=apparmor")
    if os.geteuid() != 0:
        security.append("name=rootless")
    name, version_id = _os_release()
    default_commit = versions.get(default_runtime, ("", ""))[1]
    return {
        "ID": "",
        "Containers": len(states),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(states) - running - paused,
        "Images": len(store.images()),
        "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", _backing_filesystem(store.root)],
                         ["Supports d_type", "true"]],
        "Plugins": {"Volume": [], "Network": ["host", "none"], "Authorization": None,
                    "Log": ["json-file"]},
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "KernelVersion": os.uname().release,
        "OperatingSystem": name,
        "OSVersion": version_id,
        "OSType": "linux",
        "Architecture": os.uname().machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _memory_total(),
        "DockerRootDir": str(store.root),
        "Name": os.uname().nodename,
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": lamina_version(),
        "Runtimes": runtimes,
        "DefaultRuntime": default_runtime,
        "LiveRestoreEnabled": False,
        "RuncCommit": {"ID": default_commit, "Expected": default_commit},
        "SecurityOptions": security,
        "SeccompProfile": default_source(),
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "Debug": False,
        "Warnings": None,
    }
