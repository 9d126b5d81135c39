"""The docker CLI against `lamina system service`, and against dockerd (Debian's docker.io,
started here with --bridge=none --iptables=false --ip-forward=false on a throwaway data
root), in one run:

- `docker ps -a` with 50 containers (created, not running: 50 idle engines' worth of
  running containers would measure the machine's memory, not the listing);
- `docker run --rm --network none busybox true`: dockerd runs here with --bridge=none, so its
  containers get no network whatever they ask, and lamina's default bridge (a bridge, a veth
  pair and an nftables table to set up and take down: about a third of a `run --rm`) would
  be work dockerd does not do; lamina's `docker run --rm busybox true`, on its bridge, is
  printed beside it;
- `docker images` with 1,000 images;
- and `docker run --rm` through the service against `lamina run --rm` directly;
- and the docker CLI alone: the same commands against a server that answers every request
  at once from memory, with the bytes the lamina service answered (what a server costing
  nothing would give: the floor under any engine's figure).

Everything runs in a network namespace of its own (root only). Goals: the service at or
under 0.5x dockerd's time for each, and `docker run --rm` through the service within 1.3x of
`lamina run --rm`. The commands take turns round by round (in a new order each round), so the
machine's load weighs on all alike; medians are printed with their ratios.

    python bench/api.py [--images 1000] [--containers 50] [--runs 11]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.busybox import busybox_tar
from helpers.netns import private_network
from lamina.engine import Engine, Settings

DOCKER = shutil.which("docker")
DOCKERD = shutil.which("dockerd")
RUN = "docker run --rm --network none busybox true"


def make_rootfs(i: int) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"image {i}\n".encode()
        info = tarfile.TarInfo(f"etc/image-{i}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wait_for_socket(path: Path, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if path.exists():
            with socket.socket(socket.AF_UNIX) as sock:
                try:
                    sock.connect(str(path))
                    return True
                except OSError:
                    pass
        time.sleep(0.1)
    return False


def docker_env(sock: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    return {**env, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(config)}


def run(argv: list[str], env: dict[str, str], **kw: object) -> None:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, **kw)  # type: ignore[call-overload]


def interleaved(commands: dict[str, tuple[list[str], dict[str, str]]], runs: int
                ) -> dict[str, float]:
    for argv, env in commands.values():  # warm up
        run(argv, env)
    import random

    times: dict[str, list[float]] = {name: [] for name in commands}
    order = list(commands)
    shuffle = random.Random(14).shuffle
    for _ in range(runs):
        # in a new order each round: a `run --rm` leaves work behind it (its monitor's exit,
        # the mounts), which would otherwise always fall on the same next command
        shuffle(order)
        for name in order:
            argv, env = commands[name]
            started = time.perf_counter()
            run(argv, env)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def request_median(sock: Path, path: str, runs: int) -> float:
    """The median time of one API request over a kept-alive connection: the engine's own
    part, without the docker CLI's start-up (which weighs the same on both engines)."""
    import http.client

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(sock))

    conn = Unix("localhost", timeout=120)
    times = []
    try:
        for i in range(runs + 1):
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, (path, response.status)
            if i:  # the first warms up
                times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return statistics.median(times)


class CannedServer:
    """A unix socket answering each request with the bytes the service once answered to it
    (asked once, on first sight, with ``Connection: close``): the docker CLI's own time, as
    against a server that costs nothing. Only for requests without a body (ping, lists)."""

    def __init__(self, upstream: Path, path: Path) -> None:
        import threading

        self.upstream = upstream
        self.answers: dict[bytes, bytes] = {}
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _answer(self, line: bytes) -> bytes:
        answer = self.answers.get(line)
        if answer is None:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(self.upstream))
                sock.sendall(line + b"\r\nHost: bench\r\nConnection: close\r\n\r\n")
                parts = []
                while data := sock.recv(1 << 20):
                    parts.append(data)
            answer = self.answers[line] = b"".join(parts).replace(b"Connection: close\r\n", b"")
        return answer

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                conn.sendall(self._answer(head.split(b"\r\n", 1)[0]))

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def start_dockerd(work: Path) -> tuple[subprocess.Popen[bytes] | None, Path]:
    sock = work / "dockerd" / "docker.sock"
    if DOCKERD is None:
        print("dockerd: not installed (Debian's docker.io); skipping that peer")
        return None, sock
    (work / "dockerd").mkdir()
    # --ip-forward=false: dockerd would otherwise turn on the host's IP forwarding
    argv = [DOCKERD, "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--ip-forward=false",
            "--data-root", str(work / "dockerd" / "data"),
            "--exec-root", str(work / "dockerd" / "exec"),
            "--pidfile", str(work / "dockerd" / "pid"), "-H", f"unix://{sock}"]
    log = open(work / "dockerd" / "log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    if not wait_for_socket(sock, proc, 60):
        print(f"dockerd: did not start (see {work / 'dockerd' / 'log'}); skipping that peer")
        stop(proc)
        return None, sock
    return proc, sock


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    if DOCKER is None:
        sys.exit("bench/api.py needs the docker CLI")
    # Containers on the default bridge (lamina's and dockerd's) would add links and nftables
    # rules to the machine's own namespace: the whole run, both engines, takes one of its own.
    if not private_network():
        sys.exit("bench/api.py needs root, to run in a network namespace of its own")
    with tempfile.TemporaryDirectory(prefix="lamina-bench-api-") as tmp:
        work = Path(tmp)
        config = work / "docker-config"
        config.mkdir()
        root = work / "lamina"
        engine = Engine(Settings.from_env(root))
        engine.import_(io.BytesIO(busybox_tar()), "busybox")
        for i in range(args.images):
            engine.import_(io.BytesIO(make_rootfs(i)), f"bench/app{i % 50}:v{i}",
                           changes=[f"LABEL index={i}"])
        archive = work / "images.tar"
        names = ["busybox", *[f"bench/app{i % 50}:v{i}" for i in range(args.images)]]
        with open(archive, "wb") as out:
            engine.save(names, out)
        engine.close()
        lamina_env = {**os.environ, "LAMINA_ROOT": str(root)}
        lamina_sock = work / "lamina.sock"
        service = subprocess.Popen(
            [sys.executable, "-m", "lamina", "system", "service", "--socket",
             f"unix://{lamina_sock}", "--time", "0"], env=lamina_env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        dockerd, dockerd_sock = None, work / "none"
        try:
            if not wait_for_socket(lamina_sock, service, 30):
                sys.exit("the lamina service did not start")
            dockerd, dockerd_sock = start_dockerd(work)
            targets = {"lamina": docker_env(lamina_sock, config)}
            if dockerd is not None:
                targets["dockerd"] = docker_env(dockerd_sock, config)
                started = time.perf_counter()
                run([DOCKER, "load", "-i", str(archive)], targets["dockerd"])
                print(f"dockerd: loaded {args.images + 1} images in "
                      f"{time.perf_counter() - started:.1f} s")
            for env in targets.values():
                for i in range(args.containers):
                    run([DOCKER, "create", "--name", f"bench{i}", "busybox", "true"], env)
            commands: dict[str, tuple[list[str], dict[str, str]]] = {}
            for label, env in targets.items():
                commands[f"{label}: docker ps -a ({args.containers} containers)"] = (
                    [DOCKER, "ps", "-a"], env)
                commands[f"{label}: docker images ({args.images + 1} images)"] = (
                    [DOCKER, "images"], env)
                commands[f"{label}: {RUN}"] = (
                    [DOCKER, *RUN.split()[1:]], env)
            commands["lamina: docker run --rm busybox true (on its bridge)"] = (
                [DOCKER, "run", "--rm", "busybox", "true"], targets["lamina"])
            commands["lamina run --rm --network none busybox true (no service)"] = (
                [sys.executable, "-m", "lamina", "run", "--rm", "--network", "none", "busybox",
                 "true"], lamina_env)
            canned_sock = work / "canned.sock"
            canned = CannedServer(lamina_sock, canned_sock)
            canned_env = docker_env(canned_sock, config)
            for what, argv in ((f"docker ps -a ({args.containers} containers)",
                                [DOCKER, "ps", "-a"]),
                               (f"docker images ({args.images + 1} images)",
                                [DOCKER, "images"])):
                commands[f"docker CLI alone: {what}"] = (argv, canned_env)
            medians = interleaved(commands, args.runs)
            socks = {"lamina": lamina_sock}
            if dockerd is not None:
                socks["dockerd"] = dockerd_sock
            canned.close()
            for label, sock in socks.items():
                for what, path in (("GET /containers/json?all=1",
                                    "/v1.41/containers/json?all=1"),
                                   ("GET /images/json", "/v1.41/images/json")):
                    medians[f"{label}: {what} (API only)"] = request_median(
                        sock, path, args.runs * 3)
        finally:
            for env in [docker_env(lamina_sock, config)] + (
                    [docker_env(dockerd_sock, config)] if dockerd is not None else []):
                subprocess.run([DOCKER, "rm", "-f", *[f"bench{i}" for i in
                                                      range(args.containers)]],
                               env=env, capture_output=True, check=False, timeout=300)
            stop(service)
            stop(dockerd)
            subprocess.run(["umount", "-R", str(work / "dockerd" / "data")],
                           capture_output=True, check=False)
        width = max(len(name) for name in medians)
        for name, value in medians.items():
            print(f"{name:<{width}}  {value * 1000:8.1f} ms")
        if dockerd is not None:
            for what in (f"docker ps -a ({args.containers} containers)",
                         f"docker images ({args.images + 1} images)",
                         RUN):
                ratio = medians[f"lamina: {what}"] / medians[f"dockerd: {what}"]
                print(f"ratio lamina service/dockerd, {what}: {ratio:.2f} (goal <= 0.5)")
            for what in (f"docker ps -a ({args.containers} containers)",
                         f"docker images ({args.images + 1} images)"):
                ratio = medians[f"docker CLI alone: {what}"] / medians[f"dockerd: {what}"]
                print(f"ratio docker CLI alone/dockerd, {what}: {ratio:.2f} (the floor: no "
                      "server can do better)")
            print("(API only: requests in a row on an unchanged store; the service answers "
                  "a repeated image list from its cache)")
            for what in ("GET /containers/json?all=1", "GET /images/json"):
                ratio = (medians[f"lamina: {what} (API only)"]
                         / medians[f"dockerd: {what} (API only)"])
                print(f"ratio lamina service/dockerd, {what} (API only): {ratio:.2f}")
        through = medians[f"lamina: {RUN}"]
        direct = medians["lamina run --rm --network none busybox true (no service)"]
        print(f"ratio docker run --rm via the service / lamina run --rm: {through / direct:.2f}"
              " (goal <= 1.3)")


if __name__ == "__main__":
    main()
