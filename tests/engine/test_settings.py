"""Settings: made once at the edge from the environment, config.toml and flags; the library
reads nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina.engine.settings import Settings
from lamina.errors import InvalidArgument


def test_from_an_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[containers]\nruntime = "crun"\n'
                      '[registries]\nmirrors = ["http://127.0.0.1:5999"]\ninsecure = ["r:5000"]\n'
                      '[pull]\nmax_concurrent_downloads = 5\n')
    environ = {"LAMINA_ROOT": str(tmp_path / "root"), "LAMINA_CONFIG": str(config),
               "DOCKER_CONFIG": str(tmp_path / "docker"), "XDG_RUNTIME_DIR": str(tmp_path),
               "SOURCE_DATE_EPOCH": "1700000000"}
    settings = Settings.from_env(environ=environ)
    assert settings.source_date_epoch == "1700000000"
    assert settings.root == tmp_path / "root"
    assert settings.docker_config == tmp_path / "docker"
    assert settings.config_path == config
    expected_state = Path("/run/lamina") if os.geteuid() == 0 else tmp_path / "lamina"
    assert settings.state_root == expected_state
    assert settings.container_runtime == "crun"
    remote = settings.remote
    assert remote.mirrors == ("http://127.0.0.1:5999",)
    assert remote.is_insecure("r:5000")
    assert remote.max_concurrent_downloads == 5
    # Flags over the environment over the file.
    flagged = Settings.from_env(str(tmp_path / "other"), environ={**environ,
                                                                  "LAMINA_RUNTIME": "runc"})
    assert flagged.root == tmp_path / "other"
    assert flagged.container_runtime == "runc"
    assert Settings.from_env(environ=environ, runtime="/usr/bin/runc").container_runtime == \
        "/usr/bin/runc"


def test_the_config_is_read_once_and_only_when_needed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    settings = Settings.from_env(environ={"LAMINA_ROOT": str(tmp_path),
                                          "LAMINA_CONFIG": str(config)})
    config.write_text("not toml [")  # a command that needs no config never notices
    assert settings.root == tmp_path
    with pytest.raises(InvalidArgument, match="cannot read lamina's config"):
        _ = settings.config
    config.write_text('[containers]\nruntime = "crun"\n')
    first = Settings.from_env(environ={"LAMINA_CONFIG": str(config)})
    assert first.container_runtime == "crun"
    config.write_text('[containers]\nruntime = "runc"\n')
    assert first.container_runtime == "crun"  # parsed once


@pytest.mark.parametrize("text, words", [
    ("[containers]\nruntime = 3\n", "containers.runtime must be a string"),
    ("[registries]\nmirrors = \"x\"\n", "registries.mirrors must be a list of strings"),
    ("[pull]\nmax_concurrent_downloads = 0\n", "must be a positive int"),
    ("[registries]\ncerts_dirs = [1]\n", "certs_dirs must be a list of strings"),
])
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, words: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    settings = Settings.from_env(environ={"LAMINA_CONFIG": str(config)})
    with pytest.raises(InvalidArgument) as info:
        _ = settings.container_runtime
        _ = settings.remote
    assert words in str(info.value) and "\n" not in str(info.value)
    assert str(config) in str(info.value)


def test_logins_come_from_the_settings_docker_config(tmp_path: Path) -> None:
    import base64
    import json

    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(b"alice:secret").decode()
    (docker / "config.json").write_text(json.dumps({"auths": {"r.example": {"auth": auth}}}))
    settings = Settings(tmp_path / "root", docker_config=docker)
    credentials = settings.remote.credentials
    assert credentials is not None
    assert credentials("r.example") == ("alice", "secret")
    assert credentials("other.example") is None
