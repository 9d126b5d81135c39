"""Sigstore's JavaScript implementation (@sigstore/sign, verify, bundle, oci) and lamina on
lamina's registry: bundles signed by one are verified by the other, key-based, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lamina.trust import keys

from .conftest import Images, KeyPair, Run, sigstore_policy, write_policy
from .peers import SIGSTORE_JS, node_modules, run

pytestmark = pytest.mark.peer


def plain_pem(pair: KeyPair, where: Path) -> Path:
    """The private key unencrypted (PKCS#8 PEM), as node's crypto reads it."""
    signer = keys.load_signer(pair.key, lambda: pair.passphrase)
    path = where / "plain.pem"
    path.write_bytes(signer.key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return path


def test_sigstore_js_signs_lamina_verifies(lamina: Run, images: Images, registry_host: str,
                                           home: Path, pairs: dict[str, KeyPair],
                                           tmp_path: Path) -> None:
    node_modules()
    digest = images.push("js/in:v1")
    done = run(["node", str(SIGSTORE_JS / "sign.mjs"), registry_host, "js/in", digest,
                str(plain_pem(pairs["trusted"], tmp_path)), f"{registry_host}/js/in:v1"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    write_policy(home, sigstore_policy(f"{registry_host}/js", pairs["trusted"].pub))
    result = lamina("pull", f"{registry_host}/js/in:v1")
    assert result.code == 0, result.err
    # Another key: refused.
    write_policy(home, sigstore_policy(f"{registry_host}/js", pairs["other"].pub))
    assert lamina("rmi", f"{registry_host}/js/in:v1").code == 0
    result = lamina("pull", f"{registry_host}/js/in:v1")
    assert result.code == 1 and "wrong key" in result.err


def test_lamina_signs_sigstore_js_verifies(lamina: Run, images: Images, registry_host: str,
                                           pairs: dict[str, KeyPair], sign) -> None:
    node_modules()
    digest = images.push("js/out:v1")
    sign(f"{registry_host}/js/out:v1", "trusted", "--format", "bundle")
    done = run(["node", str(SIGSTORE_JS / "verify.mjs"), registry_host, "js/out", digest,
                str(pairs["trusted"].pub)])
    assert done.returncode == 0, done.stderr
    statement = json.loads(done.stdout.splitlines()[0])
    assert statement["subject"][0]["name"] == f"{registry_host}/js/out:v1"
    done = run(["node", str(SIGSTORE_JS / "verify.mjs"), registry_host, "js/out", digest,
                str(pairs["other"].pub)])
    assert done.returncode == 1
    # Ed25519 too.
    digest = images.push("js/ed:v1")
    sign(f"{registry_host}/js/ed:v1", "ed", "--format", "bundle")
    done = run(["node", str(SIGSTORE_JS / "verify.mjs"), registry_host, "js/ed", digest,
                str(pairs["ed"].pub)])
    assert done.returncode == 0, done.stderr
