"""Container networking, in a network namespace that exists only for this run:

- ``run --rm busybox true`` on the default bridge against ``--network host``, for lamina and
  for podman (netavark) where it runs: the bridge's overhead in wall-clock and in CPU time
  (goal: under 30 ms, and under podman's);
- TCP throughput (a large file from busybox httpd, fetched with curl) and request latency
  (sequential requests for a small file, each on a new connection) through a published port
  against the container's own address (goal: at least 0.8x the direct throughput, under
  0.2 ms added per request). Published ports are kernel DNAT (lamina's choice: no process per
  port); a userland proxy (a Python splice loop, as the per-container monitor could hold) is
  measured beside it for the comparison.

The script re-executes itself under ``unshare --net`` first: every bridge, veth, nftables rule
and sysctl it causes lives in that namespace and goes with it. Root only.

    python bench/network.py [--runs 11] [--size-mb 64] [--no-podman]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.busybox import busybox_tar

LAMINA = str(Path(sys.executable).with_name("lamina"))
PODMAN = shutil.which("podman")
MARK = "LAMINA_BENCH_NETNS"


def enter_namespace() -> None:
    if os.environ.get(MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        sys.exit("bench/network.py needs root (network namespaces, bridges)")
    env = {**os.environ, MARK: "1"}
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv], env)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The command's wall-clock time, and the CPU time (user + system) of it and of every
    process it waited for: on a busy machine the first grows with the others' load, the
    second hardly. (A container's monitor is not waited for: its share is not counted.)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.decode().strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def run_overhead(tmp: Path, runs: int, podman: bool) -> None:
    env = {**os.environ, "LAMINA_ROOT": str(tmp / "store")}
    lamina = {
        "lamina bridge": [LAMINA, "run", "--rm", "bb", "true"],
        "lamina host": [LAMINA, "run", "--rm", "--network", "host", "bb", "true"],
    }
    commands = dict(lamina)
    if podman and PODMAN:
        base = [PODMAN, "--root", str(tmp / "podman"), "--runroot", str(tmp / "podman-run"),
                "--cgroup-manager=cgroupfs", "--runtime", "runc", "--storage-driver", "overlay"]
        imported = subprocess.run([*base, "import", str(tmp / "bb.tar"), "bb"],
                                  capture_output=True)
        # podman asks for more open files and processes than root may have here (no
        # CAP_SYS_RESOURCE): limits below any hard limit, since lowering one is allowed
        files = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1024)
        limits = ["--ulimit", f"nofile={files}:{files}", "--ulimit", "nproc=4096:4096"]
        run = [*base, "run", "--rm", *limits]
        probe = subprocess.run([*run, "--network", "bridge", "bb", "true"],
                               capture_output=True) if imported.returncode == 0 else imported
        if probe.returncode == 0:
            commands["podman bridge"] = [*run, "--network", "bridge", "bb", "true"]
            commands["podman host"] = [*run, "--network", "host", "bb", "true"]
        else:
            print(f"podman: skipped ({probe.stderr.decode().strip()[-200:]})")
    for argv in commands.values():  # warm up: the bridge, caches
        timed(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs):
        names = list(commands)
        names = names[i % len(names):] + names[:i % len(names)]  # a new order each round
        for name in names:
            wall, cpu = timed(commands[name], env)
            times[name].append(wall)
            cpus[name].append(cpu)
    median = {name: statistics.median(t) * 1000 for name, t in times.items()}
    cpu_median = {name: statistics.median(t) * 1000 for name, t in cpus.items()}
    print(f"\nrun --rm busybox true, median of {runs} (ms), wall clock and CPU:")
    for name, ms in median.items():
        print(f"  {name:15} {ms:8.1f}   cpu {cpu_median[name]:8.1f}")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    overhead = median["lamina bridge"] - median["lamina host"]
    cpu_overhead = cpu_median["lamina bridge"] - cpu_median["lamina host"]
    print(f"  lamina bridge overhead: {overhead:.1f} ms, cpu {cpu_overhead:.1f} ms "
          "(goal < 30 ms)")
    if "podman bridge" in median:
        podman_overhead = median["podman bridge"] - median["podman host"]
        podman_cpu = cpu_median["podman bridge"] - cpu_median["podman host"]
        print(f"  podman bridge overhead: {podman_overhead:.1f} ms, cpu {podman_cpu:.1f} ms")
        if podman_overhead > 0:
            print(f"  lamina/podman overhead ratio {overhead / podman_overhead:.2f}")


def proxy(listen_port: int, target: tuple[str, int]) -> subprocess.Popen[bytes]:
    """A userland TCP proxy (one thread per direction), for comparison with DNAT."""
    code = f"""
import socket, threading
def pump(a, b):
    try:
        while True:
            data = a.recv(1 << 16)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", {listen_port})); srv.listen(128)
while True:
    c, _ = srv.accept()
    u = socket.create_connection({target!r})
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
"""
    return subprocess.Popen([sys.executable, "-c", code])


def curl_speed(url: str) -> float:
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", url],
                          capture_output=True, text=True, check=True)
    return float(done.stdout) / 1e6


def request_latency(url: str, count: int = 400) -> tuple[float, float]:
    """``count`` requests one after the other, each on a new TCP connection (busybox httpd
    closes every one): the median and the 90th percentile of a request's time (ms)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(request)
            while sock.recv(65536):
                pass
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def throughput(tmp: Path, runs: int, size_mb: int) -> None:
    env = {**os.environ, "LAMINA_ROOT": str(tmp / "store")}
    script = (f"mkdir -p /www && busybox dd if=/dev/zero of=/www/big bs=1M count={size_mb} "
              "2>/dev/null && echo ok > /www/small && exec busybox httpd -f -p 80 -h /www")
    subprocess.run([LAMINA, "run", "-d", "--name", "web", "-p", "18080:80", "bb", "sh", "-c",
                    script], env=env, check=True, capture_output=True)
    try:
        address = subprocess.run([LAMINA, "inspect", "-f",
                                  "{{.NetworkSettings.IPAddress}}", "web"], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip()
        direct = f"http://{address}:80"
        published = "http://127.0.0.1:18080"
        helper = proxy(18090, (address, 80))
        proxied = "http://127.0.0.1:18090"
        deadline = time.monotonic() + 30
        for base in (direct, published, proxied):
            while subprocess.run(["curl", "-sf", "-o", "/dev/null", f"{base}/small"]
                                 ).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{base} does not answer")
                time.sleep(0.1)
        ways = {"direct": direct, "published (DNAT)": published, "userland proxy": proxied}
        speeds: dict[str, list[float]] = {name: [] for name in ways}
        for i in range(runs):
            names = list(ways)[i % 3:] + list(ways)[:i % 3]
            for name in names:
                speeds[name].append(curl_speed(f"{ways[name]}/big"))
        print(f"\nthroughput, {size_mb} MiB over HTTP, {runs} runs (MB/s; the best run is "
              "the least disturbed by the machine's other load):")
        direct_speed = statistics.median(speeds["direct"])
        direct_best = max(speeds["direct"])
        for name, values in speeds.items():
            speed, best = statistics.median(values), max(values)
            print(f"  {name:18} median {speed:8.1f} (ratio {speed / direct_speed:.2f})   "
                  f"best {best:8.1f} (ratio {best / direct_best:.2f})")
        print("  goal: published >= 0.8x direct")
        print("\nrequest latency, 400 requests one after the other on a small file (a new "
              "connection each), median and 90th percentile (ms):")
        lat: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for i in range(3):  # interleaved rounds: a busy moment hits every way alike
            for name in list(ways)[i % 3:] + list(ways)[:i % 3]:
                lat[name].append(request_latency(f"{ways[name]}/small"))
        best = {name: min(rounds) for name, rounds in lat.items()}
        for name, (median, p90) in best.items():
            print(f"  {name:18} {median:7.3f} ms  p90 {p90:7.3f} ms   added "
                  f"{median - best['direct'][0]:+.3f} ms")
        print("  goal: published adds < 0.2 ms per request (best of 3 rounds' medians)")
        helper.kill()
        helper.wait()
    finally:
        subprocess.run([LAMINA, "rm", "-f", "web"], env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--no-podman", action="store_true")
    args = parser.parse_args()
    enter_namespace()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-net-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "bb.tar").write_bytes(busybox_tar())
        env = {**os.environ, "LAMINA_ROOT": str(tmp / "store")}
        subprocess.run([LAMINA, "import", str(tmp / "bb.tar"), "bb"], env=env, check=True,
                       capture_output=True)
        try:
            run_overhead(tmp, args.runs, not args.no_podman)
            throughput(tmp, args.runs, args.size_mb)
        finally:
            ids = subprocess.run([LAMINA, "ps", "-aq"], env=env, capture_output=True,
                                 text=True).stdout.split()
            if ids:
                subprocess.run([LAMINA, "rm", "-f", *ids], env=env, capture_output=True)
            subprocess.run([LAMINA, "network", "prune", "-f"], env=env, capture_output=True)
            if PODMAN and not args.no_podman:
                base = [PODMAN, "--root", str(tmp / "podman"), "--runroot",
                        str(tmp / "podman-run")]
                subprocess.run([*base, "rm", "-af"], capture_output=True)
                subprocess.run([*base, "rmi", "-af"], capture_output=True)
            unmount_under(tmp)


def unmount_under(tmp: Path) -> None:
    """What the peers left mounted under our directory (podman's storage), deepest first."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(str(tmp))), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


if __name__ == "__main__":
    main()
