"""Running one command-line table against lamina or docker, and comparing outputs as docker's.

A ``Tool`` runs argv lists (``["images", "-q"]``) as ``lamina`` or ``docker`` would be run by
a user: a subprocess, stdin a pipe (never a terminal), in a world that holds ``busybox:latest``
(the tests' busybox rootfs, imported from stdin) and nothing else when each case starts.

``normalise`` makes two outputs comparable: IDs, digests, times and ages become placeholders,
the program's name is ``docker``, docker's ``Error response from daemon:`` is lamina's
``Error:``, and runs of spaces in a table are one column gap.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.busybox import busybox_tar

from .table import Case


@dataclass
class Outcome:
    code: int
    out: str
    err: str


_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement) for pattern, replacement in (
        (r"sha256:[0-9a-f]{64}", "sha256:<id>"),
        (r"\b[0-9a-f]{64}\b", "<id>"),
        (r"\b[0-9a-f]{12}\b", "<short>"),
        (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?( ?Z| ?[+-]\d\d:?\d\d( [A-Z]+)?)",
         "<time>"),
        (r"(Less than a second|About a minute|About an hour|an? \w+|\d+ \w+?s?) ago", "<ago>"),
        (r"Up (Less than a second|About a minute|\d+ seconds?)", "Up <ago>"),
        (r"\blamina\b", "docker"),
        (r"(docker: )?Error response from daemon: ", "Error: "),
        (r"(?m)^docker: (?=Error)", ""),
        (r"\"time\":\d+", '"time":<n>'),
        (r"\"timeNano\":\d+", '"timeNano":<n>'),
        (r" {2,}|\t", "  "),
    )
)


def normalise(text: str, tmp: Path | None = None) -> str:
    if tmp is not None:
        text = text.replace(str(tmp), "{tmp}")
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text


def differences(case: Case, got: Outcome, tmp: Path) -> list[str]:
    """What in ``got`` does not match the case's expectation (empty: it matches)."""
    found = []
    out = normalise(got.out, tmp)
    expected = normalise(case.out, tmp) if case.out is not None else None
    if case.code != got.code:
        found.append(f"exit code {got.code}, expected {case.code}")
    if case.out_re is not None:
        if re.fullmatch(case.out_re, out, re.S) is None:
            found.append(f"stdout {out!r} does not match {case.out_re!r}")
    elif expected is not None and out != expected:
        found.append(f"stdout {out!r}, expected {expected!r}")
    err = normalise(got.err, tmp)
    if case.err is None:
        pass
    elif case.err == "":
        if err:
            found.append(f"stderr {err!r}, expected none")
    elif re.search(case.err, err, re.S) is None:
        found.append(f"stderr {err!r} does not match {case.err!r}")
    return found


class Tool:
    """One of the two programs, in a world of its own."""

    name = ""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    start = 0.0  # when the row began (``{start}``)

    def run(self, argv: Sequence[str], stdin: bytes = b"", timeout: float = 120) -> Outcome:
        args = [a.replace("{tmp}", str(self.tmp)).replace("{now}", f"{time.time():.9f}")
                .replace("{start}", f"{self.start:.9f}") for a in argv]
        proc = subprocess.run([*self.command(), *args], input=stdin, capture_output=True,
                              env=self.env(), timeout=timeout, check=False)
        return Outcome(proc.returncode, proc.stdout.decode(errors="replace"),
                       proc.stderr.decode(errors="replace"))

    def reset(self) -> None:
        """Back to a world of busybox:latest alone."""
        raise NotImplementedError

    def play(self, case: Case) -> Outcome:
        """The case's setup, files and command; the command's outcome. A setup step that
        fails is an error of the table or the tool, reported as such."""
        self.start = time.time()
        for name, content in case.files.items():
            path = self.tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        for step in case.setup:
            done = self.run(step)
            if done.code != 0:
                raise AssertionError(f"{self.name}: setup {step} failed: {done.err.strip()}")
        return self.run(case.argv, case.stdin.encode())


class Lamina(Tool):
    """lamina on a store of its own, copied from a template holding busybox."""

    name = "lamina"

    def __init__(self, tmp: Path, template: Path) -> None:
        super().__init__(tmp)
        self.template = template
        self.root = tmp / "store"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lamina"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "LAMINA_ROOT": str(self.root)}

    def reset(self, containers: bool = True) -> None:
        """A fresh copy of the template; ``containers``: remove the running ones first (their
        mounts and monitors), which costs a command."""
        if self.root.exists():
            if containers:
                ids = self.run(["ps", "-aq"]).out.split()
                if ids:
                    self.run(["rm", "-f", *ids])
            shutil.rmtree(self.root)
        shutil.copytree(self.template, self.root, symlinks=True)


def lamina_template(path: Path) -> Path:
    """A store holding busybox:latest, imported from stdin as a user would."""
    env = {**os.environ, "LAMINA_ROOT": str(path)}
    subprocess.run([sys.executable, "-m", "lamina", "import", "-", "busybox:latest"],
                   input=busybox_tar(), env=env, check=True, capture_output=True)
    return path


class Docker(Tool):
    """The docker CLI against a dockerd this harness started (``Dockerd``)."""

    name = "docker"

    def __init__(self, tmp: Path, daemon: Dockerd) -> None:
        super().__init__(tmp)
        self.daemon = daemon

    def command(self) -> list[str]:
        return ["docker"]

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.daemon.env()}

    def reset(self) -> None:
        ids = self.run(["ps", "-aq"]).out.split()
        if ids:
            self.run(["rm", "-f", *ids])
        keep = self.run(["images", "-q", "--no-trunc", "busybox:latest"]).out.split()
        every = set(self.run(["images", "-aq", "--no-trunc"]).out.split())
        if every - set(keep):
            self.run(["rmi", "-f", *sorted(every - set(keep))])
        for ref in self.run(["images", "--format", "{{.Repository}}:{{.Tag}}"]).out.split():
            if ref != "busybox:latest":
                self.run(["rmi", ref])


class Dockerd:
    """Debian's dockerd on a data root of its own: no bridge, no iptables, no forwarding (it
    changes nothing on the machine), its socket in a short tmp path."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lamina-dockerd-"))
        self.socket = self.dir / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def unavailable() -> str | None:
        """Why no dockerd can start here, or None."""
        if os.geteuid() != 0:
            return "dockerd needs root"
        for program in ("dockerd", "docker", "containerd", "runc"):
            if shutil.which(program) is None:
                return f"{program} is not installed (Debian's docker.io)"
        return None

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.dir / "cfg")}

    def start(self) -> None:
        log = (self.dir / "dockerd.log").open("wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--ip-forward=false", "--ip-masq=false", "--data-root", str(self.dir / "data"),
             "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "pid"),
             "-H", f"unix://{self.socket}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        env = {**os.environ, **self.env()}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log_tail()}")
            ready = subprocess.run(["docker", "version"], env=env, capture_output=True,
                                   check=False)
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"dockerd did not answer in 60 s: {self.log_tail()}")
        subprocess.run(["docker", "import", "-", "busybox:latest"], input=busybox_tar(),
                       env=env, check=True, capture_output=True)

    def log_tail(self) -> str:
        try:
            return (self.dir / "dockerd.log").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
