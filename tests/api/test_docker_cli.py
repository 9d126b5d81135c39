"""The docker CLI 28 against ``lamina system service`` (DOCKER_HOST=unix://...): what a
docker user types, checked as they would read the output."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from api.service import Service
from registry.servers import lamina_server


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_version_and_info_are_the_services(docker: Service) -> None:
    assert ok(docker.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
              ).split() == ["1.50", "linux"]
    info = ok(docker.docker("info", "--format", "{{.Driver}} {{.Images}} {{.OSType}}"))
    assert info.split()[0] == "overlay2" and info.split()[2] == "linux"
    assert int(info.split()[1]) >= 1


def test_images_and_inspect(docker: Service) -> None:
    lines = ok(docker.docker("images")).splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:2] == ["busybox", "latest"] for line in lines[1:])
    image_id = ok(docker.docker("inspect", "--format", "{{.Id}}", "busybox")).strip()
    assert image_id.startswith("sha256:")
    assert ok(docker.docker("images", "-q", "busybox")).strip() == image_id[7:19]
    missing = docker.docker("inspect", "nosuchimage")
    assert missing.returncode == 1
    assert "No such object: nosuchimage" in missing.stderr or "No such image" in \
        missing.stderr


def test_run_detached_ps_logs_stop_rm(docker: Service) -> None:
    cid = ok(docker.docker("run", "-d", "--name", "cli-web", "busybox", "sh", "-c",
                           "echo hello; echo oops >&2; sleep 60")).strip()
    assert len(cid) == 64
    ps = ok(docker.docker("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"))
    assert f"{cid[:12]} cli-web Up" in ps
    # logs: stdout and stderr come back apart, as docker demultiplexes them
    for _ in range(100):
        logs = docker.docker("logs", "cli-web")
        if "oops" in logs.stderr:
            break
    assert logs.stdout == "hello\n" and logs.stderr == "oops\n"
    stamped = ok(docker.docker("logs", "-t", "cli-web"))
    assert stamped.endswith(" hello\n") and stamped[:4].isdigit()
    assert ok(docker.docker("inspect", "--format", "{{.State.Status}} {{.Name}}",
                            "cli-web")).strip() == "running /cli-web"
    assert ok(docker.docker("stop", "-t", "1", "cli-web")).strip() == "cli-web"
    assert ok(docker.docker("inspect", "--format", "{{.State.Status}}", "cli-web")
              ).strip() == "exited"
    assert ok(docker.docker("rm", "cli-web")).strip() == "cli-web"
    gone = docker.docker("inspect", "cli-web")
    assert gone.returncode == 1 and "No such" in gone.stderr


def test_run_attached_with_flags_and_exit_codes(docker: Service) -> None:
    result = docker.docker("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000",
                           "busybox", "sh", "-c", "echo $FOO; pwd; id -u; echo err >&2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "bar\n/tmp\n1000\n"
    assert result.stderr == "err\n"
    assert docker.docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    # --rm: nothing left behind
    assert "busybox" not in ok(docker.docker("ps", "-a", "--format", "{{.Image}}"))
    piped = docker.docker("run", "-i", "--rm", "busybox", "cat", input=b"through stdin\n")
    assert ok(piped) == "through stdin\n"
    missing = docker.docker("run", "--rm", "busybox", "/no/such/cmd")
    assert missing.returncode in (126, 127), missing.stderr


def test_run_it_under_a_pty(docker: Service, tmp_path: Path) -> None:
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    script = tmp_path / "typed.sh"
    script.write_text("sleep 1; printf 'echo typed-$((6*7))\\n'; sleep 1; printf 'stty size\\n';"
                      " sleep 0.5; printf 'exit 7\\n'\n")
    command = "stty cols 91 rows 27; docker run -it --rm busybox sh"
    result = subprocess.run(f"sh {script} | script -qfec '{command}' /dev/null", shell=True,
                            capture_output=True, env=docker.docker_env, timeout=60)
    out = result.stdout.decode(errors="replace")
    assert "typed-42" in out
    assert "27 91" in out  # the container's tty took the client's window size
    assert result.returncode == 7


RESIZED = """stty size
touch /shared/sized
i=0
while [ "$(stty size)" = "27 91" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
stty size
tty
exit 7
"""


@pytest.mark.parametrize("verb", ["run", "exec"])
def test_it_takes_the_window_size_and_follows_resizes(docker: Service, tmp_path: Path,
                                                      verb: str) -> None:
    """`docker run -it` and `docker exec -it` at a terminal: the program sees the client's
    window size from its start (ConsoleSize), and a resize of the client's window (SIGWINCH
    to the CLI, then POST .../resize) reaches it while it runs."""
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "program.sh").write_text(RESIZED)
    if verb == "run":
        command = f"docker run -it --rm -v {shared}:/shared busybox sh /shared/program.sh"
    else:
        ok(docker.docker("run", "-d", "--name", "cli-exec-it", "-v", f"{shared}:/shared",
                         "busybox", "sleep", "120"))
        command = "docker exec -it cli-exec-it sh /shared/program.sh"
    # The window changes once the program has seen the first size (its file says so): the
    # kernel signals SIGWINCH to the CLI in the foreground, which asks the service to resize.
    (tmp_path / "at-a-terminal.sh").write_text(
        "stty cols 91 rows 27\n"
        f"(until [ -e {shared}/sized ]; do sleep 0.1; done; stty cols 120 rows 40 </dev/tty) &\n"
        f"{command}\n")
    try:
        result = subprocess.run(["script", "-qfec", f"sh {tmp_path}/at-a-terminal.sh",
                                 "/dev/null"], stdin=subprocess.DEVNULL, capture_output=True,
                                env=docker.docker_env, timeout=120)
        # (script(1) passes the end of its stdin on to the raw terminal as a NUL, which the
        # container's tty echoes as "^@")
        lines = result.stdout.decode(errors="replace").replace("^@", "").split("\r\n")
        assert lines[:2] == ["27 91", "40 120"], lines
        assert lines[2].startswith("/dev/pts/")  # a terminal of its own, in the container
        assert result.returncode == 7
    finally:
        docker.docker("rm", "-f", "cli-exec-it")


def test_exec_it_detaches_with_ctrl_p_ctrl_q(docker: Service, tmp_path: Path) -> None:
    """The detach keys leave the exec's shell running, and the CLI says so as it does with
    dockerd ("read escape sequence", status 1)."""
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    ok(docker.docker("run", "-d", "--name", "cli-exec-detach", "busybox", "sleep", "120"))
    try:
        (tmp_path / "typed.sh").write_text(
            "sleep 1; printf 'echo before-$((2*3))\\n'; sleep 1; printf '\\020\\021'; sleep 1\n")
        result = subprocess.run(
            f"sh {tmp_path}/typed.sh | script -qfec 'docker exec -it cli-exec-detach sh' "
            "/dev/null", shell=True, capture_output=True, env=docker.docker_env, timeout=60)
        out = result.stdout.decode(errors="replace")
        assert "before-6" in out and "read escape sequence" in out, out
        assert result.returncode == 1
        # the shell the client left is still there
        processes = ok(docker.docker("exec", "cli-exec-detach", "ps")).splitlines()
        assert any(line.split()[2:] == ["sh"] for line in processes), processes
    finally:
        docker.docker("rm", "-f", "cli-exec-detach")


def test_piped_stdin_is_passed_on_whole(docker: Service) -> None:
    """Without a tty, stdin's bytes all reach the container, ctrl-p ctrl-q among them (docker
    watches for the detach keys only on a terminal)."""
    data = b"binary \x10\x11 data\n" * 3
    result = docker.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat | wc -c",
                           input=data, timeout=60)
    assert ok(result).strip() == str(len(data))


def test_exec_and_cp_both_ways(docker: Service, tmp_path: Path) -> None:
    ok(docker.docker("run", "-d", "--name", "cli-box", "busybox", "sleep", "60"))
    try:
        result = docker.docker("exec", "cli-box", "sh", "-c", "echo in; echo err >&2; exit 4")
        assert (result.returncode, result.stdout, result.stderr) == (4, "in\n", "err\n")
        assert ok(docker.docker("exec", "-i", "cli-box", "cat", input=b"piped\n")) == "piped\n"
        assert ok(docker.docker("exec", "-u", "1000", "-w", "/tmp", "-e", "A=b", "cli-box",
                                "sh", "-c", "id -u; pwd; echo $A")) == "1000\n/tmp\nb\n"
        (tmp_path / "f.txt").write_text("content\n")
        (tmp_path / "d" / "sub").mkdir(parents=True)
        (tmp_path / "d" / "sub" / "y").write_text("why\n")
        ok(docker.docker("cp", str(tmp_path / "f.txt"), "cli-box:/tmp/"))
        ok(docker.docker("cp", str(tmp_path / "d"), "cli-box:/tmp/d2"))
        assert ok(docker.docker("exec", "cli-box", "cat", "/tmp/f.txt", "/tmp/d2/sub/y")) == \
            "content\nwhy\n"
        out = tmp_path / "out"
        out.mkdir()
        ok(docker.docker("cp", "cli-box:/tmp/d2", str(out)))
        ok(docker.docker("cp", "cli-box:/tmp/f.txt", str(out / "g.txt")))
        assert (out / "d2" / "sub" / "y").read_text() == "why\n"
        assert (out / "g.txt").read_text() == "content\n"
        missing = docker.docker("cp", "cli-box:/nonexistent", str(out))
        assert missing.returncode == 1
        assert "Could not find the file /nonexistent in container cli-box" in missing.stderr
        # a tar stream on stdout, as `docker cp C:path -` writes it
        streamed = subprocess.run(["docker", "cp", "cli-box:/tmp/f.txt", "-"],
                                  capture_output=True, env=docker.docker_env, timeout=60)
        with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
            assert tar.getnames() == ["f.txt"]
    finally:
        docker.docker("rm", "-f", "cli-box")


def test_build_from_a_directory(docker: Service, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f.txt").write_text("copied\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nARG X=1\nRUN echo built-$X > /b.txt\n"
                                    "COPY f.txt /f.txt\nLABEL team=api\n"
                                    'CMD ["cat", "/b.txt", "/f.txt"]\n')
    result = docker.docker("build", "-t", "cli-built:1", "--build-arg", "X=7", str(ctx))
    assert result.returncode == 0, result.stderr
    assert "Successfully tagged cli-built:1" in result.stdout
    assert ok(docker.docker("run", "--rm", "cli-built:1")) == "built-7\ncopied\n"
    assert ok(docker.docker("inspect", "--format", "{{index .Config.Labels \"team\"}}",
                            "cli-built:1")).strip() == "api"
    (ctx / "Dockerfile.bad").write_text("FROM busybox\nRUN exit 9\n")
    failed = docker.docker("build", "-f", str(ctx / "Dockerfile.bad"), str(ctx))
    assert failed.returncode == 1
    assert "exit code: 9" in failed.stderr or "returned a non-zero code: 9" in failed.stderr


def test_tag_save_load_rmi_df(docker: Service, tmp_path: Path) -> None:
    ok(docker.docker("tag", "busybox", "cli-tagged:v2"))
    assert "cli-tagged" in ok(docker.docker("images", "--format", "{{.Repository}}"))
    archive = tmp_path / "saved.tar"
    ok(docker.docker("save", "-o", str(archive), "cli-tagged:v2"))
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["cli-tagged:v2"]
    assert ok(docker.docker("rmi", "cli-tagged:v2")).strip() == "Untagged: cli-tagged:v2"
    assert ok(docker.docker("load", "-i", str(archive))).strip() == \
        "Loaded image: cli-tagged:v2"
    df = ok(docker.docker("system", "df")).splitlines()
    assert df[0].split()[:3] == ["TYPE", "TOTAL", "ACTIVE"]
    assert df[1].startswith("Images")
    ok(docker.docker("rmi", "cli-tagged:v2"))
    gone = docker.docker("rmi", "cli-tagged:v2")
    assert gone.returncode == 1 and "No such image" in gone.stderr


def test_push_login_pull_with_a_lamina_registry(docker: Service, tmp_path: Path) -> None:
    users = tmp_path / "users"
    docker.lamina("registry", "htpasswd", str(users), "alice", "--password-stdin",
                  input=b"s3cret\n")
    config = tmp_path / "registry.toml"
    config.write_text(f'[auth]\nkind = "htpasswd"\nhtpasswd = "{users}"\n')
    with lamina_server(tmp_path / "registry", config=config) as registry:
        registry.start(tmp_path / "registry.log")
        name = f"{registry.host}/team/bb:1"
        ok(docker.docker("tag", "busybox", name))
        refused = docker.docker("push", name)
        assert refused.returncode == 1
        login = docker.docker("login", "-u", "alice", "--password-stdin", registry.host,
                              input=b"s3cret\n")
        assert "Login Succeeded" in ok(login)
        wrong = docker.docker("login", "-u", "alice", "--password-stdin", registry.host,
                              input=b"wrong\n")
        assert wrong.returncode == 1
        pushed = ok(docker.docker("push", name))
        assert "The push refers to repository" in pushed and "1: digest: sha256:" in pushed
        ok(docker.docker("rmi", name))
        pulled = ok(docker.docker("pull", name))
        assert f"Status: Downloaded newer image for {name}" in pulled
        assert pulled.count("Digest: sha256:") == 1
        # a build whose base is on the private registry: the CLI sends every credential it
        # has (X-Registry-Config), and the service pulls the base with them
        ok(docker.docker("rmi", name))
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {name}\nRUN echo private-base > /p.txt\n")
        built = docker.docker("build", "-t", "cli-private-base:1", str(ctx))
        assert built.returncode == 0, built.stdout + built.stderr
        assert ok(docker.docker("run", "--rm", "cli-private-base:1", "cat", "/p.txt")) == \
            "private-base\n"
        ok(docker.docker("rmi", "cli-private-base:1"))
        missing = docker.docker("pull", f"{registry.host}/team/nope:1")
        assert missing.returncode == 1
        assert "not found" in missing.stderr and "Pulling from" not in missing.stdout


def test_errors_are_dockers(docker: Service) -> None:
    bad = docker.docker("run", "--rm", "--name", "bad name!", "busybox", "true")
    assert bad.returncode == 125
    assert "Invalid container name" in bad.stderr or "invalid container name" in bad.stderr
    stop = docker.docker("stop", "no-such-container")
    assert stop.returncode == 1 and "No such container: no-such-container" in stop.stderr
    # the CLI checks references itself; the service checks what reaches it as lamina does
    answer = docker.request("POST", "/v1.50/images/busybox/tag?repo=bad::ref")
    assert answer.status == 400 and "invalid reference format" in answer.message


def test_events_from_the_service_and_the_cli(docker: Service) -> None:
    import time

    since = str(int(time.time()) - 1)
    assert docker.docker("run", "--rm", "--name", "ev-box", "busybox", "sh", "-c",
                         "exit 4").returncode == 4
    # another container's exit in the same window, which the container filter leaves out
    assert docker.docker("run", "--rm", "--name", "ev-other", "busybox", "true").returncode == 0
    docker.lamina("tag", "busybox", "ev-tagged:1")  # the CLI's event, in the same store
    until = str(int(time.time()) + 1)
    out = ok(docker.docker("events", "--since", since, "--until", until,
                           "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"))
    lines = out.splitlines()
    for expected in ("container create ev-box", "container start ev-box",
                     "container die ev-box", "container destroy ev-box",
                     "image tag ev-tagged:1"):
        assert expected in lines, out
    # Other tests' containers share this store, and their exits may fall in the window:
    # the container filter must keep to ev-box alone, as dockerd's does.
    mine = ok(docker.docker("events", "--since", since, "--until", until, "--filter",
                            "container=ev-box", "--format", "{{.Actor.Attributes.name}}"))
    assert mine.split() and set(mine.split()) == {"ev-box"}, mine
    die = ok(docker.docker("events", "--since", since, "--until", until, "--filter",
                           "event=die", "--filter", "container=ev-box", "--format",
                           "{{.Actor.Attributes.exitCode}}"))
    assert die.split() == ["4"]
    images = ok(docker.docker("events", "--since", since, "--until", until, "--filter",
                              "type=image", "--format", "{{.Type}} {{.Action}}"))
    assert "image tag" in images.splitlines(), images
    assert all(line.startswith("image ") for line in images.splitlines()), images
    ok(docker.docker("rmi", "ev-tagged:1"))


def test_more_container_verbs(docker: Service, tmp_path: Path) -> None:
    ok(docker.docker("run", "-d", "--name", "cli-verbs", "busybox", "sh", "-c",
                     "echo started; while true; do sleep 0.2; done"))
    try:
        top = ok(docker.docker("top", "cli-verbs"))
        assert top.splitlines()[0].split()[:3] == ["UID", "PID", "PPID"]
        assert "sleep" in top or "while" in top or "sh -c" in top
        ok(docker.docker("pause", "cli-verbs"))
        assert ok(docker.docker("inspect", "--format", "{{.State.Status}}", "cli-verbs")
                  ).strip() == "paused"
        ok(docker.docker("unpause", "cli-verbs"))
        ok(docker.docker("exec", "cli-verbs", "touch", "/made-here"))
        diff = ok(docker.docker("diff", "cli-verbs"))
        assert "A /made-here" in diff.splitlines()
        committed = ok(docker.docker("commit", "-m", "from the api", "cli-verbs",
                                     "cli-committed:1")).strip()
        assert committed.startswith("sha256:")
        assert ok(docker.docker("run", "--rm", "--entrypoint", "ls", "cli-committed:1",
                                "/made-here")) == "/made-here\n"
        stats = ok(docker.docker("stats", "--no-stream", "--format", "{{.Name}}",
                                 "cli-verbs"))
        assert stats.strip() == "cli-verbs"
        ok(docker.docker("rename", "cli-verbs", "cli-verbs2"))
        ok(docker.docker("restart", "-t", "1", "cli-verbs2"))
        assert ok(docker.docker("inspect", "--format", "{{.State.Running}}", "cli-verbs2")
                  ).strip() == "true"
        ok(docker.docker("kill", "cli-verbs2"))
        waited = ok(docker.docker("wait", "cli-verbs2")).strip()
        assert waited == "137"
        exported = tmp_path / "export.tar"
        ok(docker.docker("export", "-o", str(exported), "cli-verbs2"))
        with tarfile.open(exported) as tar:
            assert "made-here" in tar.getnames()
        assert "Deleted Containers:" in ok(docker.docker("container", "prune", "-f"))
        assert docker.docker("inspect", "cli-verbs2").returncode == 1
        history = ok(docker.docker("history", "cli-committed:1"))
        assert history.splitlines()[0].split()[:2] == ["IMAGE", "CREATED"]
        ok(docker.docker("rmi", "cli-committed:1"))
    finally:
        docker.docker("rm", "-f", "cli-verbs", "cli-verbs2")


def test_logs_follow_and_attach(docker: Service) -> None:
    ok(docker.docker("run", "-d", "--name", "cli-follow", "busybox", "sh", "-c",
                     "for i in 1 2 3; do echo tick$i; sleep 0.3; done"))
    try:
        followed = ok(docker.docker("logs", "-f", "cli-follow", timeout=60))
        assert followed == "tick1\ntick2\ntick3\n"  # ends when the container does
        assert ok(docker.docker("logs", "--tail", "1", "cli-follow")) == "tick3\n"
    finally:
        docker.docker("rm", "-f", "cli-follow")
    ok(docker.docker("run", "-d", "--name", "cli-attach", "busybox", "sh", "-c",
                     "sleep 1; echo after-attach; sleep 0.5"))
    try:
        attached = docker.docker("attach", "cli-attach", timeout=60)
        assert attached.stdout == "after-attach\n"
    finally:
        docker.docker("rm", "-f", "cli-attach")


def test_search_says_lamina_has_none(docker: Service) -> None:
    result = docker.docker("search", "busybox")
    assert result.returncode == 1
    assert "search is not supported" in result.stderr


def test_image_prune_and_import(docker: Service, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    imported = ok(docker.docker("import", str(rootfs), "cli-imported:1")).strip()
    assert imported.startswith("sha256:")
    ok(docker.docker("tag", "cli-imported:1", "cli-imported:2"))
    ok(docker.docker("rmi", "cli-imported:1", "cli-imported:2"))
    untagged = ok(docker.docker("import", str(rootfs))).strip()
    pruned = ok(docker.docker("image", "prune", "-f"))
    assert f"deleted: {untagged}" in pruned
    assert "Total reclaimed space:" in pruned


def test_host_config_flags_reach_the_container(docker: Service, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host\n")
    out = ok(docker.docker("run", "--rm", "--network", "none", "-v", f"{shared}:/data:ro",
                           "--read-only", "-h", "boxhost", "--cap-drop", "ALL",
                           "-l", "team=api", "busybox", "sh", "-c",
                           "ls /sys/class/net; cat /data/in.txt; hostname;"
                           " touch /x 2>/dev/null || echo read-only"))
    assert out.split("\n") == ["lo", "from the host", "boxhost", "read-only", ""]
    cid = ok(docker.docker("create", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50",
                           "--entrypoint", "sh", "busybox", "-c", "true")).strip()
    try:
        shown = ok(docker.docker("inspect", "--format",
                                 "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} "
                                 "{{.HostConfig.PidsLimit}} {{json .Config.Entrypoint}} "
                                 "{{json .Config.Cmd}}", cid)).strip()
        assert shown == '67108864 500000000 50 ["sh"] ["-c","true"]'
    finally:
        docker.docker("rm", cid)
    refused = docker.docker("run", "--rm", "--ip", "172.17.9.9", "busybox", "true")
    assert refused.returncode == 125
    assert "user specified IP address is supported on user defined networks only" in \
        refused.stderr


def test_run_it_detaches_with_ctrl_p_ctrl_q(docker: Service, tmp_path: Path) -> None:
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    script = tmp_path / "typed.sh"
    script.write_text("sleep 1.5; printf 'echo before\\n'; sleep 1; printf '\\020\\021';"
                      " sleep 1\n")
    result = subprocess.run(f"sh {script} | script -qfec 'docker run -it --name cli-detach "
                            f"busybox sh' /dev/null", shell=True, capture_output=True,
                            env=docker.docker_env, timeout=60)
    try:
        assert result.returncode == 0
        assert b"before" in result.stdout
        assert ok(docker.docker("inspect", "--format", "{{.State.Running}}", "cli-detach")
                  ).strip() == "true"  # detached, not stopped
        # the service let go of the detached container's streams cleanly: the next attached
        # run hears its container's exit (the descriptor numbers are used again)
        assert ok(docker.docker("run", "-i", "--rm", "busybox", "cat", input=b"next\n",
                                timeout=60)) == "next\n"
        ok(docker.docker("kill", "cli-detach"))
        assert ok(docker.docker("wait", "cli-detach")).strip() == "137"
    finally:
        docker.docker("rm", "-f", "cli-detach")


def test_start_attached_with_stdin(docker: Service) -> None:
    cid = ok(docker.docker("create", "-i", "busybox", "cat")).strip()
    try:
        assert ok(docker.docker("start", "-ai", cid, input=b"via start\n")) == "via start\n"
        assert ok(docker.docker("start", "-ai", cid, input=b"again\n")) == "again\n"
    finally:
        docker.docker("rm", cid)


def test_attach_later_live_with_tty_resize_and_detach(docker: Service, tmp_path: Path) -> None:
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    ok(docker.docker("run", "-dit", "--name", "cli-live", "busybox", "sh"))
    try:
        script = tmp_path / "typed.sh"
        script.write_text("sleep 1; printf 'echo live-$((3*3))\\n'; sleep 0.5;"
                          " printf 'stty size\\n'; sleep 0.5; printf '\\020\\021'; sleep 0.5\n")
        result = subprocess.run(f"sh {script} | script -qfec 'stty cols 77 rows 22; docker "
                                "attach cli-live' /dev/null", shell=True, capture_output=True,
                                env=docker.docker_env, timeout=60)
        out = result.stdout.decode(errors="replace")
        assert "live-9" in out and "22 77" in out
        assert ok(docker.docker("inspect", "--format", "{{.State.Running}}", "cli-live")
                  ).strip() == "true"
    finally:
        docker.docker("rm", "-f", "cli-live")


def test_exec_privileged_and_detached(docker: Service) -> None:
    ok(docker.docker("run", "-d", "--name", "cli-exec2", "busybox", "sleep", "60"))
    try:
        def effective(*flags: str) -> int:
            status = ok(docker.docker("exec", *flags, "cli-exec2", "cat", "/proc/self/status"))
            line = next(x for x in status.splitlines() if x.startswith("CapEff:"))
            return int(line.split()[1], 16)

        assert effective("--privileged") > effective()
        ok(docker.docker("exec", "-d", "cli-exec2", "sh", "-c", "sleep 0.3; touch /later"))
        for _ in range(50):
            if docker.docker("exec", "cli-exec2", "ls", "/later").returncode == 0:
                break
        assert ok(docker.docker("exec", "cli-exec2", "ls", "/later")) == "/later\n"
    finally:
        docker.docker("rm", "-f", "cli-exec2")


def test_security_flags_reach_the_container(docker: Service) -> None:
    def status(*flags: str) -> dict[str, str]:
        text = ok(docker.docker("run", "--rm", *flags, "busybox", "cat", "/proc/self/status"))
        return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)

    plain = status()
    assert int(status("--privileged")["CapEff"], 16) > int(plain["CapEff"], 16)
    assert status("--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert ok(docker.docker("run", "--rm", "--group-add", "50", "busybox", "id", "-G")
              ).split() == ["0", "50"]


def test_more_run_flags_through_host_config(docker: Service) -> None:
    out = ok(docker.docker("run", "--rm", "--ulimit", "nofile=100:200", "--tmpfs", "/scratch",
                           "--shm-size", "32m", "busybox", "sh", "-c",
                           "ulimit -n; cat /proc/mounts"))
    lines = out.splitlines()
    assert lines[0] == "100"
    assert any(" /scratch tmpfs " in line for line in lines)
    cid = ok(docker.docker("create", "--restart", "on-failure:2", "--stop-signal", "SIGUSR1",
                           "--health-cmd", "true", "--health-interval", "5s", "--init",
                           "busybox", "true")).strip()
    try:
        shown = ok(docker.docker("inspect", "--format",
                                 "{{.HostConfig.RestartPolicy.Name}} "
                                 "{{.HostConfig.RestartPolicy.MaximumRetryCount}} "
                                 "{{.Config.StopSignal}} {{json .Config.Healthcheck.Test}} "
                                 "{{.Config.Healthcheck.Interval}} {{.HostConfig.Init}}",
                                 cid)).strip()
        assert shown == 'on-failure 2 SIGUSR1 ["CMD-SHELL","true"] 5s true'
    finally:
        docker.docker("rm", cid)
    bad = docker.docker("run", "--rm", "--ulimit", "bogus=1", "busybox", "true")
    assert bad.returncode == 125


def test_build_options_through_the_legacy_builder(docker: Service, tmp_path: Path) -> None:
    """-q, --target, --label and --no-cache reach the builder (docker CLI without buildx
    sends them to POST /build)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox AS base\nRUN echo one > /one\n"
                                    "FROM base AS later\nRUN echo two > /two\n")
    quiet = ok(docker.docker("build", "-q", "--target", "base", "--label", "kind=opts",
                             "-t", "cli-opts:1", str(ctx))).strip()
    assert quiet.startswith("sha256:") and len(quiet) == 71  # the image ID, nothing else
    assert ok(docker.docker("inspect", "--format", "{{.Id}} {{index .Config.Labels \"kind\"}}",
                            "cli-opts:1")).split() == [quiet, "opts"]
    listing = ok(docker.docker("run", "--rm", "cli-opts:1", "ls", "/"))
    assert "one" in listing.split() and "two" not in listing.split()  # the target stage only
    again = ok(docker.docker("build", "--target", "base", "--label", "kind=opts",
                             "-t", "cli-opts:2", str(ctx)))
    # (the stream's text is lamina's builder's, which marks a step taken from the cache)
    assert "CACHED [base 2/2] RUN echo one > /one" in again.splitlines()
    fresh = ok(docker.docker("build", "--no-cache", "--target", "base", "--label",
                             "kind=opts", "-t", "cli-opts:3", str(ctx)))
    assert "CACHED" not in fresh and "Successfully tagged cli-opts:3" in fresh
    ok(docker.docker("rmi", "cli-opts:1", "cli-opts:2", "cli-opts:3"))


def test_logs_with_a_tty_since_and_until(docker: Service) -> None:
    import time

    before = f"{time.time():.3f}"
    ok(docker.docker("run", "-t", "--name", "cli-tty-logs", "busybox", "sh", "-c",
                     "echo one; echo two >&2"))
    try:
        # with a tty the log is the terminal's, raw (one stream, with its CR LF)
        shown = docker.docker("logs", "cli-tty-logs")
        assert (shown.stdout, shown.stderr) == ("one\r\ntwo\r\n", "")
        assert ok(docker.docker("logs", "--since", before, "cli-tty-logs")) == "one\r\ntwo\r\n"
        assert ok(docker.docker("logs", "--until", before, "cli-tty-logs")) == ""
        after = f"{time.time() + 1:.3f}"
        assert ok(docker.docker("logs", "--since", after, "cli-tty-logs")) == ""
        bad = docker.docker("logs", "--since", "yesterday-ish", "cli-tty-logs")
        assert bad.returncode == 1 and "yesterday-ish" in bad.stderr
    finally:
        docker.docker("rm", "-f", "cli-tty-logs")


def test_ps_filters_through_the_api(docker: Service) -> None:
    ok(docker.docker("run", "--name", "cli-ps-done", "-l", "tier=one", "busybox", "true"))
    ok(docker.docker("run", "-d", "--name", "cli-ps-up", "-l", "tier=two", "busybox",
                     "sleep", "60"))
    try:
        def names(*filters: str) -> list[str]:
            args = [a for f in filters for a in ("--filter", f)]
            return sorted(ok(docker.docker("ps", "-a", *args, "--format", "{{.Names}}")
                             ).split())

        assert names("name=cli-ps-") == ["cli-ps-done", "cli-ps-up"]
        assert names("name=cli-ps-", "status=exited") == ["cli-ps-done"]
        assert names("label=tier=two") == ["cli-ps-up"]
        assert names("name=cli-ps-", "exited=0") == ["cli-ps-done"]
        assert names("name=cli-ps-", "ancestor=busybox") == ["cli-ps-done", "cli-ps-up"]
        bad = docker.docker("ps", "--filter", "status=sleepy")
        assert bad.returncode == 1 and "sleepy" in bad.stderr
    finally:
        docker.docker("rm", "-f", "cli-ps-done", "cli-ps-up")
