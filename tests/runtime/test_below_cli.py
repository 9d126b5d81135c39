"""The runtime on its own, below the engine and the CLI: the spec it generates, the mounts it
sets up, the monitor's protocol, and what it reports when a container ends (it writes nothing
to the store's database: the engine records)."""

from __future__ import annotations

import errno
import io
import os
import socket
import time
from pathlib import Path

import pytest

from helpers.images import make_layer
from lamina.engine import Engine
from lamina.engine.containers import CreateOptions
from lamina.engine.exits import RECORDER
from lamina.errors import ContainerError, InvalidArgument
from lamina.model import mediatype
from lamina.model.chain import chain_ids
from lamina.model.digest import Digest
from lamina.runtime.launch import Attach, launch, receive
from lamina.runtime.mounts import is_mounted, mount_overlay, unmount
from lamina.runtime.oci import Runtime
from lamina.runtime.spec import Bind, ContainerSpec, Resources, build_spec, recursive_readonly
from lamina.runtime.state import read_exit, settle
from lamina.runtime.users import User
from lamina.store import Store

# --------------------------------------------------------------------------- the spec


def spec(**kw: object) -> dict:
    base = dict(rootfs="/r", args=["sh"], env=["PATH=/bin"], cwd="/", user=User(0, 0),
                hostname="h")
    base.update(kw)
    return build_spec(ContainerSpec(**base))  # type: ignore[arg-type]


def test_spec_of_an_ordinary_user() -> None:
    s = spec(user=User(1000, 1000, (50, 60), "/home/alice", "alice"))
    process = s["process"]
    # docker's groups: the primary group first, then the groups that list the user
    assert process["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50, 60]}
    # docker gives a non-root user its bounding set and nothing effective or permitted.
    assert process["capabilities"]["bounding"]
    assert process["capabilities"]["effective"] == process["capabilities"]["permitted"] == []
    assert spec()["process"]["user"]["additionalGids"] == [0]  # root: groups=0(root)


def test_spec_networks() -> None:
    def namespaces(network: str) -> set[str]:
        return {n["type"] for n in spec(network=network)["linux"]["namespaces"]}

    assert "network" in namespaces("none")
    assert "network" not in namespaces("host")
    with pytest.raises(InvalidArgument, match="not supported"):
        spec(network="bridge")


def test_spec_resources() -> None:
    resources = spec(resources=Resources(memory=64 << 20, cpus=1.5, pids_limit=100))
    resources = resources["linux"]["resources"]
    assert resources["memory"] == {"limit": 64 << 20}
    assert resources["cpu"] == {"quota": 150_000, "period": 100_000}
    assert resources["pids"] == {"limit": 100}
    assert resources["devices"] == [{"allow": False, "access": "rwm"}]
    assert set(spec()["linux"]["resources"]) == {"devices"}


def test_spec_root_terminal_binds_and_annotations() -> None:
    s = spec(readonly=True, terminal=True, cgroups_path="lamina/x",
             binds=[Bind("/host/a", "/a"), Bind("/host/b", "/b", readonly=True)],
             annotations={"org.example": "1"})
    assert s["root"] == {"path": "/r", "readonly": True}
    assert s["process"]["terminal"] is True
    assert s["linux"]["cgroupsPath"] == "lamina/x"
    assert s["annotations"] == {"org.example": "1"}
    binds = [m for m in s["mounts"] if m["type"] == "bind"]
    assert binds == [
        {"destination": "/a", "type": "bind", "source": "/host/a",
         "options": ["rbind", "rprivate"]},
        {"destination": "/b", "type": "bind", "source": "/host/b",
         "options": ["rbind", "rprivate", "ro", *(["rro"] if recursive_readonly() else [])]},
    ]
    # The binds come after the kernel filesystems, so that none of them hides one.
    kinds = [m["type"] for m in s["mounts"]]
    assert kinds.index("bind") > kinds.index("sysfs")


# --------------------------------------------------------------------------- exit notes


@pytest.mark.parametrize("data, expected", [
    (b"3 1700000000.5", (3, 1700000000.5)),
    (b"0 1.0\n", (0, 1.0)),
    (b"", None),
    (b"3", None),
    (b"x 1.0", None),
    (b"1 2 3", None),
])
def test_read_exit(data: bytes, expected: tuple[int, float] | None) -> None:
    assert read_exit(data) == expected


# --------------------------------------------------------------------------- mounts

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def _layers(store: Store, contents: list[dict[str, bytes]]) -> list[Digest]:
    """Snapshots of plain tar layers, bottom first."""
    tars = [make_layer(files) for files in contents]
    diff_ids = [Digest.of(t) for t in tars]
    chains = chain_ids(diff_ids)
    with store.adding() as tx:
        for tar, diff_id, chain in zip(tars, diff_ids, chains, strict=True):
            tx.unpack(chain, io.BytesIO(tar), mediatype.OCI_LAYER, diff_id)
    return chains


@root_only
def test_overlay_stacks_layers_under_a_writable_upper(tmp_path: Path) -> None:
    with Store(tmp_path / "store") as store:
        layers = _layers(store, [{"etc/a": b"bottom\n", "etc/b": b"b\n"},
                                 {"etc/a": b"top\n", "etc/.wh.b": b""}])
        upper, work, target = tmp_path / "upper", tmp_path / "work", tmp_path / "rootfs"
        for d in (upper, work, target):
            d.mkdir()
        mount_overlay(store, layers, upper, work, target)
        try:
            assert is_mounted(target)
            assert (target / "etc" / "a").read_bytes() == b"top\n"
            assert not (target / "etc" / "b").exists()  # the top layer's whiteout
            (target / "etc" / "new").write_text("made\n")
        finally:
            unmount(target)
        assert not is_mounted(target)
        assert (upper / "etc" / "new").read_text() == "made\n"
        # The snapshots are as they were: the container wrote to its upper only.
        assert not (store.snapshots.path(layers[-1]) / "etc" / "new").exists()


@root_only
def test_overlay_without_upper_is_read_only(tmp_path: Path) -> None:
    with Store(tmp_path / "store") as store:
        # (overlayfs takes no upper with fewer than two lowers: export's view has three.)
        layers = _layers(store, [{"etc/a": b"a\n"}, {"etc/b": b"b\n"}])
        target = tmp_path / "rootfs"
        target.mkdir()
        mount_overlay(store, layers, None, None, target)
        try:
            assert (target / "etc" / "a").read_bytes() == b"a\n"
            with pytest.raises(OSError) as caught:
                (target / "etc" / "x").write_text("no")
            assert caught.value.errno == errno.EROFS
        finally:
            unmount(target)


@root_only
def test_overlay_of_many_layers_goes_through_short_links(tmp_path: Path) -> None:
    """Past the page of mount options the kernel takes, the layers are named by short links."""
    with Store(tmp_path / "store") as store:
        layers = _layers(store, [{f"layer/{i}": str(i).encode()} for i in range(70)])
        target = tmp_path / "rootfs"
        target.mkdir()
        mount_overlay(store, layers, None, None, target)
        try:
            assert sorted(os.listdir(target / "layer"), key=int) == [str(i) for i in range(70)]
        finally:
            unmount(target)
        assert len(os.listdir(tmp_path / "lower")) == 70


@root_only
def test_overlay_refuses_what_it_cannot_mount(tmp_path: Path) -> None:
    with Store(tmp_path / "store") as store:
        target = tmp_path / "rootfs"
        target.mkdir()
        with pytest.raises(ContainerError, match="without layers"):
            mount_overlay(store, [], None, None, target)
        missing = Digest("sha256:" + "0" * 64)
        with pytest.raises(ContainerError, match="not unpacked"):
            mount_overlay(store, [missing], None, None, target)
        assert not is_mounted(target)


# --------------------------------------------------------------------------- the monitor



@pytest.mark.root
def test_monitor_protocol_and_report(engine: Engine, busybox: str) -> None:
    """launch -> {"pid", "monitor"} (the launcher acknowledges), the output forwarded, the
    exit told to the attached launcher and noted in the lock; settle reports it and writes
    nothing to the database."""
    from lamina.runtime.attach import attach

    store = engine.store
    record = engine.create_container("busybox", ["sh", "-c", "echo out; echo err >&2; exit 7"],
                                     CreateOptions(network="none"))
    runtime = Runtime(engine.settings.container_runtime, engine.settings.state_root)
    started = launch(store, record, runtime, attach=Attach(output=True), recorder=RECORDER)
    assert started.pid > 0 and started.monitor > 0
    assert store.containers.get(record.id).state == "created"  # the runtime recorded nothing
    started.acknowledge(keep=True)
    out, err = io.BytesIO(), io.BytesIO()
    assert attach(started, out, err) == 7
    assert (out.getvalue(), err.getvalue()) == (b"out\n", b"err\n")
    cdir = store.containers_dir / record.id
    deadline = time.monotonic() + 10
    note = None
    while note is None and time.monotonic() < deadline:
        note = read_exit((cdir / "monitor.lock").read_bytes())
        time.sleep(0.01)
    assert note is not None and note[0] == 7
    # The container noted the runtime that runs it, for whoever deals with it later.
    assert Runtime.of(cdir) is not None and Runtime.of(cdir).binary == runtime.binary
    ended = settle(store, store.containers.get(record.id), note=note)
    assert (ended.exit_code, ended.removed, ended.error) == (7, False, "")
    assert store.containers.get(record.id).state == "created"
    assert not is_mounted(cdir / "rootfs")


@pytest.mark.root
def test_monitor_reports_a_failed_start(engine: Engine, busybox: str) -> None:
    record = engine.create_container("busybox", ["/nope"], CreateOptions(network="none"))
    runtime = Runtime(engine.settings.container_runtime, engine.settings.state_root)
    with pytest.raises(ContainerError) as caught:
        launch(engine.store, record, runtime, recorder=RECORDER)
    assert caught.value.exit_code == 127
    assert "no such file or directory" in str(caught.value)
    assert not is_mounted(engine.store.containers_dir / record.id / "rootfs")


def test_receive_reads_one_message_and_its_descriptors(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    try:
        socket.send_fds(theirs, [b'{"pid": 42, "monitor": 43}'], [r])
        message, fds = receive(ours, timeout=5)
        assert message == {"pid": 42, "monitor": 43}
        assert len(fds) == 1
        os.write(w, b"x")
        assert os.read(fds[0], 1) == b"x"
        os.close(fds[0])
        theirs.close()
        message, fds = receive(ours, timeout=5)  # the monitor gone: an empty message
        assert message == {} and fds == []
    finally:
        ours.close()
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------- the bundle


@pytest.mark.root
def test_prepare_mounts_the_rootfs_and_writes_the_bundle(engine: Engine, busybox: str) -> None:
    """What the monitor is handed: the rootfs mounted (image under the container's layers),
    config.json from the record, and the container's own /etc files bound in."""
    import json

    from lamina.runtime.bundle import ContainerDir, prepare

    store = engine.store
    record = engine.create_container(
        "busybox", ["sh", "-c", "true"],
        CreateOptions(network="none", hostname="box", user="alice", workdir="/made/here",
                      env=["A=1"]))
    cdir = ContainerDir.of(store, record.id)
    prepared = prepare(store, cdir, record)
    try:
        assert is_mounted(cdir.rootfs)
        assert (cdir.rootfs / "bin" / "busybox").is_file()
        spec = json.loads((cdir.path / "config.json").read_text())
        assert spec == prepared.spec
        assert spec["process"]["args"] == ["sh", "-c", "true"]
        assert spec["process"]["cwd"] == "/made/here"
        assert (cdir.rootfs / "made" / "here").is_dir()  # docker makes a missing WorkingDir
        assert spec["process"]["user"]["uid"] == 1000 == prepared.user.uid
        assert "A=1" in spec["process"]["env"] and "HOSTNAME=box" in spec["process"]["env"]
        assert spec["hostname"] == "box"
        assert spec["root"]["path"] == "rootfs"
        etc = {m["destination"]: m["source"] for m in spec["mounts"] if m["type"] == "bind"}
        for name in ("hostname", "hosts", "resolv.conf"):
            assert etc[f"/etc/{name}"] == str(cdir.path / name)
        assert (cdir.path / "hostname").read_text() == "box\n"
        hosts = (cdir.path / "hosts").read_text()
        # With no network, docker gives the container's own name no line: it has no address.
        assert hosts.startswith("127.0.0.1\tlocalhost\n") and "box" not in hosts
    finally:
        unmount(cdir.rootfs)


@pytest.mark.root
def test_prepare_refuses_a_missing_command_and_leaves_nothing_mounted(engine: Engine,
                                                                      busybox: str) -> None:
    from lamina.runtime.bundle import ContainerDir, prepare

    record = engine.create_container("busybox", ["/no/such/tool"], CreateOptions())
    cdir = ContainerDir.of(engine.store, record.id)
    with pytest.raises(ContainerError) as caught:
        prepare(engine.store, cdir, record)
    assert caught.value.exit_code == 127
    assert not is_mounted(cdir.rootfs)
    assert not (cdir.path / "config.json").exists()
