"""GPG simple signing with skopeo and podman (Debian's, which verify GPG signatures from a
lookaside store): skopeo signs and lamina verifies with ``signedBy``; lamina signs and skopeo,
``skopeo standalone-verify`` and ``podman pull`` accept it. gpg runs in a throwaway home."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from registry.servers import Server

from .conftest import Images, Run, write_policy

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def gpg_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """(GNUPGHOME, fingerprint, exported public keyring) of a fresh key without passphrase."""
    if shutil.which("gpg") is None:
        pytest.fail("gpg is missing: apt-get install gnupg (scripts/test does)")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "lamina test <test@example.com>", "ed25519", "sign", "0"],
                   env=env, check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], env=env, check=True,
                             capture_output=True, text=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines()
                       if line.startswith("fpr:"))
    keyring = home / "public.gpg"
    keyring.write_bytes(subprocess.run(["gpg", "--export", fingerprint], env=env, check=True,
                                       capture_output=True).stdout)
    yield home, fingerprint, keyring
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)


@pytest.fixture
def lookaside(home: Path, lamina_registry: Server, tmp_path: Path) -> tuple[Path, Path]:
    """A registries.d (the user's, as lamina and podman read it) naming a file lookaside."""
    store = tmp_path / "sigstore"
    store.mkdir()
    directory = home / ".config/containers/registries.d"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "lamina-test.yaml").write_text(
        f"docker:\n  {lamina_registry.host}:\n    lookaside: file://{store}\n"
        f"    lookaside-staging: file://{store}\n")
    return directory, store


def signed_by_policy(scope: str, keyring: Path) -> dict:
    return {"default": [{"type": "reject"}], "transports": {
        "docker": {scope: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(keyring)}]},
        "dir": {"": [{"type": "insecureAcceptAnything"}]}}}


def test_skopeo_signs_lamina_verifies(lamina: Run, images: Images, registry_host: str,
                                      home: Path, gpg_key, lookaside,
                                      monkeypatch: pytest.MonkeyPatch, store_snapshot) -> None:
    gnupg, fingerprint, keyring = gpg_key
    registries_d, _ = lookaside
    images.push("gpg/src:v1")
    done = subprocess.run(
        ["skopeo", "--insecure-policy", "--registries.d", str(registries_d), "copy", "-q",
         "--src-tls-verify=false", "--dest-tls-verify=false", "--sign-by", fingerprint,
         f"docker://{registry_host}/gpg/src:v1", f"docker://{registry_host}/gpg/signed:v1"],
        env={"GNUPGHOME": str(gnupg), "PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    write_policy(home, signed_by_policy(f"{registry_host}/gpg", keyring))
    result = lamina("pull", f"{registry_host}/gpg/signed:v1")
    assert result.code == 0, result.err
    kept = json.loads(lamina("inspect", f"{registry_host}/gpg/signed:v1").out)[0]["Signatures"]
    assert kept["Pulls"][0]["Signers"] == [f"gpg:{fingerprint}"]
    # The same image under a name it was not signed for: identity mismatch.
    unsigned = lamina("pull", f"{registry_host}/gpg/src:v1")
    assert unsigned.code == 1 and "unsigned" in unsigned.err

    # The same lookaside served over HTTP, as sigstore web servers are.
    from registry.servers import free_port, wait_ready

    _, store = lookaside
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                               str(port), "--directory", str(store)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/", server)
        (registries_d / "lamina-test.yaml").write_text(
            f"docker:\n  {registry_host}:\n    lookaside: http://127.0.0.1:{port}\n")
        assert lamina("rmi", f"{registry_host}/gpg/signed:v1").code == 0
        result = lamina("pull", f"{registry_host}/gpg/signed:v1")
        assert result.code == 0, result.err
        kept = json.loads(lamina("inspect", f"{registry_host}/gpg/signed:v1").out)[0]
        assert kept["Signatures"]["Pulls"][0]["Signatures"][0]["Where"].startswith(
            f"http://127.0.0.1:{port}/gpg/signed@sha256=")
        # The HTTP lookaside has nothing for another image: unsigned, store untouched.
        before = store_snapshot()
        refused = lamina("pull", f"{registry_host}/gpg/src:v1")
        assert refused.code == 1 and "unsigned" in refused.err
        assert store_snapshot() == before
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_lamina_signs_skopeo_and_podman_verify(lamina: Run, images: Images,
                                               registry_host: str, home: Path, gpg_key,
                                               lookaside, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gnupg, fingerprint, keyring = gpg_key
    registries_d, store = lookaside
    images.push("gpg/mine:v1")
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    result = lamina("trust", "sign", "--sign-by", fingerprint, f"{registry_host}/gpg/mine:v1")
    assert result.code == 0, result.err
    [signature] = list(store.rglob("signature-1"))
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(signed_by_policy(f"{registry_host}/gpg", keyring)))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    out = tmp_path / "copied"
    done = subprocess.run(
        ["skopeo", "--policy", str(policy), "--registries.d", str(registries_d), "copy", "-q",
         "--src-tls-verify=false", f"docker://{registry_host}/gpg/mine:v1", f"dir:{out}"],
        env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(["skopeo", "standalone-verify", str(out / "manifest.json"),
                           f"{registry_host}/gpg/mine:v1", fingerprint, str(signature)],
                          env={**env, "GNUPGHOME": str(gnupg)}, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Signature verified" in done.stdout
    # podman, with a store of its own, reads the user's registries.d.
    runroot = Path(tempfile.mkdtemp(prefix="lamina-podman-"))  # podman wants it short
    try:
        podman = ["podman", "--root", str(tmp_path / "podman"), "--runroot", str(runroot),
                  "--storage-driver", "vfs"]
        done = subprocess.run([*podman, "pull", "-q", "--tls-verify=false",
                               "--signature-policy", str(policy),
                               f"{registry_host}/gpg/mine:v1"],
                              env=env, capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        # And podman refuses what the policy does not cover with a signature.
        images.push("gpg/bare:v1")
        done = subprocess.run([*podman, "pull", "-q", "--tls-verify=false",
                               "--signature-policy", str(policy),
                               f"{registry_host}/gpg/bare:v1"],
                              env=env, capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode != 0
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    # And push --sign-by signs what it pushes, for skopeo too.
    assert lamina("pull", "--disable-content-trust", f"{registry_host}/gpg/mine:v1").code == 0
    assert lamina("tag", f"{registry_host}/gpg/mine:v1", f"{registry_host}/gpg/pushed:v1").code == 0
    result = lamina("push", "--sign-by", fingerprint, f"{registry_host}/gpg/pushed:v1")
    assert result.code == 0, result.err
    done = subprocess.run(
        ["skopeo", "--policy", str(policy), "--registries.d", str(registries_d), "copy", "-q",
         "--src-tls-verify=false", f"docker://{registry_host}/gpg/pushed:v1",
         f"dir:{tmp_path / 'pushed'}"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_signed_by_other_gpg_key_is_refused(lamina: Run, images: Images, registry_host: str,
                                            home: Path, gpg_key, lookaside, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            store_snapshot) -> None:
    gnupg, fingerprint, _ = gpg_key
    images.push("gpg/other:v1")
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    assert lamina("trust", "sign", "--sign-by", fingerprint,
                  f"{registry_host}/gpg/other:v1").code == 0
    other_home = tmp_path / "other-gnupg"
    other_home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(other_home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "someone else <else@example.com>", "ed25519", "sign", "0"], env=env,
                   check=True, capture_output=True)
    other_keyring = tmp_path / "other.gpg"
    other_keyring.write_bytes(subprocess.run(["gpg", "--export", "--armor"], env=env,
                                             check=True, capture_output=True).stdout)
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
    write_policy(home, signed_by_policy(f"{registry_host}/gpg", other_keyring))
    assert lamina("images").code == 0  # the store exists: the refused pull must not touch it
    before = store_snapshot()
    result = lamina("pull", f"{registry_host}/gpg/other:v1")
    assert result.code == 1
    assert "signedBy not satisfied: wrong key: signed by a key the policy does not trust" \
        in result.err
    assert store_snapshot() == before
