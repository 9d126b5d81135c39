"""Links, addresses, routes and namespaces, through netlink (pyroute2).

A container's network namespace is made by a forked child that unshares its network
namespace, makes the veth pair there (``eth0`` stays, the other end is sent to our namespace),
gives ``eth0`` its MAC, address and default route, brings ``lo`` up, and bind-mounts its
namespace onto a file in the container's directory; runc then joins that file's namespace
(the spec names its path). Removing the file's mount and the container's processes ending
destroys the namespace, and with it both ends of the veth: nothing else is to be undone.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, NamedTuple

from lamina.errors import ContainerError

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8


def _iproute() -> Any:
    from pyroute2.iproute.linux import IPRoute

    return IPRoute()


def link_exists(device: str) -> bool:
    """Whether a link of that name is in our namespace. (/proc/self/net is our namespace's
    view; /sys/class/net is that of whoever mounted /sys, which may be another one.)"""
    try:
        with open("/proc/self/net/dev") as f:
            return any(line.split(":", 1)[0].strip() == device for line in f.readlines()[2:])
    except OSError:
        return True  # cannot tell: let netlink look


class Bridge(NamedTuple):
    device: str
    gateway: str
    prefix: int


def _ensure_bridge(bridge: Bridge) -> None:
    """The network's bridge, up, with the gateway's address (made when missing)."""
    with _iproute() as ip:
        found = ip.link_lookup(ifname=bridge.device)
        if not found:
            with suppress(Exception):  # another command made it meanwhile
                ip.link("add", ifname=bridge.device, kind="bridge")
            found = ip.link_lookup(ifname=bridge.device)
            if not found:
                raise ContainerError(f"cannot create the bridge {bridge.device}", exit_code=125)
        index = found[0]
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                for a in ip.get_addr(index=index, family=2)}
        if (bridge.gateway, bridge.prefix) not in have:
            with suppress(Exception):
                ip.addr("add", index=index, address=bridge.gateway, prefixlen=bridge.prefix)
        ip.link("set", index=index, state="up")
    _sysctl("net/ipv4/ip_forward", "1")
    # a port published on 127.0.0.1 is DNATed to a container: the kernel must route it
    _sysctl(f"net/ipv4/conf/{bridge.device}/route_localnet", "1")


def remove_link(device: str) -> None:
    with suppress(ContainerError):
        _in_child(_remove_link, (device,), f"cannot remove {device}")


def _remove_link(device: str) -> None:
    with _iproute() as ip:
        found = ip.link_lookup(ifname=device)
        if found:
            ip.link("del", index=found[0])


def _sysctl(name: str, value: str) -> None:
    with suppress(OSError):
        Path("/proc/sys", name).write_text(value)


class Plug(NamedTuple):
    """One veth: ``ifname`` in the container's namespace, ``veth`` on ``bridge``."""

    veth: str
    ifname: str
    bridge: str
    address: str
    prefix: int
    gateway: str | None
    mac: str
    first: bool


def make_namespace(path: Path, plugs: Sequence[Plug], bridges: Sequence[Bridge]) -> None:
    """A network namespace pinned at ``path``: lo up, and a veth to each plug's bridge (the
    bridges made first, when missing)."""
    path.touch(0o444)
    _in_child(_make_namespace, (path, list(plugs), list(bridges)),
              "cannot create the container's network namespace")


def _make_namespace(path: Path, plugs: Sequence[Plug], bridges: Sequence[Bridge]) -> None:
    for bridge in bridges:
        _ensure_bridge(bridge)
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    _pin(path, plugs, host_ns)
    _setns_fd(host_ns)
    _attach_host_ends(plugs)


def plug(path: Path, p: Plug, bridge: Bridge) -> None:
    """One more veth into the namespace pinned at ``path`` (``network connect``)."""
    _in_child(_plug, (path, p, bridge), f"cannot connect the container to bridge {p.bridge}")


def _plug(path: Path, p: Plug, bridge: Bridge) -> None:
    _ensure_bridge(bridge)
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    _setns(path)
    _make_veths([p], host_ns)
    _setns_fd(host_ns)
    _attach_host_ends([p])


def _make_veths(plugs: Sequence[Plug], host_ns: int) -> None:
    """In the container's namespace: each veth made, its other end sent to ``host_ns``."""
    with _iproute() as ip:
        for p in plugs:
            ip.link("add", ifname=p.ifname, kind="veth",
                    peer={"ifname": p.veth, "net_ns_fd": host_ns})
            index = ip.link_lookup(ifname=p.ifname)[0]
            ip.link("set", index=index, address=p.mac)
            ip.addr("add", index=index, address=p.address, prefixlen=p.prefix)
            ip.link("set", index=index, state="up")
            if p.first and p.gateway:
                ip.route("add", dst="0.0.0.0/0", gateway=p.gateway)


def _attach_host_ends(plugs: Sequence[Plug]) -> None:
    with _iproute() as ip:
        for p in plugs:
            found = ip.link_lookup(ifname=p.veth)
            master = ip.link_lookup(ifname=p.bridge)
            if not found or not master:
                raise ContainerError(f"cannot connect the container to bridge {p.bridge}",
                                     exit_code=125)
            ip.link("set", index=found[0], master=master[0], state="up")


def unplug(path: Path, ifname: str) -> None:
    """Remove ``ifname`` (and so its veth peer) from the namespace at ``path``."""
    if not path.exists():
        return
    with suppress(ContainerError):
        _in_child(_unplug, (path, ifname), "cannot disconnect")


def _unplug(path: Path, ifname: str) -> None:
    _setns(path)
    with _iproute() as ip:
        found = ip.link_lookup(ifname=ifname)
        if found:
            ip.link("del", index=found[0])


def remove_namespace(path: Path) -> None:
    """Unpin the namespace (the kernel frees it once no process is in it) and remove the file."""
    _libc().umount2(os.fsencode(path), MNT_DETACH | UMOUNT_NOFOLLOW)  # not mounted: EINVAL
    with suppress(OSError):
        path.unlink()


_LIBC: Any = None


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _pin(path: Path, plugs: Sequence[Plug], host_ns: int) -> None:
    libc = _libc()
    if libc.unshare(CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    with _iproute() as ip:
        ip.link("set", index=ip.link_lookup(ifname="lo")[0], state="up")
    _make_veths(plugs, host_ns)
    if libc.mount(b"/proc/self/ns/net", os.fsencode(path), None, ctypes.c_ulong(MS_BIND),
                  None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _setns(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns_fd(fd)
    finally:
        os.close(fd)


def _setns_fd(fd: int) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


# A child forked ahead of time (``warm``), per thread: it loads pyroute2 while its parent
# goes on preparing the container, then does the parent's next netlink work.
_WARM = threading.local()


class _Worker(NamedTuple):
    pid: int
    request: int  # the parent's end: the pickled work
    reply: int  # the parent's end: the child's error, if any


def warm() -> None:
    """Fork the child that will do this thread's next netlink work now. Loading pyroute2
    (tens of milliseconds) is most of what a bridged container's start costs over one on the
    host's network; the child does it while the caller creates and mounts the container."""
    if getattr(_WARM, "worker", None) is not None:
        return
    request_r, request_w = os.pipe2(os.O_CLOEXEC)
    reply_r, reply_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns into the caller's stack
        gc.disable()  # no finalisers of the parent's copied objects (an SQLite connection)
        code = 1
        try:
            _close_all_but({0, 1, 2, request_r, reply_w})
            with suppress(Exception):
                import pyroute2.iproute.linux  # noqa: F401
            data = _read_all(request_r)
            if data:
                func, args = pickle.loads(data)
                try:
                    func(*args)
                    code = 0
                except BaseException as exc:
                    with suppress(OSError):
                        os.write(reply_w, str(exc).encode()[:1000])
            else:
                code = 0  # not needed after all
        finally:
            os._exit(code)
    os.close(request_r)
    os.close(reply_w)
    _WARM.worker = _Worker(pid, request_w, reply_r)


def cool() -> None:
    """This thread's warm child, unused: it goes."""
    worker: _Worker | None = getattr(_WARM, "worker", None)
    _WARM.worker = None
    if worker is None:
        return
    os.close(worker.request)
    os.close(worker.reply)
    with suppress(OSError):
        os.kill(worker.pid, signal.SIGKILL)
    _wait(worker.pid)


def _close_all_but(keep: set[int]) -> None:
    low = 3
    for fd in sorted(f for f in keep if f >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _in_child(work: Callable[..., None], args: tuple[Any, ...], what: str) -> None:
    """Run ``work(*args)`` in a child (namespaces are changed there, never here): the warm
    one when there is one, else a child forked now."""
    worker: _Worker | None = getattr(_WARM, "worker", None)
    _WARM.worker = None
    if worker is not None:
        try:
            os.write(worker.request, pickle.dumps((work, args)))  # (small: one pipe buffer)
        except OSError:  # it has gone (killed): a child of now does the work
            _WARM.worker = worker
            cool()
            worker = None
        else:
            os.close(worker.request)
    if worker is not None:
        try:
            message = _read_all(worker.reply)
        finally:
            os.close(worker.reply)
        status = _wait(worker.pid)
    else:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns into the caller's stack
            code = 0
            try:
                os.close(read_end)
                work(*args)
            except BaseException as exc:
                with suppress(OSError):
                    os.write(write_end, str(exc).encode()[:1000])
                code = 1
            finally:
                os._exit(code)
        os.close(write_end)
        try:
            message = _read_all(read_end)
        finally:
            os.close(read_end)
        status = _wait(pid)
    if status != 0:
        detail = message.decode(errors="replace")
        raise ContainerError(f"{what}: {detail}" if detail else what, exit_code=125)
