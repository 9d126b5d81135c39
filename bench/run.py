"""`lamina run --rm busybox true` against `podman run --rm` and against `runc run` alone.

One busybox image (Debian's busybox-static in a one-layer rootfs) is imported into a fresh
lamina store; podman gets the same image through `podman load` of a `lamina save` archive (in
its own --root/--runroot, cgroupfs, runc); runc alone runs a bundle prepared once (the image's
rootfs unpacked, `runc spec`, no terminal). Each command is timed whole, wall clock, and the
medians and ratios are printed. The goal: lamina's whole command under half of podman's time.

    python bench/run.py [--runs 21] [--against SRC]   (as root; runc, podman optional)

``--against SRC`` times another lamina too, in the same rounds (on a store of its own): the
``src/`` directory of, say, a checkout of older code, to compare the two on the same machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.busybox import busybox_tar
from lamina.engine import Engine, Settings

Command = tuple[list[str], dict[str, str], str | None]  # argv, environment, working directory


def interleaved(commands: dict[str, Command], runs: int) -> dict[str, float]:
    """Each command's median wall time, the commands taking turns round by round, so that
    the machine's load at any moment weighs on all of them alike."""
    for argv, env, cwd in commands.values():  # warm up
        subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env, cwd) in commands.items():
            started = time.perf_counter()
            subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


AGAINST = "(--against) lamina run --rm"


def compiled_copy(package: Path, into: Path) -> Path:
    """A copy of the lamina package ``package`` under ``into``, its bytecode compiled."""
    copy = into / "lamina"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(copy)], check=True,
                   stdout=subprocess.DEVNULL)
    return copy


def runc_bundle(work: Path, engine: Engine) -> Path:
    """A bundle whose rootfs is a copy of the image's unpacked layer."""
    bundle = work / "bundle"
    bundle.mkdir()
    layer = engine.store.resolve("busybox").layers[0]
    shutil.copytree(engine.store.snapshots.path(layer.chain_id), bundle / "rootfs",
                    symlinks=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["process"].pop("rlimits", None)  # the hard limit may be below runc's default
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--network", default=None,
                        help="lamina's --network (default: its own default, bridge); podman "
                             "runs with host")
    parser.add_argument("--against", metavar="SRC", type=Path,
                        help="the src/ directory of another lamina, timed alongside")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("runc") is None:
        sys.exit("bench/run.py needs root and runc")
    import lamina as package

    with tempfile.TemporaryDirectory(prefix="lamina-bench-run-") as tmp:
        work = Path(tmp)
        # An installed lamina has its bytecode compiled; a checkout run with
        # PYTHONDONTWRITEBYTECODE would compile every module on every run instead. So the
        # timed lamina is a copy of this one, compiled, so nothing is written to the tree.
        copy = compiled_copy(Path(package.__file__).parent, work / "src")
        # What a user runs: the `lamina` script pip installs (it imports lamina.cli.main and
        # calls main()), not `python -m lamina`, which loads runpy besides.
        script = work / "lamina-command"
        script.write_text("import sys\nfrom lamina.cli.main import main\n"
                          "if __name__ == '__main__':\n    sys.exit(main())\n")
        lamina = [sys.executable, str(script)]
        code_env = dict(os.environ, PYTHONPATH=str(copy.parent))
        rootfs_tar = busybox_tar()
        engine = Engine(Settings.from_env(work / "lamina"))
        engine.import_(io.BytesIO(rootfs_tar), "busybox")
        env = dict(code_env, LAMINA_ROOT=str(work / "lamina"))

        flags = ["--network", args.network] if args.network else []
        commands: dict[str, Command] = {
            "lamina run --rm busybox true": ([*lamina, "run", "--rm", *flags, "busybox", "true"],
                                             env, None),
        }
        if args.against is not None:
            other = compiled_copy(args.against / "lamina", work / "against")
            other_env = dict(os.environ, PYTHONPATH=str(other.parent),
                             LAMINA_ROOT=str(work / "lamina-against"))
            (work / "rootfs.tar").write_bytes(rootfs_tar)
            subprocess.run([*lamina, "import", str(work / "rootfs.tar"), "busybox"],
                           env=other_env, check=True, stdout=subprocess.DEVNULL)
            commands[AGAINST] = ([*lamina, "run", "--rm", *flags, "busybox", "true"], other_env,
                                 None)
        bundle = runc_bundle(work, engine)
        commands["runc run (prepared bundle)"] = (
            ["runc", "--root", str(work / "runc-state"), "run", "bench-runc"],
            dict(os.environ), str(bundle))
        podman = shutil.which("podman")
        graph = work / "podman"
        podman_cmd: list[str] = []
        if podman is not None:
            archive = work / "busybox.tar"
            with archive.open("wb") as out:
                engine.save(["busybox"], out)
            podman_cmd = [podman, "--root", str(graph / "root"), "--runroot",
                          str(graph / "run"), "--cgroup-manager=cgroupfs", "--runtime", "runc",
                          "--storage-driver", "overlay"]
            subprocess.run([*podman_cmd, "load", "-q", "-i", str(archive)], check=True,
                           stdout=subprocess.DEVNULL)
            # podman asks for more open files than root may have here (no CAP_SYS_RESOURCE);
            # values below any hard limit, since lowering a limit is always allowed.
            files = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1024)
            commands["podman run --rm busybox true"] = (
                [*podman_cmd, "run", "--rm", "--network", "host",
                 "--ulimit", f"nofile={files}:{files}", "--ulimit", "nproc=4096:4096",
                 "docker.io/library/busybox:latest", "true"], dict(os.environ), None)
        try:
            medians = interleaved(commands, args.runs)
        finally:
            if podman_cmd:
                subprocess.run([*podman_cmd, "system", "reset", "-f"], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run(["umount", str(graph / "root" / "overlay")], check=False,
                               stderr=subprocess.DEVNULL)
        for name, value in medians.items():
            print(f"{name:30} median {value * 1000:6.1f} ms over {args.runs} runs")
        ours = medians["lamina run --rm busybox true"]
        if AGAINST in medians:
            print(f"ratio lamina/lamina at {args.against}: {ours / medians[AGAINST]:.2f}")
        print(f"ratio lamina/runc:   {ours / medians['runc run (prepared bundle)']:.2f}")
        if podman is None:
            print("podman: not installed (apt-get install podman); no ratio")
        else:
            print(f"ratio lamina/podman: {ours / medians['podman run --rm busybox true']:.2f}"
                  " (goal: under 0.50)")


if __name__ == "__main__":
    main()
