"""Pulls under a signature policy, from lamina's registry on loopback: what is accepted, and
each way a signature can fail, with the store left exactly as it was."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from helpers.images import make_image, make_index
from registry.conformance import push_blob, push_manifest
from registry.servers import Server

from .conftest import Images, KeyPair, Run, sigstore_policy, write_policy

COSIGN_SIG = "dev.cosignproject.cosign/signature"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def test_signed_image_is_pulled_and_its_verdict_kept(
        lamina: Run, sign, images: Images, registry_host: str, home: Path,
        pairs: dict[str, KeyPair]) -> None:
    images.push("ok/app:v1")
    sign(f"{registry_host}/ok/app:v1")
    write_policy(home, sigstore_policy(f"{registry_host}/ok", pairs["trusted"].pub))
    pulled = lamina("pull", f"{registry_host}/ok/app:v1")
    assert pulled.code == 0, pulled.err
    shown = json.loads(lamina("inspect", f"{registry_host}/ok/app:v1").out)[0]
    trust = shown["Signatures"]
    assert trust["Verified"] is True
    [entry] = trust["Pulls"]
    assert entry["Scope"] == f"{registry_host}/ok"
    assert entry["Requirements"][0].startswith("sigstoreSigned")
    assert entry["Signatures"][0]["Format"] == "sig"
    # Pulled again under no policy: inspect no longer claims a verification.
    (home / ".config/containers/policy.json").unlink()
    assert lamina("pull", f"{registry_host}/ok/app:v1").code == 0
    shown = json.loads(lamina("inspect", f"{registry_host}/ok/app:v1").out)[0]
    # (with the system's policy.json, if the machine has one, a verdict that checked nothing)
    assert shown.get("Signatures", {"Verified": False})["Verified"] is False


def test_no_policy_accepts_everything(lamina: Run, images: Images, registry_host: str) -> None:
    images.push("open/app:v1")
    assert lamina("pull", f"{registry_host}/open/app:v1").code == 0


def failing_pull(lamina: Run, store_snapshot, name: str, *flags: str) -> str:
    """Pull ``name`` expecting a refusal: one error line; the store as it was."""
    before = store_snapshot()
    result = lamina("pull", *flags, name)
    assert result.code == 1, result.out
    assert store_snapshot() == before
    lines = [line for line in result.err.splitlines() if line]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


@pytest.fixture
def prepared(lamina: Run, images: Images, registry_host: str) -> None:
    """The store exists (a first pull made it), so a refused pull must change nothing."""
    images.push("base/app:v1")
    assert lamina("pull", f"{registry_host}/base/app:v1").code == 0


def test_unsigned_is_refused(lamina: Run, prepared: None, images: Images, registry_host: str,
                             home: Path, pairs: dict[str, KeyPair], store_snapshot) -> None:
    images.push("neg/unsigned:v1")
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/unsigned:v1")
    assert f"image {registry_host}/neg/unsigned:v1" in line
    assert f'policy scope "{registry_host}/neg"' in line
    assert "unsigned" in line


def test_signed_by_another_key_is_refused(lamina: Run, prepared: None, sign, images: Images,
                                          registry_host: str, home: Path,
                                          pairs: dict[str, KeyPair], store_snapshot) -> None:
    images.push("neg/other:v1")
    sign(f"{registry_host}/neg/other:v1", "other")
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/other:v1")
    assert "wrong key" in line


def _sig_manifest(lamina_registry: Server, repo: str, digest: str) -> dict:
    tag = digest.replace(":", "-") + ".sig"
    r = httpx.get(f"{lamina_registry.url}/v2/{repo}/manifests/{tag}",
                  headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200
    return json.loads(r.content)


def _put_sig(lamina_registry: Server, repo: str, digest: str, layers: list[dict]) -> None:
    """A .sig manifest with these layers (their payloads already pushed)."""
    with httpx.Client(base_url=lamina_registry.url, trust_env=False) as client:
        config = push_blob(client, repo, b"{}")
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": config, "size": 2},
               "layers": layers}
        tag = digest.replace(":", "-") + ".sig"
        r = push_manifest(client, repo, tag, json.dumps(doc).encode(), doc["mediaType"])
        assert r.status_code == 201, r.text


def test_tampered_payload_is_refused(lamina: Run, prepared: None, sign, images: Images,
                                     registry_host: str, lamina_registry: Server, home: Path,
                                     pairs: dict[str, KeyPair], store_snapshot) -> None:
    digest = images.push("neg/tampered:v1")
    sign(f"{registry_host}/neg/tampered:v1")
    manifest = _sig_manifest(lamina_registry, "neg/tampered", digest)
    [layer] = manifest["layers"]
    payload = httpx.get(f"{lamina_registry.url}/v2/neg/tampered/blobs/{layer['digest']}").content
    # The same claim, re-serialised with a different docker-reference: a new payload that
    # keeps the original signature.
    doc = json.loads(payload)
    doc["critical"]["identity"]["docker-reference"] = f"{registry_host}/neg/tampered:v2"
    changed = json.dumps(doc).encode()
    with httpx.Client(base_url=lamina_registry.url, trust_env=False) as client:
        new_digest = push_blob(client, "neg/tampered", changed)
    layer.update(digest=new_digest, size=len(changed))
    _put_sig(lamina_registry, "neg/tampered", digest, [layer])
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/tampered:v1")
    assert "no signature verifies" in line


def test_signature_for_another_digest_is_refused(
        lamina: Run, prepared: None, sign, images: Images, registry_host: str,
        lamina_registry: Server, home: Path, pairs: dict[str, KeyPair], store_snapshot) -> None:
    signed = images.push("neg/moved:v0")
    sign(f"{registry_host}/neg/moved:v0")
    target = images.push("neg/moved:v1")
    # The valid signature of v0, copied under v1's .sig tag.
    _put_sig(lamina_registry, "neg/moved", target,
             _sig_manifest(lamina_registry, "neg/moved", signed)["layers"])
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub,
                                       signedIdentity={"type": "matchRepository"}))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/moved:v1")
    assert "digest mismatch" in line


def test_identity_mismatch_is_refused(lamina: Run, prepared: None, sign, images: Images,
                                      registry_host: str, home: Path,
                                      pairs: dict[str, KeyPair], store_snapshot) -> None:
    image = make_image([{"copied": b"same image, two repositories\n"}])
    images.push("neg/a:v1", image)
    sign(f"{registry_host}/neg/a:v1")
    images.push("neg/b:v1", image)
    # Copy the signature along with the image, as `cosign copy` does.
    with httpx.Client(trust_env=False) as client:
        tag = image.manifest_digest.replace(":", "-") + ".sig"
        raw = client.get(f"http://{registry_host}/v2/neg/a/manifests/{tag}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content
        for desc in [*json.loads(raw)["layers"], json.loads(raw)["config"]]:
            blob = client.get(f"http://{registry_host}/v2/neg/a/blobs/{desc['digest']}").content
            push_blob(httpx.Client(base_url=f"http://{registry_host}", trust_env=False),
                      "neg/b", blob)
        r = client.put(f"http://{registry_host}/v2/neg/b/manifests/{tag}", content=raw,
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/b:v1")
    assert "identity mismatch" in line
    assert f"signed as {registry_host}/neg/a:v1" in line


def test_ten_thousand_signatures_are_bounded(lamina: Run, prepared: None, images: Images,
                                             registry_host: str, lamina_registry: Server,
                                             home: Path, pairs: dict[str, KeyPair],
                                             store_snapshot) -> None:
    digest = images.push("neg/many:v1")
    with httpx.Client(base_url=lamina_registry.url, trust_env=False) as client:
        payload_digest = push_blob(client, "neg/many", b'{"critical":{}}')
    bogus = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    layers = [{"mediaType": SIMPLESIGNING, "digest": payload_digest, "size": 15,
               "annotations": {COSIGN_SIG: bogus, "n": str(i)}} for i in range(10_000)]
    _put_sig(lamina_registry, "neg/many", digest, layers)
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/many:v1")
    assert "only the first 64 signatures" in line
    assert "9936 more were not" in line


def test_signature_manifest_over_4_mib_is_refused(
        lamina: Run, prepared: None, home: Path, pairs: dict[str, KeyPair],
        store_snapshot) -> None:
    # No real registry stores a manifest over 4 MiB (lamina's refuses it): a registry that
    # serves one anyway is the test's own.
    from remote.fakeregistry import FakeRegistry

    image = make_image([{"huge": b"x"}])
    layers = [{"mediaType": SIMPLESIGNING, "digest": "sha256:" + "0" * 64, "size": 2,
               "annotations": {COSIGN_SIG: "A" * 1000, "n": str(i)}} for i in range(4500)]
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": "sha256:" + "1" * 64, "size": 2}, "layers": layers}
    raw = json.dumps(doc).encode()
    assert len(raw) > 4 * 1024 * 1024
    with FakeRegistry() as fake:
        fake.add_image("neg/huge", "v1", image)
        fake.add_manifest("neg/huge", image.manifest_digest.replace(":", "-") + ".sig", raw,
                          doc["mediaType"])
        write_policy(home, sigstore_policy(f"{fake.host}/neg", pairs["trusted"].pub))
        host = fake.host
        line = failing_pull(lamina, store_snapshot, f"{host}/neg/huge:v1")
    assert "exceeds the limit of 4194304 bytes" in line
    assert f'image {host}/neg/huge:v1, policy scope "{host}/neg"' in line
    assert not any("blobs" in r.path for r in fake.requests)  # refused before any layer


def test_policy_with_unknown_field_is_refused(lamina: Run, prepared: None, images: Images,
                                              registry_host: str, home: Path,
                                              pairs: dict[str, KeyPair], store_snapshot) -> None:
    images.push("neg/policy:v1")
    policy = sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub)
    policy["transports"]["docker"][f"{registry_host}/neg"][0]["keyPth"] = "typo"
    write_policy(home, policy)
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/policy:v1")
    assert "unknown field 'keyPth'" in line


def test_reject_and_scopes_most_specific_first(lamina: Run, prepared: None, sign,
                                               images: Images, registry_host: str, home: Path,
                                               pairs: dict[str, KeyPair],
                                               store_snapshot) -> None:
    images.push("scoped/open:v1")
    images.push("scoped/closed:v1")
    write_policy(home, {
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            f"{registry_host}/scoped/open": [{"type": "insecureAcceptAnything"}],
            registry_host: [{"type": "reject"}]}}})
    assert lamina("pull", f"{registry_host}/scoped/open:v1").code == 0
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/scoped/closed:v1")
    assert f'policy scope "{registry_host}"' in line and "rejected" in line


def test_content_trust_without_signature_requirement(
        lamina: Run, prepared: None, images: Images, registry_host: str, home: Path,
        monkeypatch: pytest.MonkeyPatch, store_snapshot) -> None:
    images.push("ct/app:v1")
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "1")
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/ct/app:v1")
    assert line.startswith(f"Error: no trust data for {registry_host}/ct/app: ")
    write_policy(home, {"default": [{"type": "insecureAcceptAnything"}]})
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/ct/app:v1")
    assert line == (f"Error: no trust data for {registry_host}/ct/app: the policy (default) "
                    "demands no signature for it")
    # The flag wins over the environment, both ways; "0" and "false" turn it off.
    assert lamina("pull", "--disable-content-trust", f"{registry_host}/ct/app:v1").code == 0
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "false")
    assert lamina("pull", f"{registry_host}/ct/app:v1").code == 0
    assert lamina("pull", "--disable-content-trust=false",
                  f"{registry_host}/ct/app:v1").code == 1
    bad = lamina("pull", "--disable-content-trust=maybe", f"{registry_host}/ct/app:v1")
    assert bad.code == 125 or bad.code == 2
    assert 'invalid argument "maybe"' in bad.err


def test_by_digest_and_explicit_policy_file(lamina: Run, sign, images: Images,
                                            registry_host: str, tmp_path: Path,
                                            pairs: dict[str, KeyPair]) -> None:
    digest = images.push("dig/app:v1")
    sign(f"{registry_host}/dig/app@{digest}")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(sigstore_policy(f"{registry_host}/dig", pairs["trusted"].pub)))
    # Signed by digest: the claim is the repository, which a digest pull accepts ...
    result = lamina("pull", "--signature-policy", str(policy), f"{registry_host}/dig/app@{digest}")
    assert result.code == 0, result.err
    # ... and a tag pull does not (matchRepoDigestOrExact wants repo:tag), unless the policy
    # says matchRepository.
    result = lamina("pull", "--signature-policy", str(policy), f"{registry_host}/dig/app:v1")
    assert result.code == 1 and "identity mismatch" in result.err
    policy.write_text(json.dumps(sigstore_policy(f"{registry_host}/dig", pairs["trusted"].pub,
                                                 signedIdentity={"type": "matchRepository"})))
    assert lamina("pull", "--signature-policy", str(policy),
                  f"{registry_host}/dig/app:v1").code == 0


def test_bundle_ed25519_and_key_data(lamina: Run, sign, images: Images, registry_host: str,
                                     home: Path, pairs: dict[str, KeyPair]) -> None:
    images.push("bun/app:v1")
    sign(f"{registry_host}/bun/app:v1", "ed", "--format", "bundle")
    key_data = base64.b64encode(pairs["ed"].pub.read_bytes()).decode()
    write_policy(home, {"default": [{"type": "reject"}], "transports": {"docker": {
        f"{registry_host}/bun": [{"type": "sigstoreSigned", "keyData": key_data}]}}})
    result = lamina("pull", f"{registry_host}/bun/app:v1")
    assert result.code == 0, result.err
    trust = json.loads(lamina("inspect", f"{registry_host}/bun/app:v1").out)[0]["Signatures"]
    assert trust["Pulls"][0]["Signatures"][0]["Format"] == "bundle"


def test_multi_arch_signed_index_or_platform_manifest(
        lamina: Run, sign, images: Images, registry_host: str, home: Path,
        pairs: dict[str, KeyPair], store_snapshot) -> None:
    amd = make_image([{"amd": b"1"}], {"architecture": "amd64", "os": "linux"})
    arm = make_image([{"arm": b"2"}], {"architecture": "arm64", "os": "linux"})
    index = make_index([amd, arm])
    images.push("multi/idx:v1", index)
    images.push("multi/leaf:v1", index)
    write_policy(home, sigstore_policy(f"{registry_host}/multi", pairs["trusted"].pub,
                                       signedIdentity={"type": "matchRepository"}))
    # Unsigned: refused for every platform.
    for platform in ("linux/amd64", "linux/arm64"):
        result = lamina("pull", "--platform", platform, f"{registry_host}/multi/idx:v1")
        assert result.code == 1 and "unsigned" in result.err
    sign(f"{registry_host}/multi/idx:v1")  # the index only
    for platform in ("linux/amd64", "linux/arm64"):
        result = lamina("pull", "--platform", platform, f"{registry_host}/multi/idx:v1")
        assert result.code == 0, result.err
    # A signed platform manifest (not the index): that platform only.
    sign(f"{registry_host}/multi/leaf@{amd.manifest_digest}")
    assert lamina("pull", "--platform", "linux/amd64", f"{registry_host}/multi/leaf:v1").code == 0
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/multi/leaf:v1",
                        "--platform", "linux/arm64")
    assert "unsigned" in line


def test_recursive_signs_every_platform(lamina: Run, sign, images: Images,
                                        registry_host: str) -> None:
    amd = make_image([{"r-amd": b"1"}], {"architecture": "amd64", "os": "linux"})
    arm = make_image([{"r-arm": b"2"}], {"architecture": "arm64", "os": "linux"})
    index = make_index([amd, arm])
    images.push("multi/rec:v1", index)
    result = sign(f"{registry_host}/multi/rec:v1", "trusted", "--recursive")
    signed = [line for line in result.out.splitlines() if line.startswith("Signed ")]
    assert len(signed) == 3
    for digest in (index.digest, amd.manifest_digest, arm.manifest_digest):
        assert any(digest in line for line in signed)


def test_wrong_passphrase_and_bad_key_files(lamina: Run, images: Images, registry_host: str,
                                            pairs: dict[str, KeyPair], tmp_path: Path) -> None:
    images.push("keys/app:v1")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-passphrase\n")
    result = lamina("trust", "sign", "--key", str(pairs["trusted"].key), "--passphrase-file",
                    str(wrong), f"{registry_host}/keys/app:v1")
    assert result.code == 1
    assert result.err.strip() == (f"Error: {pairs['trusted'].key}: decrypting the private key "
                                  "failed: wrong passphrase?")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello\n")
    result = lamina("trust", "sign", "--key", str(garbage), f"{registry_host}/keys/app:v1")
    assert result.code == 1 and result.err.strip() == f"Error: {garbage}: not a PEM file"
    # Nothing was signed.
    tags = httpx.get(f"http://{registry_host}/v2/keys/app/tags/list").json()["tags"]
    assert tags == ["v1"]


def test_inspect_and_revoke(lamina: Run, sign, images: Images, registry_host: str,
                            pairs: dict[str, KeyPair], home: Path) -> None:
    digest = images.push("rev/app:v1")
    sign(f"{registry_host}/rev/app:v1", "trusted", "--format", "both")
    shown = json.loads(lamina("trust", "inspect", "--key", str(pairs["trusted"].pub),
                              f"{registry_host}/rev/app:v1").out)
    rows = shown[0]["Signatures"]
    assert sorted(r["Format"] for r in rows) == ["bundle", "sig"]
    for row in rows:
        assert row["Verified"] is True
        assert row["Identity"] == f"{registry_host}/rev/app:v1"
        assert row["Digest"] == digest
    other = json.loads(lamina("trust", "inspect", "--key", str(pairs["other"].pub),
                              f"{registry_host}/rev/app:v1").out)[0]["Signatures"]
    assert all(r["Verified"] is False for r in other)
    # docker's prompt: anything but "y", or no answer at all, aborts and removes nothing.
    for answer in (b"n\n", b""):
        kept = lamina("trust", "revoke", f"{registry_host}/rev/app:v1", stdin=answer)
        assert kept.code == 0
        assert kept.out == (f"Please confirm you would like to delete all signature data for "
                            f"{registry_host}/rev/app:v1? [y/N] \nAborting action.\n")
    assert len(json.loads(lamina("trust", "inspect", f"{registry_host}/rev/app:v1").out)[0][
        "Signatures"]) == 2
    revoked = lamina("trust", "revoke", f"{registry_host}/rev/app:v1", stdin=b"Y\n")
    assert revoked.code == 0 and "Successfully deleted signature" in revoked.out
    sign(f"{registry_host}/rev/app:v1")
    assert lamina("trust", "revoke", "-y", f"{registry_host}/rev/app:v1").code == 0
    assert json.loads(lamina("trust", "inspect", f"{registry_host}/rev/app:v1").out)[0][
        "Signatures"] == []
    write_policy(home, sigstore_policy(f"{registry_host}/rev", pairs["trusted"].pub))
    result = lamina("pull", f"{registry_host}/rev/app:v1")
    assert result.code == 1 and "unsigned" in result.err


def test_push_carries_signatures_unless_removed(lamina: Run, sign, images: Images,
                                                registry_host: str, home: Path,
                                                pairs: dict[str, KeyPair],
                                                tmp_path: Path) -> None:
    from registry.servers import lamina_server

    other = lamina_server(tmp_path / "other-registry")
    other.start(tmp_path / "other.log")
    try:
        _carry(lamina, sign, images, registry_host, home, pairs, other.host)
    finally:
        other.stop()


def _carry(lamina: Run, sign, images: Images, registry_host: str, home: Path,
           pairs: dict[str, KeyPair], other_host: str) -> None:
    images.push("carry/src:v1")
    sign(f"{registry_host}/carry/src:v1")
    write_policy(home, sigstore_policy(f"{registry_host}/carry", pairs["trusted"].pub,
                                       signedIdentity={"type": "matchRepository"}))
    assert lamina("pull", f"{registry_host}/carry/src:v1").code == 0
    # The same repository under another tag keeps a signature matchRepository accepts.
    assert lamina("tag", f"{registry_host}/carry/src:v1", f"{registry_host}/carry/src:v2").code == 0
    assert lamina("push", f"{registry_host}/carry/src:v2").code == 0
    # Into another registry: the signatures the pull verified arrive in their formats (a .sig
    # tag, a bundle referrer), still naming what was signed.
    images.push("carry/bundled:v1")
    sign(f"{registry_host}/carry/bundled:v1", "trusted", "--format", "bundle")
    assert lamina("pull", f"{registry_host}/carry/bundled:v1").code == 0
    for source, fmt in (("src", "sig"), ("bundled", "bundle")):
        copy = f"{other_host}/carry/{source}-copy:v1"
        assert lamina("tag", f"{registry_host}/carry/{source}:v1", copy).code == 0
        assert lamina("push", copy).code == 0
        [row] = json.loads(lamina("trust", "inspect", "--key", str(pairs["trusted"].pub),
                                  copy).out)[0]["Signatures"]
        assert row["Format"] == fmt and row["Verified"] is True
        assert row["Identity"] == f"{registry_host}/carry/{source}:v1"
    assert lamina("tag", f"{registry_host}/carry/src:v1", f"{registry_host}/carry/bare:v1").code == 0
    assert lamina("push", "--remove-signatures", f"{registry_host}/carry/bare:v1").code == 0
    image_id = json.loads(lamina("inspect", f"{registry_host}/carry/src:v1").out)[0]["Id"]
    kept = home.parent / "store/trust" / f"{image_id.removeprefix('sha256:')}.json"
    assert kept.exists()
    assert lamina("rmi", f"{registry_host}/carry/src:v1", f"{registry_host}/carry/src:v2",
                  f"{registry_host}/carry/bare:v1", f"{other_host}/carry/src-copy:v1").code == 0
    assert not kept.exists()  # removed with the image
    assert lamina("pull", f"{registry_host}/carry/src:v2").code == 0
    result = lamina("pull", f"{registry_host}/carry/bare:v1")
    assert result.code == 1 and "unsigned" in result.err


def test_push_signs_with_sigstore_key(lamina: Run, images: Images, registry_host: str,
                                      home: Path, pairs: dict[str, KeyPair],
                                      passfile: Path) -> None:
    images.push("pushsign/src:v1")
    assert lamina("pull", f"{registry_host}/pushsign/src:v1").code == 0
    target = f"{registry_host}/pushsign/dst:v1"
    assert lamina("tag", f"{registry_host}/pushsign/src:v1", target).code == 0
    result = lamina("push", "--sign-by-sigstore-private-key", str(pairs["trusted"].key),
                    "--sign-passphrase-file", str(passfile), target)
    assert result.code == 0, result.err
    assert lamina("rmi", target).code == 0
    write_policy(home, sigstore_policy(f"{registry_host}/pushsign", pairs["trusted"].pub))
    result = lamina("pull", target)  # signed as dst:v1: the exact identity
    assert result.code == 0, result.err
    wrong = Path(str(passfile) + ".wrong")
    wrong.write_text("nope\n")
    result = lamina("push", "--sign-by-sigstore-private-key", str(pairs["trusted"].key),
                    "--sign-passphrase-file", str(wrong), target)
    assert result.code == 1 and "wrong passphrase" in result.err


def test_create_and_build_from_obey_the_policy(lamina: Run, sign, images: Images,
                                               registry_host: str, home: Path,
                                               pairs: dict[str, KeyPair], tmp_path: Path,
                                               store_snapshot) -> None:
    images.push("pulls/unsigned:v1")
    images.push("pulls/signed:v1")
    sign(f"{registry_host}/pulls/signed:v1")
    write_policy(home, sigstore_policy(f"{registry_host}/pulls", pairs["trusted"].pub))
    assert lamina("images").code == 0
    before = store_snapshot()
    created = lamina("create", f"{registry_host}/pulls/unsigned:v1")
    assert created.code != 0
    assert "sigstoreSigned not satisfied: unsigned" in created.err
    assert store_snapshot() == before
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {registry_host}/pulls/unsigned:v1\n")
    listed = lamina("images", "-a", "--digests").out
    built = lamina("build", "-q", str(context))
    assert built.code != 0 and "sigstoreSigned not satisfied: unsigned" in built.err
    # (build makes its cache table in the database on first use: content is compared here)
    assert [f for f in store_snapshot() if f[0] != "lamina.db"] == \
        [f for f in before if f[0] != "lamina.db"]
    assert lamina("images", "-a", "--digests").out == listed
    # --disable-content-trust skips the check, as docker's flag says.
    assert lamina("build", "-q", "--disable-content-trust", str(context)).code == 0
    (context / "Dockerfile").write_text(f"FROM {registry_host}/pulls/signed:v1\n")
    assert lamina("build", "-q", "--pull", str(context)).code == 0


def test_registries_d_can_turn_attachments_off(lamina: Run, prepared: None, sign,
                                               images: Images, registry_host: str, home: Path,
                                               pairs: dict[str, KeyPair],
                                               store_snapshot) -> None:
    images.push("att/app:v1")
    sign(f"{registry_host}/att/app:v1")
    write_policy(home, sigstore_policy(f"{registry_host}/att", pairs["trusted"].pub))
    directory = home / ".config/containers/registries.d"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "off.yaml").write_text(
        f"docker:\n  {registry_host}/att:\n    use-sigstore-attachments: false\n")
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/att/app:v1")
    assert "unsigned" in line and "use-sigstore-attachments is off" in line
    (directory / "off.yaml").write_text(
        f"docker:\n  {registry_host}/att:\n    use-sigstore-attachments: true\n")
    assert lamina("pull", f"{registry_host}/att/app:v1").code == 0
    (directory / "off.yaml").write_text("docker: [not, a, mapping]\n")
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/att/app:v1")
    assert "registries.d" in line


def test_policy_key_that_cannot_be_read(lamina: Run, prepared: None, sign, images: Images,
                                        registry_host: str, home: Path, tmp_path: Path,
                                        store_snapshot) -> None:
    images.push("badkey/app:v1")
    sign(f"{registry_host}/badkey/app:v1")
    write_policy(home, sigstore_policy(f"{registry_host}/badkey", tmp_path / "missing.pub"))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/badkey/app:v1")
    assert f'policy scope "{registry_host}/badkey"' in line and "missing.pub" in line
    (tmp_path / "garbage.pub").write_text("not a key\n")
    write_policy(home, sigstore_policy(f"{registry_host}/badkey", tmp_path / "garbage.pub"))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/badkey/app:v1")
    assert "garbage.pub: not a PEM public key" in line


def test_all_tags_skips_signature_tags_and_checks_each_image(
        lamina: Run, sign, images: Images, registry_host: str, home: Path,
        pairs: dict[str, KeyPair]) -> None:
    images.push("alltags/app:v1")
    images.push("alltags/app:v2")
    sign(f"{registry_host}/alltags/app:v1", "trusted", "--format", "both")
    sign(f"{registry_host}/alltags/app:v2", "other")
    tags = httpx.get(f"http://{registry_host}/v2/alltags/app/tags/list").json()["tags"]
    assert len(tags) == 4  # v1, v2 and their .sig tags
    # No policy: every image, and no signature tag taken for one.
    result = lamina("pull", "-a", f"{registry_host}/alltags/app")
    assert result.code == 0, result.err
    listed = lamina("images", "--format", "{{.Tag}}", f"{registry_host}/alltags/app").out.split()
    assert sorted(listed) == ["v1", "v2"]
    assert lamina("rmi", f"{registry_host}/alltags/app:v1", f"{registry_host}/alltags/app:v2"
                  ).code == 0
    # Under the policy: v1 passes; v2, signed by another key, is refused and not stored.
    write_policy(home, sigstore_policy(f"{registry_host}/alltags", pairs["trusted"].pub))
    result = lamina("pull", "-a", f"{registry_host}/alltags/app")
    assert result.code == 1
    assert result.err.splitlines()[-1].startswith(
        f"Error: image {registry_host}/alltags/app:v2, policy scope ")
    assert "wrong key" in result.err
    listed = lamina("images", "--format", "{{.Tag}}", f"{registry_host}/alltags/app").out.split()
    assert listed == ["v1"]


def test_hostile_signatures_are_one_line(lamina: Run, prepared: None, images: Images,
                                         registry_host: str, lamina_registry: Server,
                                         home: Path, pairs: dict[str, KeyPair],
                                         store_snapshot) -> None:
    """Signatures no signer made: a bundle of JSON nested 100,000 deep, a .sig payload the
    same, garbage base64. The pull is refused in one line; nothing is stored."""
    digest = images.push("neg/hostile:v1")
    deep = b"[" * 100_000
    bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json"
    with httpx.Client(base_url=lamina_registry.url, trust_env=False) as client:
        blob = push_blob(client, "neg/hostile", deep)
        empty = push_blob(client, "neg/hostile", b"{}")
        referrer = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": bundle_type,
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                               "digest": empty, "size": 2},
                    "layers": [{"mediaType": bundle_type, "digest": blob, "size": len(deep)}],
                    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": digest,
                                "size": len(client.get(f"/v2/neg/hostile/manifests/{digest}",
                                                       headers={"Accept": "application/vnd.oci."
                                                                "image.manifest.v1+json"}
                                                       ).content)}}
        raw = json.dumps(referrer).encode()
        r = push_manifest(client, "neg/hostile", "sha256:" + hashlib.sha256(raw).hexdigest(),
                          raw, referrer["mediaType"])
        assert r.status_code == 201, r.text
    _put_sig(lamina_registry, "neg/hostile", digest, [
        {"mediaType": SIMPLESIGNING, "digest": blob, "size": len(deep),
         "annotations": {COSIGN_SIG: base64.b64encode(b"not a signature").decode()}},
        {"mediaType": SIMPLESIGNING, "digest": blob, "size": len(deep),
         "annotations": {COSIGN_SIG: "%%% not base64 %%%"}}])
    write_policy(home, sigstore_policy(f"{registry_host}/neg", pairs["trusted"].pub))
    line = failing_pull(lamina, store_snapshot, f"{registry_host}/neg/hostile:v1")
    assert line.startswith(f'Error: image {registry_host}/neg/hostile:v1, policy scope "')
    shown = lamina("trust", "inspect", "--key", str(pairs["trusted"].pub),
                   f"{registry_host}/neg/hostile:v1")
    assert shown.code == 0, shown.err
    assert all(row["Verified"] is False for row in json.loads(shown.out)[0]["Signatures"])
    verified = lamina("trust", "verify", "--key", str(pairs["trusted"].pub),
                      f"{registry_host}/neg/hostile:v1")
    assert verified.code == 1 and len(verified.err.strip().splitlines()) == 1
    assert "Traceback" not in verified.err + shown.err
