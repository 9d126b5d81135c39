"""The trust verbs' own surface: key generation (algorithms, where the passphrase comes from),
``trust inspect --pretty``, ``--disable-content-trust`` on every verb that has it, ``run``
under the policy, and which policy file is in force."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lamina.trust import keys

from .conftest import Images, KeyPair, Run, sigstore_policy, write_policy
from .peers import cosign, run

SIGSTORE_KEY = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"


def test_key_generate_ed25519_and_passphrase_variables(
        lamina: Run, images: Images, registry_host: str, home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pw = tmp_path / "pw"
    pw.write_text("ed-pw\n")
    made = lamina("trust", "key", "generate", "--algorithm", "ed25519", "--passphrase-file",
                  str(pw), str(tmp_path / "ed"))
    assert made.code == 0, made.err
    assert made.out == (f"Private key written to {tmp_path}/ed.key\n"
                        f"Public key written to {tmp_path}/ed.pub\n")
    assert (tmp_path / "ed.key").read_text().startswith(SIGSTORE_KEY)
    assert (tmp_path / "ed.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    assert isinstance(load_pem_public_key((tmp_path / "ed.pub").read_bytes()),
                      ed25519.Ed25519PublicKey)
    # The default is P-256; the passphrase from $LAMINA_PASSPHRASE, then $COSIGN_PASSWORD.
    monkeypatch.setenv("COSIGN_PASSWORD", "cosign-variable")
    assert lamina("trust", "key", "generate", str(tmp_path / "p256")).code == 0
    public = load_pem_public_key((tmp_path / "p256.pub").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    keys.load_signer(str(tmp_path / "p256.key"), lambda: b"cosign-variable")
    monkeypatch.setenv("LAMINA_PASSPHRASE", "lamina-variable")
    assert lamina("trust", "key", "generate", str(tmp_path / "both")).code == 0
    keys.load_signer(str(tmp_path / "both.key"), lambda: b"lamina-variable")

    # The Ed25519 key signs with its passphrase from the variable; lamina and cosign verify.
    digest = images.push("gen/app:v1")
    monkeypatch.delenv("COSIGN_PASSWORD")
    monkeypatch.setenv("LAMINA_PASSPHRASE", "ed-pw")
    signed = lamina("trust", "sign", "--key", str(tmp_path / "ed.key"),
                    f"{registry_host}/gen/app:v1")
    assert signed.code == 0, signed.err
    verified = lamina("trust", "verify", "--key", str(tmp_path / "ed.pub"),
                      f"{registry_host}/gen/app:v1")
    assert verified.code == 0, verified.err
    done = run([cosign(), "verify", "--key", str(tmp_path / "ed.pub"), "--allow-http-registry",
                "--insecure-ignore-tlog=true", f"{registry_host}/gen/app:v1"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["critical"]["image"]["docker-manifest-digest"] == digest
    wrong = lamina("trust", "verify", "--key", str(tmp_path / "p256.pub"),
                   f"{registry_host}/gen/app:v1")
    assert wrong.code == 1 and len(wrong.err.strip().splitlines()) == 1


def test_key_generate_without_a_passphrase_source(lamina: Run, tmp_path: Path) -> None:
    # No file, no variable, no terminal (the test's stdin is not one): one line, no files.
    result = lamina("trust", "key", "generate", str(tmp_path / "k"), stdin=b"")
    assert result.code == 1
    assert result.err == ("Error: no passphrase: give --passphrase-file, set "
                          "LAMINA_PASSPHRASE, or run on a terminal\n")
    assert list(tmp_path.glob("k.*")) == []
    bad = lamina("trust", "key", "generate", "--algorithm", "rsa", str(tmp_path / "k"))
    assert bad.code == 125 and "'rsa' is not one of 'ecdsa-p256', 'ed25519'" in bad.err
    missing = lamina("trust", "key", "generate", "--passphrase-file", str(tmp_path / "none"),
                     str(tmp_path / "k"))
    assert missing.code == 1
    assert missing.err == f"Error: passphrase file {tmp_path}/none: No such file or directory\n"
    assert list(tmp_path.glob("k.*")) == []


class Terminal:
    """A lamina command on a pseudo-terminal of its own (its controlling terminal)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(sys.executable, [sys.executable, "-m", "lamina", *argv], env)
        self.transcript = b""

    def expect(self, text: bytes, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.transcript:
            assert time.monotonic() < deadline, self.transcript
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, self.transcript  # ended before saying it
                self.transcript += chunk

    def send(self, line: bytes) -> None:
        os.write(self.fd, line + b"\n")

    def wait(self) -> int:
        """The exit code, once the command has ended (its remaining output read)."""
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    continue
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.transcript += chunk
        finally:
            _, status = os.waitpid(self.pid, 0)
            os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_key_generate_asks_on_a_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "LAMINA_ROOT": str(tmp_path / "store")}
    for name in ("LAMINA_PASSPHRASE", "COSIGN_PASSWORD"):
        env.pop(name, None)
    term = Terminal(["trust", "key", "generate", str(tmp_path / "typed")], env)
    term.expect(b"Enter password for private key: ")
    term.send(b"typed-pw")
    term.expect(b"Enter password for private key again: ")
    term.send(b"typed-pw")
    assert term.wait() == 0, term.transcript
    assert b"typed-pw" not in term.transcript  # not echoed
    keys.load_signer(str(tmp_path / "typed.key"), lambda: b"typed-pw")
    # Two different answers: refused, nothing written.
    term = Terminal(["trust", "key", "generate", str(tmp_path / "differ")], env)
    term.expect(b"Enter password for private key: ")
    term.send(b"one")
    term.expect(b"again: ")
    term.send(b"two")
    assert term.wait() == 1
    assert b"Error: passwords do not match" in term.transcript
    assert list(tmp_path.glob("differ.*")) == []


def test_inspect_pretty(lamina: Run, sign, images: Images, registry_host: str) -> None:
    digest = images.push("pretty/app:v1")
    images.push("pretty/none:v1")
    sign(f"{registry_host}/pretty/app:v1", "trusted", "--format", "both")
    shown = lamina("trust", "inspect", "--pretty", f"{registry_host}/pretty/app:v1",
                   f"{registry_host}/pretty/none:v1")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert f"Signatures for {registry_host}/pretty/app:v1" in lines
    header = next(line for line in lines if line.startswith("FORMAT"))
    assert header.split() == ["FORMAT", "SIGNED", "DIGEST", "IDENTITY", "SIGNER"]
    rows = [line.split() for line in lines if line.startswith(("sig ", "bundle "))]
    assert sorted(row[0] for row in rows) == ["bundle", "sig"]
    for row in rows:
        assert row[1] == digest[7:19]
        assert row[2] == f"{registry_host}/pretty/app:v1"
    assert f"No signatures for {registry_host}/pretty/none:v1" in lines
    missing = lamina("trust", "inspect", "--pretty", f"{registry_host}/pretty/gone:v1")
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1
    assert "Traceback" not in missing.err


@pytest.mark.parametrize(("verb", "text"), [
    ("pull", "Skip image verification (default true)"),
    ("push", "Skip image signing (default true)"),
    ("build", "Skip image verification (default true)"),
    ("create", "Skip image verification (default true)"),
    ("run", "Skip image verification (default true)"),
])
def test_disable_content_trust_help(lamina: Run, verb: str, text: str) -> None:
    shown = lamina(verb, "--help")
    assert shown.code == 0
    [line] = [line for line in shown.out.splitlines() if "--disable-content-trust" in line]
    assert line.split("--disable-content-trust", 1)[1].strip() == text


def test_run_obeys_the_policy(lamina: Run, sign, images: Images, registry_host: str,
                              home: Path, pairs: dict[str, KeyPair], store_snapshot,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    digest = images.push("runs/unsigned:v1")
    images.push("runs/other:v1")
    assert lamina("images").code == 0  # the store exists: a refusal must change nothing
    write_policy(home, sigstore_policy(f"{registry_host}/runs", pairs["trusted"].pub))
    before = store_snapshot()
    ran = lamina("run", "--rm", f"{registry_host}/runs/unsigned:v1", "true")
    assert ran.code == 125
    assert ran.err.splitlines()[-1] == (
        f'Error: image {registry_host}/runs/unsigned:v1, policy scope "{registry_host}/runs": '
        "sigstoreSigned not satisfied: unsigned: no signature found for "
        f"{digest.removeprefix('sha256:')[:12]}")
    assert "Traceback" not in ran.err
    assert store_snapshot() == before
    # DOCKER_CONTENT_TRUST with a policy that demands nothing of the repository.
    write_policy(home, {"default": [{"type": "insecureAcceptAnything"}]})
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "1")
    # (docker's codes: run's own failures are 125, create's 1)
    for verb, code in (("run", 125), ("create", 1)):
        refused = lamina(verb, f"{registry_host}/runs/unsigned:v1", "true")
        assert refused.code == code
        assert refused.err.splitlines()[-1] == (
            f"Error: no trust data for {registry_host}/runs/unsigned: the policy (default) "
            "demands no signature for it")
        assert store_snapshot() == before
    # The flag skips it, as docker's does.
    created = lamina("create", "--disable-content-trust", f"{registry_host}/runs/unsigned:v1",
                     "true")
    assert created.code == 0, created.err
    # And =false turns content trust on, whatever the variable says.
    monkeypatch.delenv("DOCKER_CONTENT_TRUST")
    for verb, code in (("run", 125), ("create", 1)):
        refused = lamina(verb, "--disable-content-trust=false",
                         f"{registry_host}/runs/other:v1", "true")
        assert refused.code == code
        assert refused.err.splitlines()[-1] == (
            f"Error: no trust data for {registry_host}/runs/other: the policy (default) "
            "demands no signature for it")
        bad = lamina(verb, "--disable-content-trust=maybe", f"{registry_host}/runs/other:v1")
        assert bad.code == 125 and 'invalid argument "maybe"' in bad.err


def pull_with_system_dir(system: Path, env: dict[str, str], image: str
                         ) -> subprocess.CompletedProcess[str]:
    """``lamina pull image`` with ``system`` in place of /etc/containers, for this process
    only: a mount namespace of its own."""
    script = 'mount --bind "$1" /etc/containers && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "pull",
         str(system), sys.executable, "-m", "lamina", "pull", image],
        env=env, capture_output=True, text=True, timeout=120, check=False)


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="a private mount namespace needs root and unshare")


@needs_root
def test_system_policy_file_is_the_fallback(images: Images, registry_host: str, home: Path,
                                            tmp_path: Path) -> None:
    """~/.config/containers/policy.json first, then /etc/containers/policy.json."""
    assert Path("/etc/containers").is_dir(), "containers-common (podman's) makes /etc/containers"
    images.push("sys/app:v1")
    system = tmp_path / "etc-containers"
    system.mkdir()
    (system / "policy.json").write_text(json.dumps({"default": [{"type": "reject"}]}))
    env = {**os.environ, "HOME": str(home), "LAMINA_ROOT": str(tmp_path / "store")}
    image = f"{registry_host}/sys/app:v1"
    user = home / ".config/containers/policy.json"
    assert not user.exists()
    refused = pull_with_system_dir(system, env, image)
    assert refused.returncode == 1
    assert refused.stderr == (f"Error: image {image}, policy scope default: "
                              "rejected: the policy's requirement is reject\n")
    listed = subprocess.run([sys.executable, "-m", "lamina", "images"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 0 and "sys/app" not in listed.stdout
    write_policy(home, {"default": [{"type": "insecureAcceptAnything"}]})
    accepted = pull_with_system_dir(system, env, image)
    assert accepted.returncode == 0, accepted.stderr


@needs_root
def test_no_policy_file_anywhere(images: Images, registry_host: str, home: Path,
                                 tmp_path: Path) -> None:
    """No policy file at all: everything is accepted, as docker does, unless content trust
    is on, which then has nothing to trust."""
    images.push("none/app:v1")
    empty = tmp_path / "etc-containers"
    empty.mkdir()
    env = {**os.environ, "HOME": str(home), "LAMINA_ROOT": str(tmp_path / "store")}
    image = f"{registry_host}/none/app:v1"
    refused = pull_with_system_dir(empty, {**env, "DOCKER_CONTENT_TRUST": "1"}, image)
    assert refused.returncode == 1
    assert refused.stderr == (f"Error: no trust data for {registry_host}/none/app: content "
                              "trust is on and there is no signature policy file\n")
    accepted = pull_with_system_dir(empty, env, image)
    assert accepted.returncode == 0, accepted.stderr
    accepted = pull_with_system_dir(empty, {**env, "DOCKER_CONTENT_TRUST": "0"}, image)
    assert accepted.returncode == 0, accepted.stderr


def test_sign_refusals_leave_nothing(lamina: Run, images: Images, registry_host: str,
                                     home: Path, pairs: dict[str, KeyPair], passfile: Path,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signature that cannot be made in full is not made in part: no .sig tag, no referrer,
    no key file, when a later step of the same command is refused."""
    import httpx

    digest = images.push("refuse/app:v1")
    image = f"{registry_host}/refuse/app:v1"
    key = ["--key", str(pairs["trusted"].key), "--passphrase-file", str(passfile)]

    def stored() -> tuple[list[str], list[dict]]:
        tags = httpx.get(f"http://{registry_host}/v2/refuse/app/tags/list").json()["tags"]
        referrers = httpx.get(f"http://{registry_host}/v2/refuse/app/referrers/{digest}").json()
        return tags, referrers["manifests"]

    assert stored() == (["v1"], [])
    # --sign-by with nowhere to put a GPG signature (no lookaside-staging in registries.d).
    result = lamina("trust", "sign", *key, "--format", "both", "--sign-by", "ABCDEF", image)
    assert result.code == 1
    assert result.err == (f"Error: no lookaside-staging is configured for {registry_host}/"
                          "refuse/app in registries.d: GPG signatures have nowhere to go\n")
    assert stored() == (["v1"], [])
    # A GPG key gpg does not have.
    directory = home / ".config/containers/registries.d"
    directory.mkdir(parents=True, exist_ok=True)
    staging = tmp_path / "staging"
    (directory / "s.yaml").write_text(
        f"docker:\n  {registry_host}:\n    lookaside-staging: file://{staging}\n")
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    result = lamina("trust", "sign", *key, "--sign-by", "0123456789ABCDEF0123456789ABCDEF01234567",
                    image)
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith("Error: ") and "Traceback" not in result.err
    assert stored() == (["v1"], [])
    assert not staging.exists() or list(staging.rglob("*signature*")) == []
    # A key pair where none can be written: one line, and no half of a pair.
    result = lamina("trust", "key", "generate", "--passphrase-file", str(passfile),
                    str(tmp_path / "missing-dir" / "k"))
    assert result.code == 1
    assert result.err == f"Error: {tmp_path}/missing-dir/k.key: No such file or directory\n"
    (tmp_path / "half.pub").write_text("in the way\n")
    result = lamina("trust", "key", "generate", "--passphrase-file", str(passfile),
                    str(tmp_path / "half"))
    assert result.code == 1 and "half.pub already exists" in result.err
    assert not (tmp_path / "half.key").exists()
