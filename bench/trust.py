"""Signatures: what verification adds to ``lamina pull``, and lamina against cosign at signing
and verifying, on a CNCF registry on loopback, in one run.

- pull: ``lamina pull`` of a debian-like image (3 layers, about 50 MB compressed) into an empty
  store, with no policy and with a ``sigstoreSigned`` policy (the goal: verification adds under
  5%, or under 30 ms);
- sign: ``lamina trust sign --key`` against ``cosign sign --key --tlog-upload=false`` (both
  decrypt the same kind of key file, scrypt included, and push a ``.sig`` signature);
- verify: ``lamina trust verify --key`` against ``cosign verify --key
  --insecure-ignore-tlog`` of the image already signed (the goal for both: lamina at or under
  cosign's time).

Prints every median and the ratios. Usage: ``python bench/trust.py [--trials N]``. Needs
docker-registry, skopeo, and cosign (``scripts/get-sigstore`` puts it in ``.peers/bin``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from peers import cncf_registry, write_layout
from pull import MiB, compile_lamina, minbase_layer

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "bench-passphrase"


def cosign_binary() -> str:
    for candidate in (os.environ.get("LAMINA_COSIGN"), str(ROOT / ".peers/bin/cosign"),
                      shutil.which("cosign")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("bench/trust.py: cosign is missing: run scripts/get-sigstore")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall-clock, user and system CPU seconds of one run, its output discarded (cosign talks
    on stderr)."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


STEP = """
import statistics, sys, time
from lamina.engine.settings import Settings
from lamina.engine.trust import PullTrust, trust_options
from lamina.model.reference import Reference
from lamina.remote.session import Session
from lamina.trust.verify import TrustOptions

ref = Reference.parse(sys.argv[1])
settings = Settings.from_env()
with Session(ref, settings.remote) as session:
    repository, image = session.open(None)
    trust = PullTrust(trust_options(settings.signatures, TrustOptions(None, sys.argv[2])))
    times, cpu = [], []
    for _ in range(21):
        start, start_cpu = time.perf_counter(), time.process_time()
        verdict = trust.check(repository, ref, image)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert verdict is not None and verdict.verified
print(times[0], statistics.median(times[1:]), cpu[0], statistics.median(cpu[1:]))
"""


def step_times(ref: str, policy: Path, env: dict[str, str]) -> list[float]:
    """What ``PullTrust.check`` costs within a pull: the first call of a process, and later
    ones (the image already resolved: only the signatures' requests and checks); wall-clock,
    then CPU (which a loaded machine disturbs less)."""
    out = subprocess.run([sys.executable, "-c", STEP, ref, str(policy)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return [float(x) for x in out]


def median(values: list[tuple[float, float, float]]) -> float:
    return statistics.median(v[0] for v in values)


def show(label: str, values: list[tuple[float, float, float]]) -> float:
    value = median(values)
    cpu = statistics.median(v[1] + v[2] for v in values)
    print(f"  {label:34} median {value * 1000:8.1f} ms  min {min(v[0] for v in values) * 1000:7.1f}"
          f" ms  CPU {cpu * 1000:7.1f} ms  (trials: "
          + " ".join(f"{v[0] * 1000:.0f}" for v in values) + ")")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    cosign = cosign_binary()
    compile_lamina()
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-trust-"))
    lamina = [sys.executable, "-m", "lamina"]
    env = dict(os.environ, HOME=str(work / "home"), LAMINA_PASSPHRASE=PASSPHRASE,
               COSIGN_PASSWORD=PASSPHRASE, DOCKER_CONFIG=str(work / "docker"),
               LAMINA_CONFIG=str(work / "lamina.toml"))
    env.pop("DOCKER_CONTENT_TRUST", None)
    (work / "home").mkdir()
    try:
        rng = random.Random(7)
        tars = [minbase_layer(rng, size, i) for i, size in
                enumerate([50 * MiB, 25 * MiB, 10 * MiB])]
        subprocess.run([*lamina, "trust", "key", "generate", str(work / "bench")], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        key, pub = work / "bench.key", work / "bench.pub"
        with cncf_registry(work / "registry") as port:
            host = f"127.0.0.1:{port}"
            size = write_layout(work / "layout", tars, "v1")
            ref = f"{host}/bench/debian:v1"
            subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{work / 'layout'}:v1",
                            f"docker://{ref}", "--dest-tls-verify=false"], check=True)
            print(f"debian-like image: {len(tars)} layers, {size / 1e6:.0f} MB compressed")
            digest = subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                 f"docker://{ref}"], check=True, capture_output=True, text=True).stdout.strip()
            by_digest = f"{host}/bench/debian@{digest}"
            subprocess.run([*lamina, "trust", "sign", "--key", str(key), by_digest], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            policy = work / "policy.json"
            policy.write_text(json.dumps({
                "default": [{"type": "insecureAcceptAnything"}],
                "transports": {"docker": {f"{host}/bench": [{
                    "type": "sigstoreSigned", "keyPath": str(pub),
                    "signedIdentity": {"type": "matchRepository"}}]}}}))

            plain: list[tuple[float, float, float]] = []
            verified: list[tuple[float, float, float]] = []
            for trial in range(args.trials):
                for label, runs, extra in (("plain", plain, []),
                                           ("policy", verified,
                                            ["--signature-policy", str(policy)])):
                    store = work / f"store-{label}-{trial}"
                    os.sync()  # nothing of the last trial's left to write back
                    runs.append(timed([*lamina, "pull", "-q", *extra, ref],
                                      dict(env, LAMINA_ROOT=str(store))))
                    shutil.rmtree(store, ignore_errors=True)
            sign_lamina: list[tuple[float, float, float]] = []
            sign_cosign: list[tuple[float, float, float]] = []
            verify_lamina: list[tuple[float, float, float]] = []
            verify_cosign: list[tuple[float, float, float]] = []
            for _ in range(args.trials):
                sign_lamina.append(timed([*lamina, "trust", "sign", "--key", str(key),
                                          by_digest], env))
                sign_cosign.append(timed([cosign, "sign", "-y", "--key", str(key),
                                          "--tlog-upload=false", "--allow-http-registry",
                                          by_digest], env))
                verify_lamina.append(timed([*lamina, "trust", "verify", "--key", str(pub),
                                            ref], env))
                verify_cosign.append(timed([cosign, "verify", "--key", str(pub),
                                            "--insecure-ignore-tlog=true",
                                            "--allow-http-registry", ref], env))
            check = step_times(ref, policy, env)
        print("pull:")
        a = show("lamina pull, no policy", plain)
        b = show("lamina pull, sigstoreSigned policy", verified)
        print(f"  verification adds {(b - a) * 1000:.1f} ms ({(b / a - 1) * 100:+.1f}%); "
              "goal: under 5% or 30 ms")
        print(f"  the verification step alone, in a fresh process: first {check[0]:.1f} ms "
              f"(CPU {check[2]:.1f} ms: crypto library and policy loaded), then "
              f"{check[1]:.1f} ms (CPU {check[3]:.1f} ms; median of 20)")
        plain_cpu = statistics.median(v[1] + v[2] for v in plain)
        print(f"  the first verification against the median pull without it: "
              f"{check[0] / (median(plain) * 1000) * 100:.1f}% of wall-clock, "
              f"{check[2] / (plain_cpu * 1000) * 100:.1f}% of CPU")
        print("sign:")
        a, b = show("lamina trust sign --key", sign_lamina), show("cosign sign --key", sign_cosign)
        print(f"  lamina / cosign: {a / b:.2f}x")
        print("verify:")
        a = show("lamina trust verify --key", verify_lamina)
        b = show("cosign verify --key", verify_cosign)
        print(f"  lamina / cosign: {a / b:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
