"""--change instructions applied to a container config, as docker's import and commit do."""

from __future__ import annotations

import pytest

from lamina.engine.changes import apply_changes
from lamina.errors import InvalidArgument


def test_each_instruction() -> None:
    config = apply_changes({"Env": ["PATH=/bin", "A=0"]}, [
        'CMD ["sh", "-c", "echo hi"]',
        "ENTRYPOINT /init --flag",
        "ENV A=1 B=\"two words\"",
        "LABEL version=1.0 team=core",
        "EXPOSE 80 53/udp",
        "VOLUME /data /cache",
        "USER 1000:1000",
        "WORKDIR /srv",
        "STOPSIGNAL SIGINT",
        "ONBUILD RUN make",
    ])
    assert config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/init --flag"]
    assert config["Env"] == ["PATH=/bin", "A=1", "B=two words"]  # replaced in place
    assert config["Labels"] == {"version": "1.0", "team": "core"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Volumes"] == {"/data": {}, "/cache": {}}
    assert config["User"] == "1000:1000"
    assert config["WorkingDir"] == "/srv"
    assert config["StopSignal"] == "SIGINT"
    assert config["OnBuild"] == ["RUN make"]


def test_legacy_env_form_and_original_untouched() -> None:
    original = {"Env": ["A=0"]}
    assert apply_changes(original, ["ENV GREETING hello world"])["Env"] == [
        "A=0", "GREETING=hello world"]
    assert original == {"Env": ["A=0"]}


@pytest.mark.parametrize("change, message", [
    ("RUN rm -rf /", "RUN is not a valid change command"),
    ("FROM scratch", "FROM is not a valid change command"),
    ("CMD", "CMD requires at least one argument"),
    ("EXPOSE eighty", "invalid containerPort: eighty"),
    ("LABEL =x", "LABEL names can not be blank"),
])
def test_bad_changes(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [change])
