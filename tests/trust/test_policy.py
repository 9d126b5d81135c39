"""containers-policy.json parsing (strict) and signedIdentity, as containers/image defines
them; registries.d; DOCKER_CONTENT_TRUST as docker reads it; key files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.engine.settings import SignatureSettings
from lamina.errors import InvalidArgument, SignatureError
from lamina.model.reference import Reference
from lamina.trust import identity, keys, registriesd
from lamina.trust.policy import PolicyError, SignedIdentity, parse, scopes_of
from lamina.trust.verify import TrustOptions


def policy(doc: object) -> object:
    return parse(json.dumps(doc).encode(), Path("/etc/containers/policy.json"))


ACCEPT = [{"type": "insecureAcceptAnything"}]


@pytest.mark.parametrize(("doc", "error"), [
    ({}, "missing field 'default'"),
    ({"default": []}, "non-empty list"),
    ({"default": ACCEPT, "extra": 1}, "unknown field 'extra'"),
    ({"default": [{"type": "nope"}]}, "unknown requirement type 'nope'"),
    ({"default": [{"type": "reject", "keyPath": "x"}]}, "unknown field 'keyPath'"),
    ({"default": [{"type": "sigstoreSigned"}]}, "exactly one of keyPath"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "a", "keyData": "YQ=="}]},
     "exactly one of keyPath"),
    ({"default": [{"type": "sigstoreSigned", "keyData": "not base64!"}]}, "not base64"),
    ({"default": [{"type": "signedBy", "keyType": "X509", "keyPath": "k"}]}, "only GPGKeys"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "k",
                   "signedIdentity": {"type": "exactReference"}}]}, "missing field"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "k",
                   "signedIdentity": {"type": "exactReference", "dockerReference": "a/b"}}]},
     "needs a tag or digest"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "k",
                   "signedIdentity": {"type": "matchEverything"}}]}, "unknown type"),
    ({"default": ACCEPT, "transports": {"docker": {"Bad Scope/x": ACCEPT}}}, "invalid scope"),
    ('{"default": [], "default": []}', "duplicate field"),
])
def test_strict_parsing(doc: object, error: str) -> None:
    raw = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    with pytest.raises(PolicyError, match=error):
        parse(raw, Path("/p.json"))


def test_scopes_most_specific_first() -> None:
    ref = Reference.parse("reg.example.com:5000/team/app:v1")
    assert scopes_of(ref) == ["reg.example.com:5000/team/app:v1", "reg.example.com:5000/team/app",
                              "reg.example.com:5000/team", "reg.example.com:5000",
                              "*.example.com", "*.com"]
    loaded = policy({"default": [{"type": "reject"}], "transports": {"docker": {
        "reg.example.com:5000/team": ACCEPT, "*.example.com": [{"type": "reject"}],
        "": ACCEPT}}})
    assert loaded.requirements_for(ref)[0] == "reg.example.com:5000/team"  # type: ignore[attr-defined]
    other = Reference.parse("other.example.com/x:1")
    assert loaded.requirements_for(other)[0] == "*.example.com"  # type: ignore[attr-defined]
    assert loaded.requirements_for(Reference.parse("busybox"))[0] == 'docker ""'  # type: ignore[attr-defined]


@pytest.mark.parametrize(("rule", "image", "signed", "ok"), [
    (SignedIdentity(), "r.io/a/b:v1", "r.io/a/b:v1", True),
    (SignedIdentity(), "r.io/a/b:v1", "r.io/a/b:v2", False),
    (SignedIdentity(), "r.io/a/b:v1", "r.io/a/b", False),
    (SignedIdentity(), "r.io/a/b@sha256:" + "1" * 64, "r.io/a/b", True),
    (SignedIdentity(), "r.io/a/b@sha256:" + "1" * 64, "r.io/a/c", False),
    (SignedIdentity("matchExact"), "r.io/a/b@sha256:" + "1" * 64, "r.io/a/b", False),
    (SignedIdentity("matchRepository"), "r.io/a/b:v1", "r.io/a/b:v9", True),
    (SignedIdentity("matchRepository"), "r.io/a/b:v1", "r.io/a/c:v1", False),
    (SignedIdentity("exactReference", docker_reference="r.io/x/y:1"), "r.io/a/b:v1",
     "r.io/x/y:1", True),
    (SignedIdentity("exactRepository", docker_repository="r.io/x/y"), "r.io/a/b:v1",
     "r.io/x/y:7", True),
    (SignedIdentity("remapIdentity", prefix="mirror.io/lib", signed_prefix="r.io/lib"),
     "mirror.io/lib/app:v1", "r.io/lib/app:v1", True),
    (SignedIdentity("remapIdentity", prefix="mirror.io/lib", signed_prefix="r.io/lib"),
     "mirror.io/library/app:v1", "r.io/lib/app:v1", False),
    (SignedIdentity("matchRepository"), "busybox:1", "docker.io/library/busybox:2", True),
])
def test_signed_identity(rule: SignedIdentity, image: str, signed: str, ok: bool) -> None:
    assert identity.matches(rule, Reference.parse(image), signed) is ok


@pytest.mark.parametrize(("value", "on"), [("", False), ("0", False), ("false", False),
                                           ("FALSE", False), ("1", True), ("true", True),
                                           ("yes", True), ("anything", True)])
def test_docker_content_trust(value: str, on: bool, tmp_path: Path) -> None:
    settings = SignatureSettings.from_env({"DOCKER_CONTENT_TRUST": value, "HOME": str(tmp_path)})
    assert settings.content_trust is on
    assert TrustOptions(env_content_trust=settings.content_trust).content_trust is on
    # The flag, when given, wins both ways.
    assert TrustOptions(disabled=True, env_content_trust=True).content_trust is False
    assert TrustOptions(disabled=False).content_trust is True
    assert settings.policy_paths[0] == tmp_path / ".config/containers/policy.json"


def test_registries_d(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "default-docker:\n  lookaside: https://sigs.example/\n"
        "docker:\n  r.io/team:\n    lookaside: file:///srv/sigs\n"
        "    use-sigstore-attachments: false\n")
    team = registriesd.location_for(Reference.parse("r.io/team/app:v1"), tmp_path)
    assert team.lookaside == "file:///srv/sigs" and team.attachments is False
    other = registriesd.location_for(Reference.parse("q.io/x:1"), tmp_path)
    assert other.lookaside == "https://sigs.example/" and other.attachments is True
    (tmp_path / "b.yaml").write_text("docker:\n  r.io/team:\n    lookaside: file:///x\n")
    with pytest.raises(InvalidArgument, match="configured twice"):
        registriesd.location_for(Reference.parse("r.io/team/app:v1"), tmp_path)
    (tmp_path / "b.yaml").write_text("[" * 50_000)
    with pytest.raises(InvalidArgument, match=r"b\.yaml: nested too deeply"):
        registriesd.location_for(Reference.parse("r.io/team/app:v1"), tmp_path)


def test_key_files(tmp_path: Path) -> None:
    for algorithm in keys.ALGORITHMS:
        key = keys.generate(algorithm)
        pem = keys.encrypt_private(key, b"pw")
        (tmp_path / "k.key").write_bytes(pem)
        signer = keys.load_signer(tmp_path / "k.key", lambda: b"pw")
        verifier = keys.verifier_from_pem(keys.public_pem(key), "k.pub")
        assert verifier.verify(b"message", signer.sign(b"message"))
        assert not verifier.verify(b"other message", signer.sign(b"message"))
        with pytest.raises(SignatureError, match="wrong passphrase"):
            keys.load_signer(tmp_path / "k.key", lambda: b"wrong")
    doc = json.loads(base64.b64decode("".join(pem.decode().splitlines()[1:-1])))
    doc["kdf"]["params"]["N"] = 1 << 30
    (tmp_path / "big.key").write_bytes(keys._pem(keys.PEM_TYPE, json.dumps(doc).encode()))
    with pytest.raises(InvalidArgument, match="scrypt parameters out of bounds"):
        keys.load_signer(tmp_path / "big.key", lambda: b"pw")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from(["reject", "insecureAcceptAnything", "sigstoreSigned", "signedBy",
                       "GPGKeys", "matchRepository", "remapIdentity", "docker", ""]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["default", "transports", "docker", "type", "keyPath", "keyData",
                         "keyType", "signedIdentity", "prefix", "signedPrefix", "r.io/a",
                         "", "dockerReference", "keyPaths"]), children, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_is_a_policy_or_one_clear_error(doc: object) -> None:
    try:
        parse(json.dumps(doc).encode(), Path("/p.json"))
    except PolicyError as err:
        assert str(err).startswith("signature policy /p.json")


PAYLOADS = st.one_of(
    st.binary(max_size=200),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(
                     st.sampled_from(["critical", "optional", "identity", "image", "type",
                                      "docker-reference", "docker-manifest-digest",
                                      "mediaType", "dsseEnvelope", "payload", "payloadType",
                                      "signatures", "sig", "_type", "subject", "digest",
                                      "sha256", "name", "predicateType"]), c, max_size=4),
                 max_leaves=15).map(lambda doc: json.dumps(doc).encode()),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b'{"a":' * n),
)


@settings(max_examples=300, deadline=None)
@given(PAYLOADS)
def test_any_signature_payload_is_a_claim_or_one_clear_error(raw: bytes) -> None:
    """What a registry serves as a signature (a payload, a bundle, a statement) is read or
    refused with a SignatureError; nothing else escapes, however deep or strange."""
    from lamina.model.digest import Digest
    from lamina.trust import bundle, simple

    subject = Digest.parse("sha256:" + "0" * 64)
    for read in (lambda: simple.parse(raw, simple.COSIGN_TYPE),
                 lambda: bundle.parse(raw, subject, "r@d"), lambda: bundle.claims(raw)):
        try:
            read()
        except SignatureError as err:
            assert str(err)


def test_deep_policy_and_key_files_are_one_clear_error(tmp_path: Path) -> None:
    deep = b"[" * 100_000
    with pytest.raises(PolicyError, match="invalid JSON"):
        parse(deep, tmp_path / "policy.json")
    key = tmp_path / "deep.key"  # within the size limit of a key file
    key.write_bytes(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
                    + base64.encodebytes(deep[:40_000])
                    + b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    with pytest.raises(InvalidArgument, match="not a valid encrypted key file"):
        keys.load_signer(key, lambda: b"pw")
