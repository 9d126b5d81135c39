"""cosign and lamina on one registry (lamina's, on loopback), both ways, key-based and with no
transparency log: key files, the ``.sig`` tag, and Sigstore bundles as referrers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry.servers import Server

from .conftest import Images, KeyPair, Run, sigstore_policy, write_policy
from .peers import cosign, run

pytestmark = pytest.mark.peer

NO_TLOG = ["--allow-http-registry", "--insecure-ignore-tlog=true"]
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


@pytest.fixture
def cosign_pair(tmp_path: Path) -> KeyPair:
    done = run([cosign(), "generate-key-pair"], env={"COSIGN_PASSWORD": "cosign-pw"},
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return KeyPair(tmp_path / "cosign.key", tmp_path / "cosign.pub", b"cosign-pw")


def test_cosign_signs_lamina_verifies(lamina: Run, images: Images, registry_host: str,
                                      home: Path, cosign_pair: KeyPair) -> None:
    digest = images.push("cosign/in:v1")
    done = run([cosign(), "sign", "-y", "--key", str(cosign_pair.key), "--tlog-upload=false",
                "--allow-http-registry", f"{registry_host}/cosign/in@{digest}"],
               env={"COSIGN_PASSWORD": "cosign-pw"})
    assert done.returncode == 0, done.stderr
    write_policy(home, sigstore_policy(f"{registry_host}/cosign", cosign_pair.pub,
                                       signedIdentity={"type": "matchRepository"}))
    result = lamina("pull", f"{registry_host}/cosign/in:v1")
    assert result.code == 0, result.err
    verified = lamina("trust", "verify", "--key", str(cosign_pair.pub),
                      f"{registry_host}/cosign/in:v1")
    assert verified.code == 0, verified.err
    claim = json.loads(verified.out.splitlines()[0])
    assert claim["critical"]["image"]["docker-manifest-digest"] == digest
    assert claim["critical"]["identity"]["docker-reference"] == f"{registry_host}/cosign/in"


def test_lamina_reads_cosign_key_file(lamina: Run, images: Images, registry_host: str,
                                      cosign_pair: KeyPair, tmp_path: Path) -> None:
    images.push("cosign/key:v1")
    pw = tmp_path / "pw"
    pw.write_text("cosign-pw\n")
    result = lamina("trust", "sign", "--key", str(cosign_pair.key), "--passphrase-file",
                    str(pw), f"{registry_host}/cosign/key:v1")
    assert result.code == 0, result.err
    done = run([cosign(), "verify", "--key", str(cosign_pair.pub), *NO_TLOG,
                f"{registry_host}/cosign/key:v1"])
    assert done.returncode == 0, done.stderr


def test_lamina_signs_cosign_verifies(lamina: Run, images: Images, registry_host: str,
                                      pairs: dict[str, KeyPair], sign) -> None:
    digest = images.push("cosign/out:v1")
    sign(f"{registry_host}/cosign/out:v1")
    done = run([cosign(), "verify", "--key", str(pairs["trusted"].pub), *NO_TLOG,
                f"{registry_host}/cosign/out:v1"])
    assert done.returncode == 0, done.stderr
    [claim] = json.loads(done.stdout)
    assert claim["critical"]["image"]["docker-manifest-digest"] == digest
    # With another key cosign refuses, as lamina does.
    done = run([cosign(), "verify", "--key", str(pairs["other"].pub), *NO_TLOG,
                f"{registry_host}/cosign/out:v1"])
    assert done.returncode != 0


def test_cosign_signs_with_lamina_key(lamina: Run, images: Images, registry_host: str,
                                      home: Path, tmp_path: Path) -> None:
    images.push("cosign/lkey:v1")
    pw = tmp_path / "pw"
    pw.write_text("lamina-pw\n")
    made = lamina("trust", "key", "generate", "--passphrase-file", str(pw), str(tmp_path / "lk"))
    assert made.code == 0, made.err
    assert (tmp_path / "lk.key").read_text().startswith(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert (tmp_path / "lk.key").stat().st_mode & 0o777 == 0o600
    digest = run([cosign(), "triangulate", "--allow-http-registry",
                  f"{registry_host}/cosign/lkey:v1"])
    assert digest.returncode == 0, digest.stderr
    done = run([cosign(), "sign", "-y", "--key", str(tmp_path / "lk.key"), "--tlog-upload=false",
                "--allow-http-registry", f"{registry_host}/cosign/lkey:v1"],
               env={"COSIGN_PASSWORD": "lamina-pw"})
    assert done.returncode == 0, done.stderr
    write_policy(home, sigstore_policy(f"{registry_host}/cosign", tmp_path / "lk.pub",
                                       signedIdentity={"type": "matchRepository"}))
    result = lamina("pull", f"{registry_host}/cosign/lkey:v1")
    assert result.code == 0, result.err
    again = lamina("trust", "key", "generate", "--passphrase-file", str(pw), str(tmp_path / "lk"))
    assert again.code == 1 and "already exists" in again.err


def test_bundles_both_ways(lamina: Run, images: Images, registry_host: str, home: Path,
                           pairs: dict[str, KeyPair], sign, cosign_pair: KeyPair,
                           tmp_path: Path) -> None:
    # lamina's bundle referrer, read by cosign (an empty trusted root: key-based, offline).
    images.push("cosign/bundle:v1")
    sign(f"{registry_host}/cosign/bundle:v1", "trusted", "--format", "bundle")
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;"
                                             "version=0.1"}))
    done = run([cosign(), "verify-attestation", "--new-bundle-format", "--trusted-root",
                str(root), "--type", "https://sigstore.dev/cosign/sign/v1", "--key",
                str(pairs["trusted"].pub), *NO_TLOG, f"{registry_host}/cosign/bundle:v1"])
    assert done.returncode == 0, done.stderr
    # cosign's bundle referrer, read by lamina.
    digest = images.push("cosign/bundle2:v1")
    predicate = tmp_path / "predicate.json"
    predicate.write_text("{}")
    done = run([cosign(), "attest", "-y", "--new-bundle-format", "--key", str(cosign_pair.key),
                "--tlog-upload=false", "--allow-http-registry", "--type",
                "https://sigstore.dev/cosign/sign/v1", "--predicate", str(predicate),
                f"{registry_host}/cosign/bundle2@{digest}"], env={"COSIGN_PASSWORD": "cosign-pw"})
    assert done.returncode == 0, done.stderr
    write_policy(home, sigstore_policy(f"{registry_host}/cosign", cosign_pair.pub,
                                       signedIdentity={"type": "matchRepository"}))
    result = lamina("pull", f"{registry_host}/cosign/bundle2:v1")
    assert result.code == 0, result.err
    kept = json.loads(lamina("inspect", f"{registry_host}/cosign/bundle2:v1").out)[0]
    assert kept["Signatures"]["Pulls"][0]["Signatures"][0]["Format"] == "bundle"


def test_cosign_on_the_cncf_registry_no_referrers_api(lamina: Run, cncf: Server,
                                                       pairs: dict[str, KeyPair], sign,
                                                       home: Path) -> None:
    """distribution 2.8 has no referrers API: bundles go to the referrers tag."""
    from .conftest import Images as Pusher

    Pusher(cncf).push("fallback/app:v1")
    sign(f"{cncf.host}/fallback/app:v1", "trusted", "--format", "both")
    write_policy(home, {"default": [{"type": "reject"}], "transports": {"docker": {
        f"{cncf.host}/fallback": [{"type": "sigstoreSigned",
                                   "keyPath": str(pairs["trusted"].pub)}]}}})
    shown = json.loads(lamina("trust", "inspect", "--key", str(pairs["trusted"].pub),
                              f"{cncf.host}/fallback/app:v1").out)[0]["Signatures"]
    assert sorted(r["Format"] for r in shown) == ["bundle", "sig"]
    assert all(r["Verified"] for r in shown)
    assert lamina("pull", f"{cncf.host}/fallback/app:v1").code == 0
    done = run([cosign(), "verify", "--key", str(pairs["trusted"].pub), *NO_TLOG,
                f"{cncf.host}/fallback/app:v1"])
    assert done.returncode == 0, done.stderr


def test_cosign_alone_on_lamina_registry(images: Images, registry_host: str,
                                         cosign_pair: KeyPair, tmp_path: Path) -> None:
    """cosign signs into lamina's registry and verifies from it, with nothing of lamina's
    in between: the ``.sig`` tag, and the referrers API (OCI 1.1 mode and bundles)."""
    import httpx

    pw = {"COSIGN_PASSWORD": "cosign-pw"}
    key, pub = str(cosign_pair.key), str(cosign_pair.pub)
    digest = images.push("alone/tag:v1")
    image = f"{registry_host}/alone/tag@{digest}"
    done = run([cosign(), "sign", "-y", "--key", key, "--tlog-upload=false",
                "--allow-http-registry", image], env=pw)
    assert done.returncode == 0, done.stderr
    done = run([cosign(), "verify", "--key", pub, *NO_TLOG, image])
    assert done.returncode == 0, done.stderr
    tags = httpx.get(f"http://{registry_host}/v2/alone/tag/tags/list").json()["tags"]
    assert digest.replace(":", "-") + ".sig" in tags

    # OCI 1.1: the signature is a referrer, found through the referrers API.
    digest = images.push("alone/ref:v1")
    image = f"{registry_host}/alone/ref@{digest}"
    done = run([cosign(), "sign", "-y", "--key", key, "--tlog-upload=false",
                "--allow-http-registry", "--registry-referrers-mode=oci-1-1", image],
               env={**pw, "COSIGN_EXPERIMENTAL": "1"})
    assert done.returncode == 0, done.stderr
    done = run([cosign(), "verify", "--key", pub, *NO_TLOG, "--experimental-oci11", image],
               env={"COSIGN_EXPERIMENTAL": "1"})
    assert done.returncode == 0, done.stderr
    listed = httpx.get(f"http://{registry_host}/v2/alone/ref/referrers/{digest}").json()
    assert len(listed["manifests"]) == 1
    tags = httpx.get(f"http://{registry_host}/v2/alone/ref/tags/list").json()["tags"]
    assert tags == ["v1"]  # no tag: the referrers API carried it
    # Another key: refused by cosign from the same registry.
    other = tmp_path / "other"
    other.mkdir()
    assert run([cosign(), "generate-key-pair"], env=pw, cwd=other).returncode == 0
    done = run([cosign(), "verify", "--key", str(other / "cosign.pub"), *NO_TLOG,
                "--experimental-oci11", image], env={"COSIGN_EXPERIMENTAL": "1"})
    assert done.returncode != 0

    # A Sigstore bundle (cosign attest --new-bundle-format), a referrer too.
    predicate = tmp_path / "predicate.json"
    predicate.write_text("{}")
    done = run([cosign(), "attest", "-y", "--new-bundle-format", "--key", key,
                "--tlog-upload=false", "--allow-http-registry", "--type",
                "https://sigstore.dev/cosign/sign/v1", "--predicate", str(predicate), image],
               env=pw)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;"
                                             "version=0.1"}))
    done = run([cosign(), "verify-attestation", "--new-bundle-format", "--trusted-root",
                str(root), "--type", "https://sigstore.dev/cosign/sign/v1", "--key", pub,
                *NO_TLOG, image])
    assert done.returncode == 0, done.stderr
    listed = httpx.get(f"http://{registry_host}/v2/alone/ref/referrers/{digest}",
                       params={"artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}
                       ).json()
    assert len(listed["manifests"]) == 1


def test_cosign_oci11_signatures_read_by_lamina(lamina: Run, images: Images,
                                                registry_host: str, home: Path,
                                                cosign_pair: KeyPair, tmp_path: Path,
                                                store_snapshot) -> None:
    """cosign's OCI 1.1 mode: the signature is a referrer, not a tag. lamina's pull, verify,
    inspect and revoke find it there."""
    env = {"COSIGN_PASSWORD": "cosign-pw", "COSIGN_EXPERIMENTAL": "1"}
    digest = images.push("oci11/app:v1")
    done = run([cosign(), "sign", "-y", "--key", str(cosign_pair.key), "--tlog-upload=false",
                "--allow-http-registry", "--registry-referrers-mode=oci-1-1",
                f"{registry_host}/oci11/app@{digest}"], env=env)
    assert done.returncode == 0, done.stderr
    image = f"{registry_host}/oci11/app:v1"
    write_policy(home, sigstore_policy(f"{registry_host}/oci11", cosign_pair.pub,
                                       signedIdentity={"type": "matchRepository"}))
    result = lamina("pull", image)
    assert result.code == 0, result.err
    kept = json.loads(lamina("inspect", image).out)[0]["Signatures"]
    assert kept["Verified"] is True
    assert kept["Pulls"][0]["Signatures"][0]["Where"].startswith(
        f"{registry_host}/oci11/app@sha256:")
    verified = lamina("trust", "verify", "--key", str(cosign_pair.pub), image)
    assert verified.code == 0, verified.err
    assert json.loads(verified.out)["critical"]["image"]["docker-manifest-digest"] == digest
    [row] = json.loads(lamina("trust", "inspect", "--key", str(cosign_pair.pub),
                              image).out)[0]["Signatures"]
    assert row["Format"] == "sig" and row["Verified"] is True and row["Digest"] == digest
    # revoke removes the referrer too: the image is then unsigned, for cosign as for lamina.
    assert lamina("rmi", image).code == 0
    assert lamina("trust", "revoke", "-y", image).code == 0
    assert json.loads(lamina("trust", "inspect", image).out)[0]["Signatures"] == []
    before = store_snapshot()
    refused = lamina("pull", image)
    assert refused.code == 1 and "unsigned" in refused.err
    assert store_snapshot() == before
    done = run([cosign(), "verify", "--key", str(cosign_pair.pub), *NO_TLOG,
                "--experimental-oci11", f"{registry_host}/oci11/app@{digest}"],
               env={"COSIGN_EXPERIMENTAL": "1"})
    assert done.returncode != 0


def test_cosign_signs_into_a_trust_registry(lamina: Run, tmp_path: Path,
                                            cosign_pair: KeyPair) -> None:
    """A registry whose [trust] policy serves only signed manifests to those who pull: cosign,
    signed in as a pusher, reads the manifest it signs and stores its signature (a .sig tag,
    or an OCI 1.1 referrer); the image is then served to everyone."""
    import base64

    import httpx

    from helpers.images import make_image
    from lamina.registry.auth.htpasswd import set_user
    from registry.conformance import push_image
    from registry.servers import lamina_server

    users = tmp_path / "htpasswd"
    set_user(users, "signer", "signer-pw", rounds=4)
    set_user(users, "reader", "reader-pw", rounds=4)
    config = tmp_path / "registry.toml"
    config.write_text(
        f'[auth]\nkind = "htpasswd"\nhtpasswd = "{users}"\nanonymous_pull = true\n'
        'access = [{account = "signer", name = "**", actions = ["*"]},\n'
        '          {account = "reader", name = "**", actions = ["pull"]}]\n'
        f'[trust]\nrepositories = ["prod/*"]\nkeys = ["{cosign_pair.pub}"]\n')
    docker_config = tmp_path / "signer-docker"
    docker_config.mkdir()
    with lamina_server(tmp_path / "reg", config=config) as server:
        server.start(tmp_path / "reg.log")
        auth = base64.b64encode(b"signer:signer-pw").decode()
        (docker_config / "config.json").write_text(
            json.dumps({"auths": {server.host: {"auth": auth}}}))
        signer = {"Authorization": f"Basic {auth}"}
        reader = {"Authorization": "Basic " + base64.b64encode(b"reader:reader-pw").decode()}
        pushed = {}
        with httpx.Client(base_url=server.url, trust_env=False, headers=signer) as client:
            for repo in ("prod/legacy", "prod/oci11", "prod/late"):
                pushed[repo] = push_image(client, repo, make_image([{repo: b"1"}]), "v1")
        for repo, mode in (("prod/legacy", "legacy"), ("prod/oci11", "oci-1-1")):
            image = f"{server.host}/{repo}:v1"
            refused = lamina("pull", image)  # anonymous: pull only
            assert refused.code == 1
            assert "not signed by a key this registry trusts" in refused.err
            done = run([cosign(), "sign", "-y", "--key", str(cosign_pair.key),
                        "--tlog-upload=false", "--allow-http-registry",
                        f"--registry-referrers-mode={mode}",
                        f"{server.host}/{repo}@{pushed[repo]}"],
                       env={"COSIGN_PASSWORD": "cosign-pw", "COSIGN_EXPERIMENTAL": "1",
                            "DOCKER_CONFIG": str(docker_config)})
            assert done.returncode == 0, done.stderr
            result = lamina("pull", image)
            assert result.code == 0, result.err
        # One who may only pull is not a signer, signed in or not: the gate holds for them.
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            unsigned = f"/v2/prod/late/manifests/{pushed['prod/late']}"
            for headers, status in (({}, 403), (reader, 403), (signer, 200)):
                r = client.get(unsigned, headers={**ACCEPT, **headers})
                assert r.status_code == status, (headers, r.text)
            signed = f"/v2/prod/legacy/manifests/{pushed['prod/legacy']}"
            assert client.get(signed, headers={**ACCEPT, **reader}).status_code == 200
