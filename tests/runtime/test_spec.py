"""The OCI runtime spec, env and names: docker's rules (pure, no root needed)."""

from __future__ import annotations

import resource

import pytest

from lamina.engine.containers import CreateOptions, container_config, process_args
from lamina.engine.names import generate_name, validate_name
from lamina.errors import InvalidArgument
from lamina.runtime.bundle import parse_bind, replace_env
from lamina.runtime.logs import LogWriter, read_entries, tail
from lamina.runtime.spec import (
    DEFAULT_CAPS,
    Bind,
    ContainerSpec,
    Resources,
    build_spec,
    capabilities,
    recursive_readonly,
)
from lamina.runtime.users import User


def spec(**kw: object) -> dict:
    base = dict(rootfs="rootfs", args=["sh"], env=["PATH=/bin"], cwd="/", user=User(0, 0),
                hostname="h")
    base.update(kw)
    return build_spec(ContainerSpec(**base))  # type: ignore[arg-type]


def test_spec_defaults_as_docker() -> None:
    s = spec()
    namespaces = {n["type"] for n in s["linux"]["namespaces"]}
    assert namespaces == {"pid", "ipc", "uts", "mount", "network"}
    assert s["process"]["capabilities"]["bounding"] == list(DEFAULT_CAPS)
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    destinations = [m["destination"] for m in s["mounts"]]
    for needed in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"):
        assert needed in destinations
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for limit in s["process"]["rlimits"]:
        assert limit["hard"] <= hard or hard == resource.RLIM_INFINITY
    host = spec(network="host")
    assert "network" not in {n["type"] for n in host["linux"]["namespaces"]}
    with pytest.raises(InvalidArgument):
        spec(network="bridge")


def test_limits_binds_and_users() -> None:
    s = spec(resources=Resources(memory=64 << 20, cpus=1.5, pids_limit=10), readonly=True,
             binds=[Bind("/tmp/x", "/data", True)], user=User(1000, 1000, (50,)))
    assert s["linux"]["resources"]["memory"] == {"limit": 64 << 20}
    assert s["linux"]["resources"]["cpu"] == {"quota": 150000, "period": 100000}
    assert s["linux"]["resources"]["pids"] == {"limit": 10}
    assert s["root"]["readonly"] is True
    # read-only all the way down where the kernel can (mount_setattr, Linux 5.12)
    recursive = ["rro"] if recursive_readonly() else []
    assert {"destination": "/data", "type": "bind", "source": "/tmp/x",
            "options": ["rbind", "rprivate", "ro", *recursive]} in s["mounts"]
    # docker's groups: the primary group first, then the groups that list the user
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}
    assert s["process"]["capabilities"]["effective"] == []


def test_capabilities() -> None:
    assert capabilities([], ["ALL"]) == []
    assert capabilities(["NET_ADMIN"], ["chown"])[-1] == "CAP_NET_ADMIN"
    assert "CAP_CHOWN" not in capabilities([], ["chown"])
    assert len(capabilities(["ALL"], [])) > len(DEFAULT_CAPS)
    with pytest.raises(InvalidArgument):
        capabilities(["BOGUS"], [])


def test_entrypoint_cmd_and_env_rules() -> None:
    image = {"Entrypoint": ["/ep"], "Cmd": ["a"], "Env": ["A=1", "B=2"], "User": "u",
             "WorkingDir": "/w"}
    config = container_config(image, "img", [], CreateOptions())
    assert process_args(config) == ("/ep", ["a"])
    config = container_config(image, "img", ["b", "c"], CreateOptions(env=["B=3", "C=4"]))
    assert process_args(config) == ("/ep", ["b", "c"])
    assert config["Env"] == ["A=1", "B=3", "C=4"]
    config = container_config(image, "img", [], CreateOptions(entrypoint="sh"))
    assert process_args(config) == ("sh", [])  # the image's Cmd goes with its entrypoint
    config = container_config(image, "img", [], CreateOptions(entrypoint=""))
    assert process_args(config) == ("", [])
    config = container_config(image, "img", [], CreateOptions(user="root", workdir="/x"))
    assert (config["User"], config["WorkingDir"]) == ("root", "/x")
    assert replace_env(["PATH=/a", "HOSTNAME=h"], ["PATH=/b", "X=1"]) == [
        "PATH=/b", "HOSTNAME=h", "X=1"]


def test_binds_and_names() -> None:
    assert parse_bind("/a:/b:ro") == Bind("/a", "/b", True)
    for bad in ("vol:/b", "/a:b", "/a", "/a:/", "/a:/b:xx"):
        with pytest.raises(InvalidArgument):
            parse_bind(bad)
    assert validate_name("/web-1") == "web-1"
    for bad in ("a", "-x", "x y", "ü1"):
        with pytest.raises(InvalidArgument):
            validate_name(bad)
    name = generate_name(set())
    adjective, _, surname = name.partition("_")
    assert adjective and surname and validate_name(name) == name


def test_json_file_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c-json.log"
    log = LogWriter(path)
    log.write("stdout", b"one\ntw")
    log.write("stderr", b"err\n")
    log.write("stdout", b"o\n" + b"x" * 20000)
    log.close()
    entries, offset = read_entries(path)
    assert [(e.stream, e.text[:5]) for e in entries] == [
        ("stdout", "one\n"), ("stderr", "err\n"), ("stdout", "two\n"), ("stdout", "xxxxx"),
        ("stdout", "xxxxx")]
    assert offset == path.stat().st_size
    assert [e.text for e in tail(entries, "1")] == [entries[-1].text]
    assert tail(entries, "0") == [] and tail(entries, "all") == entries


def test_security_settings_in_the_spec() -> None:
    from lamina.runtime.seccomp import for_container
    from lamina.runtime.seccomp_profile import profile

    caps = capabilities([], [])
    seccomp = for_container(profile(), caps)
    s = spec(seccomp=seccomp, no_new_privileges=True, group_add=(77,))
    assert s["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert s["process"]["noNewPrivileges"] is True
    assert s["process"]["user"]["additionalGids"] == [0, 77]
    allowed = {name for rule in seccomp["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
               and not rule.get("args") for name in rule["names"]}
    assert {"read", "write", "execve"} <= allowed
    assert not {"keyctl", "unshare", "mount", "reboot", "kexec_load"} & allowed
    # the rules that need a capability come with it
    admin = for_container(profile(), [*caps, "CAP_SYS_ADMIN"])
    assert {"unshare", "mount"} <= {name for rule in admin["syscalls"] for name in rule["names"]
                                    if rule["action"] == "SCMP_ACT_ALLOW"}
    privileged = spec(privileged=True)
    assert privileged["linux"]["maskedPaths"] == [] == privileged["linux"]["readonlyPaths"]
    assert privileged["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert len(privileged["process"]["capabilities"]["bounding"]) > len(DEFAULT_CAPS)
    assert "seccomp" not in privileged["linux"]
