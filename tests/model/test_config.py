"""Image configs: a realistic docker config, an OCI one, and hostile ones."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lamina.errors import InvalidManifest
from lamina.model.config import History, ImageConfig
from lamina.model.digest import Digest
from lamina.model.platform import Platform

D1 = Digest.of(b"layer-1")
D2 = Digest.of(b"layer-2")


def docker_config() -> dict[str, Any]:
    """Shaped like what docker 28 writes for a two-layer image."""
    return {
        "architecture": "amd64",
        "config": {
            "Hostname": "",
            "User": "nginx",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["nginx", "-g", "daemon off;"],
            "Entrypoint": None,
            "WorkingDir": "/srv",
            "Labels": {"maintainer": "someone"},
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/data": {}},
            "StopSignal": "SIGQUIT",
            "ArgsEscaped": True,
            "OnBuild": None,
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
        },
        "created": "2024-05-01T12:34:56.123456789Z",
        "history": [
            {
                "created": "2024-05-01T12:00:00Z",
                "created_by": "/bin/sh -c #(nop) ADD file:abc in /",
            },
            {
                "created": "2024-05-01T12:00:01Z",
                "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                "empty_layer": True,
            },
            {
                "created": "2024-05-01T12:34:56+02:00",
                "created_by": "RUN /bin/sh -c apt-get update # buildkit",
                "comment": "buildkit.dockerfile.v0",
                "author": "me",
            },
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(D1), str(D2)]},
    }


def enc(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_docker_config() -> None:
    raw = enc(docker_config())
    cfg = ImageConfig.parse(raw)
    assert cfg.raw == raw
    assert cfg.id == Digest.of(raw)
    assert cfg.size == len(raw)
    assert (cfg.architecture, cfg.os, cfg.variant) == ("amd64", "linux", None)
    assert cfg.platform == Platform("linux", "amd64")
    assert cfg.created == "2024-05-01T12:34:56.123456789Z"
    assert cfg.diff_ids == (D1, D2)
    assert all(isinstance(d, Digest) for d in cfg.diff_ids)
    assert cfg.config["User"] == "nginx"
    assert cfg.config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert cfg.labels == {"maintainer": "someone"}
    assert len(cfg.history) == 3
    assert cfg.history[1] == History(
        "2024-05-01T12:00:01Z", '/bin/sh -c #(nop)  CMD ["sh"]', None, None, True
    )
    assert cfg.history[2].author == "me" and cfg.history[2].comment == "buildkit.dockerfile.v0"
    assert [d for _, d in cfg.layer_history()] == [D1, None, D2]


def test_id_is_over_exact_bytes() -> None:
    a = ImageConfig.parse(enc(docker_config()))
    b = ImageConfig.parse(json.dumps(docker_config(), indent=2).encode())
    assert a.data == b.data
    assert a.id != b.id
    assert a != b


def test_minimal_oci_config() -> None:
    cfg = ImageConfig.parse(
        b'{"architecture":"arm64","variant":"v8","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    )
    assert cfg.config == {} and cfg.labels == {} and cfg.history == () and cfg.diff_ids == ()
    assert cfg.created is None and cfg.author is None
    assert cfg.platform == Platform("linux", "arm64", "v8")


def test_nulls_where_go_writes_them() -> None:
    doc = docker_config()
    doc["config"]["Labels"] = None
    doc["config"]["Env"] = None
    doc["config"]["Cmd"] = None
    doc["history"] = None
    cfg = ImageConfig.parse(enc(doc))
    assert cfg.labels == {} and cfg.history == ()
    doc["config"] = None
    assert ImageConfig.parse(enc(doc)).config == {}


def test_strslice_single_string_is_a_list() -> None:
    doc = docker_config()
    doc["config"]["Cmd"] = "nginx"
    doc["config"]["Entrypoint"] = "/entry.sh"
    cfg = ImageConfig.parse(enc(doc))
    assert cfg.config["Cmd"] == ["nginx"]
    assert cfg.config["Entrypoint"] == ["/entry.sh"]
    assert cfg.data["config"]["Cmd"] == "nginx"  # the parsed document itself is untouched


def test_unknown_fields_are_kept() -> None:
    doc = docker_config()
    doc["docker_version"] = "28.0.0"
    doc["x-vendor"] = {"anything": [1, 2]}
    cfg = ImageConfig.parse(enc(doc))
    assert cfg.data["docker_version"] == "28.0.0"


def test_history_without_empty_layers_and_layers_matching() -> None:
    doc = docker_config()
    doc["history"] = [{"created_by": "a"}, {"created_by": "b"}]
    assert len(ImageConfig.parse(enc(doc)).history) == 2


def test_build_serialises_once_and_validates() -> None:
    cfg = ImageConfig.build(docker_config())
    assert cfg.raw.startswith(b'{"architecture":"amd64","config":{"Hostname":"","User":')
    assert ImageConfig.parse(cfg.raw) == cfg
    assert list(json.loads(cfg.raw)) == list(docker_config())
    with pytest.raises(InvalidManifest):
        ImageConfig.build({"rootfs": {"type": "nope"}})


def test_history_to_json() -> None:
    h = History("2024-01-01T00:00:00Z", "RUN x", empty_layer=True)
    assert h.to_json() == {
        "created": "2024-01-01T00:00:00Z",
        "created_by": "RUN x",
        "empty_layer": True,
    }
    assert History.from_json(h.to_json()) == h


def mutate(path: str, value: Any) -> dict[str, Any]:
    """docker_config() with the value at a dotted path replaced (``...`` deletes it)."""
    doc = copy.deepcopy(docker_config())
    # "os.version" and "os.features" are top-level keys with a dot in their name.
    *parents, last = [path] if path.startswith("os.") else path.split(".")
    target: Any = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


HOSTILE: list[tuple[str, Any, str]] = [
    ("top-level array", [], "expected a JSON object"),
    ("architecture number", mutate("architecture", 1), "architecture"),
    ("os list", mutate("os", ["linux"]), "os"),
    ("variant bool", mutate("variant", True), "variant"),
    ("os.version number", mutate("os.version", 10), "os.version"),
    ("os.features string", mutate("os.features", "x"), "os.features"),
    ("author number", mutate("author", 3), "author"),
    ("created number", mutate("created", 0), "created"),
    ("created not RFC 3339", mutate("created", "yesterday"), "created"),
    ("created without zone", mutate("created", "2024-01-01T00:00:00"), "created"),
    ("created trailing newline", mutate("created", "2024-01-01T00:00:00Z\n"), "created"),
    ("rootfs missing", mutate("rootfs", ...), "rootfs"),
    ("rootfs list", mutate("rootfs", []), "rootfs"),
    ("rootfs type", mutate("rootfs.type", "tar"), "rootfs.type"),
    ("rootfs type missing", mutate("rootfs.type", ...), "rootfs.type"),
    ("diff_ids string", mutate("rootfs.diff_ids", str(D1)), "rootfs.diff_ids"),
    ("diff_id number", mutate("rootfs.diff_ids", [str(D1), 5]), r"rootfs.diff_ids\[1\]"),
    ("diff_id bad", mutate("rootfs.diff_ids", ["sha256:xyz", str(D2)]), r"rootfs.diff_ids\[0\]"),
    ("diff_id uppercase", mutate("rootfs.diff_ids", [str(D1).upper(), str(D2)]), "diff_ids"),
    ("history object", mutate("history", {}), "history"),
    ("history entry string", mutate("history", ["x", {}, {}]), r"history\[0\]"),
    ("history created_by number", mutate("history.0.created_by", 1), r"history\[0\].created_by"),
    ("history created bad", mutate("history.2.created", "now"), r"history\[2\].created"),
    ("history empty_layer string", mutate("history.1.empty_layer", "true"), "empty_layer"),
    ("history empty_layer int", mutate("history.1.empty_layer", 1), "empty_layer"),
    ("history comment list", mutate("history.2.comment", []), "comment"),
    ("history author dict", mutate("history.2.author", {}), "author"),
    ("history too few layers", mutate("history.0.empty_layer", True), "non-empty entries"),
    ("history too many layers", mutate("history.1.empty_layer", False), "non-empty entries"),
    ("config list", mutate("config", []), "config"),
    ("User number", mutate("config.User", 0), "config.User"),
    ("Env string", mutate("config.Env", "A=B"), "config.Env"),
    ("Env numbers", mutate("config.Env", [1]), "config.Env"),
    ("Cmd number", mutate("config.Cmd", 1), "config.Cmd"),
    ("Cmd mixed", mutate("config.Cmd", ["a", 1]), "config.Cmd"),
    ("Entrypoint object", mutate("config.Entrypoint", {}), "config.Entrypoint"),
    ("WorkingDir list", mutate("config.WorkingDir", ["/"]), "config.WorkingDir"),
    ("Labels list", mutate("config.Labels", ["a=b"]), "config.Labels"),
    ("Label value number", mutate("config.Labels", {"a": 1}), "config.Labels"),
    ("ExposedPorts list", mutate("config.ExposedPorts", ["80/tcp"]), "config.ExposedPorts"),
    ("ExposedPorts values", mutate("config.ExposedPorts", {"80/tcp": 1}), "config.ExposedPorts"),
    ("Volumes list", mutate("config.Volumes", ["/data"]), "config.Volumes"),
    ("StopSignal number", mutate("config.StopSignal", 9), "config.StopSignal"),
    ("StopTimeout string", mutate("config.StopTimeout", "10"), "config.StopTimeout"),
    ("Tty string", mutate("config.Tty", "yes"), "config.Tty"),
    ("ArgsEscaped number", mutate("config.ArgsEscaped", 1), "config.ArgsEscaped"),
    ("Shell string", mutate("config.Shell", "/bin/sh"), "config.Shell"),
    ("OnBuild string", mutate("config.OnBuild", "RUN x"), "config.OnBuild"),
    ("Healthcheck list", mutate("config.Healthcheck", []), "config.Healthcheck"),
    ("Healthcheck Test string", mutate("config.Healthcheck.Test", "true"), "Healthcheck.Test"),
    (
        "Healthcheck Interval str",
        mutate("config.Healthcheck.Interval", "30s"),
        "Healthcheck.Interval",
    ),
    ("container_config list", dict(docker_config(), container_config=[]), "container_config"),
]


@pytest.mark.parametrize(
    ("doc", "field"), [pytest.param(doc, field, id=name) for name, doc, field in HOSTILE]
)
def test_hostile(doc: Any, field: str) -> None:
    with pytest.raises(InvalidManifest, match=field) as info:
        ImageConfig.parse(enc(doc))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"null", b'"x"', b"\xff\xfe", b'{"rootfs":1,"rootfs":2}', b'{"created":NaN}'],
)
def test_hostile_bytes(raw: bytes) -> None:
    with pytest.raises(InvalidManifest, match="image config"):
        ImageConfig.parse(raw)
