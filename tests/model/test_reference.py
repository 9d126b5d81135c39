"""References: docker/distribution's reference test vectors, as data, against Reference.parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.errors import InvalidArgument, InvalidReference
from lamina.model.digest import Digest
from lamina.model.reference import (
    DEFAULT_DOMAIN,
    DEFAULT_TAG,
    PATH_RE,
    TAG_RE,
    Reference,
    validate_path,
    validate_tag,
)

SHA_F = "sha256:" + "f" * 64
SHA512_F = "sha512:" + "f" * 128
REDIS = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
BUSYBOX = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"

# Names docker's ParseNormalizedNamed accepts (normalize_test.go, TestValidateReferenceName and
# TestValidateRemoteName).
VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]

INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
    # Beyond docker's corpus: whitespace, control characters, Unicode, empty parts.
    "",
    " ",
    "nginx ",
    "nginx\n",
    "\nnginx",
    "ngi\x00nx",
    "nginx:",
    "nginx@",
    "nginx:@" + SHA_F,
    "nginx::tag",
    "nginx:tag:tag",
    "/nginx",
    "nginx/",
    "nginx//x",
    "\uff4eginx",
    "nginx:\uff54ag",
    "ex.com/\uff46oo",
    "nginx:" + "a" * 129,
    "nginx:-tag",
    "nginx:.tag",
    "docker://quay.io/library/foo:bar",
    "$$$",
    "::",
    ":justtag",
    "@" + SHA_F,
    "aa/asdf$$^/aa",
    "validname@invaliddigest:" + "f" * 64,
    "repo@sha256:" + "f" * 34,
    "repo@sha256:" + "F" * 64,
    "repo@sha256:" + "f" * 65,
    "repo@sha256:" + "f" * 63,
    "repo@md5:" + "f" * 32,
    "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag",
    "[2001:db8::1]",
    "[2001:db8::1]:5000",
    "[2001:db8::1]:tag",
    "[fe80::1%@invalidzone]:5000/repo",
    "a/" * 128 + "a:tag",
]

# input -> (domain, path, tag, digest, familiar string)
NORMALISED = {
    "nginx": ("docker.io", "library/nginx", None, None, "nginx"),
    "nginx:latest": ("docker.io", "library/nginx", "latest", None, "nginx:latest"),
    "docker.io/nginx": ("docker.io", "library/nginx", None, None, "nginx"),
    "index.docker.io/nginx": ("docker.io", "library/nginx", None, None, "nginx"),
    "docker.io/library/nginx:1.25": ("docker.io", "library/nginx", "1.25", None, "nginx:1.25"),
    "library/nginx": ("docker.io", "library/nginx", None, None, "nginx"),
    "fooo/bar": ("docker.io", "fooo/bar", None, None, "fooo/bar"),
    "index.docker.io/fooo/bar": ("docker.io", "fooo/bar", None, None, "fooo/bar"),
    "library/foo/bar": ("docker.io", "library/foo/bar", None, None, "library/foo/bar"),
    "store/foo/bar": ("docker.io", "store/foo/bar", None, None, "store/foo/bar"),
    "other/library": ("docker.io", "other/library", None, None, "other/library"),
    "ubuntu-12.04-base": (
        "docker.io",
        "library/ubuntu-12.04-base",
        None,
        None,
        "ubuntu-12.04-base",
    ),
    "127.0.0.1:8000/private/moonbase": (
        "127.0.0.1:8000",
        "private/moonbase",
        None,
        None,
        "127.0.0.1:8000/private/moonbase",
    ),
    "example.com:8000/privatebasee": (
        "example.com:8000",
        "privatebasee",
        None,
        None,
        "example.com:8000/privatebasee",
    ),
    "Foo/bar": ("Foo", "bar", None, None, "Foo/bar"),
    "FOO/bar": ("FOO", "bar", None, None, "FOO/bar"),
    "test_com/foo": ("docker.io", "test_com/foo", None, None, "test_com/foo"),
    "test_com": ("docker.io", "library/test_com", None, None, "test_com"),
    "test.com:tag": ("docker.io", "library/test.com", "tag", None, "test.com:tag"),
    "test.com:5000": ("docker.io", "library/test.com", "5000", None, "test.com:5000"),
    "test-com:8080/foo": ("test-com:8080", "foo", None, None, "test-com:8080/foo"),
    "xn--n3h.com:18080/foo": ("xn--n3h.com:18080", "foo", None, None, "xn--n3h.com:18080/foo"),
    "localhost/foo": ("localhost", "foo", None, None, "localhost/foo"),
    "localhost:5000/a/b:tag": ("localhost:5000", "a/b", "tag", None, "localhost:5000/a/b:tag"),
    "host:5000/a/b:tag": ("host:5000", "a/b", "tag", None, "host:5000/a/b:tag"),
    "test:5000/repo@" + SHA_F: ("test:5000", "repo", None, SHA_F, "test:5000/repo@" + SHA_F),
    "test:5000/repo:tag@" + SHA_F: (
        "test:5000",
        "repo",
        "tag",
        SHA_F,
        "test:5000/repo:tag@" + SHA_F,
    ),
    "lowercase:Uppercase": (
        "docker.io",
        "library/lowercase",
        "Uppercase",
        None,
        "lowercase:Uppercase",
    ),
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag": (
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "some-long-tag",
        None,
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
    ),
    "b.gcr.io/test.example.com/my-app:test.example.com": (
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        None,
        "b.gcr.io/test.example.com/my-app:test.example.com",
    ),
    "xn--7o8h.com/myimage:xn--7o8h.com@" + SHA512_F: (
        "xn--7o8h.com",
        "myimage",
        "xn--7o8h.com",
        SHA512_F,
        "xn--7o8h.com/myimage:xn--7o8h.com@" + SHA512_F,
    ),
    "foo_bar.com:8080": ("docker.io", "library/foo_bar.com", "8080", None, "foo_bar.com:8080"),
    "foo/foo_bar.com:8080": ("docker.io", "foo/foo_bar.com", "8080", None, "foo/foo_bar.com:8080"),
    "192.168.1.1": ("docker.io", "library/192.168.1.1", None, None, "192.168.1.1"),
    "192.168.1.1:5000": ("docker.io", "library/192.168.1.1", "5000", None, "192.168.1.1:5000"),
    "192.168.1.1/repo": ("192.168.1.1", "repo", None, None, "192.168.1.1/repo"),
    "192.168.1.1:5000/repo:5050": (
        "192.168.1.1:5000",
        "repo",
        "5050",
        None,
        "192.168.1.1:5000/repo:5050",
    ),
    "[2001:db8::1]/repo": ("[2001:db8::1]", "repo", None, None, "[2001:db8::1]/repo"),
    "[2001:db8:1:2:3:4:5:6]/repo:tag": (
        "[2001:db8:1:2:3:4:5:6]",
        "repo",
        "tag",
        None,
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
    ),
    "[2001:db8::1]:5000/repo:tag@" + SHA_F: (
        "[2001:db8::1]:5000",
        "repo",
        "tag",
        SHA_F,
        "[2001:db8::1]:5000/repo:tag@" + SHA_F,
    ),
    "[::1]:5000/repo": ("[::1]:5000", "repo", None, None, "[::1]:5000/repo"),
    "redis@" + REDIS: ("docker.io", "library/redis", None, REDIS, "redis@" + REDIS),
    "dmcgowan/myapp@" + REDIS: (
        "docker.io",
        "dmcgowan/myapp",
        None,
        REDIS,
        "dmcgowan/myapp@" + REDIS,
    ),
    "busybox:latest@" + BUSYBOX: (
        "docker.io",
        "library/busybox",
        "latest",
        BUSYBOX,
        "busybox:latest@" + BUSYBOX,
    ),
    # 63 hex digits is a name, not an ID.
    "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9": (
        "docker.io",
        "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
        None,
        None,
        "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
    ),
    "dbcc1": ("docker.io", "library/dbcc1", None, None, "dbcc1"),
    "a" * 30 + "/b:" + "T" * 128: (
        "docker.io",
        "a" * 30 + "/b",
        "T" * 128,
        None,
        "a" * 30 + "/b:" + "T" * 128,
    ),
}


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(name: str) -> None:
    ref = Reference.parse(name)
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(name)


@pytest.mark.parametrize(("text", "expected"), sorted(NORMALISED.items()))
def test_normalisation(text: str, expected: tuple[str, str, str | None, str | None, str]) -> None:
    domain, path, tag, digest, familiar = expected
    ref = Reference.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.familiar == familiar
    assert ref.repository == f"{domain}/{path}"
    full = f"{domain}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assert str(ref) == full
    # The full and the familiar forms parse back to the same reference.
    assert Reference.parse(full) == ref
    assert Reference.parse(familiar) == ref
    if digest is not None:
        assert isinstance(ref.digest, Digest)


def test_contract_examples() -> None:
    ref = Reference.parse("nginx")
    assert ref == Reference("docker.io", "library/nginx", None, None)
    assert ref.repository == "docker.io/library/nginx"
    assert ref.familiar_name == "nginx"
    assert str(ref.with_default_tag()) == "docker.io/library/nginx:latest"
    assert ref.with_default_tag().familiar == "nginx:latest"
    assert Reference.parse("host:5000/a/b").familiar_name == "host:5000/a/b"
    assert Reference.parse("docker.io/foo/bar").familiar_name == "foo/bar"
    assert DEFAULT_DOMAIN == "docker.io" and DEFAULT_TAG == "latest"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase"),
        (
            "docker/Docker",
            "invalid reference format: repository name (docker/Docker) must be lowercase",
        ),
        ("ex.com/Foo:Tag", "invalid reference format: repository name (Foo) must be lowercase"),
        ("nginx:-x", "invalid reference format"),
        ("", "invalid reference format"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("a/" * 128 + "a:tag", "repository name must not be more than 255 characters"),
        ("repo@sha256:" + "f" * 34, "invalid reference format: invalid digest"),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, InvalidArgument)


def test_default_tag_only_when_name_only() -> None:
    digested = Reference.parse("nginx@" + SHA_F)
    assert digested.with_default_tag() == digested
    tagged = Reference.parse("nginx:1")
    assert tagged.with_default_tag() == tagged
    both = Reference.parse("nginx:1@" + SHA_F)
    assert both.docker_ref() == digested
    assert Reference.parse("nginx").docker_ref().tag == "latest"


def test_with_tag_and_digest() -> None:
    ref = Reference.parse("test.com:8000/foo")
    assert str(ref.with_tag("TAG5")) == "test.com:8000/foo:TAG5"
    assert str(ref.with_tag("TAG5").with_digest(SHA_F)) == f"test.com:8000/foo:TAG5@{SHA_F}"
    assert str(ref.with_digest(SHA_F)) == f"test.com:8000/foo@{SHA_F}"
    assert ref.with_tag("x").without_tag() == ref
    assert ref.with_digest(SHA_F).without_digest() == ref
    with pytest.raises(InvalidReference):
        ref.with_tag("-foo")
    with pytest.raises(InvalidReference):
        ref.with_digest("foo")
    with pytest.raises(InvalidReference):
        ref.with_tag("")


def test_references_are_values() -> None:
    a = Reference.parse("nginx:1")
    assert a == Reference.parse("docker.io/library/nginx:1")
    assert len({a, Reference.parse("index.docker.io/library/nginx:1")}) == 1
    with pytest.raises(AttributeError):
        a.tag = "2"  # type: ignore[misc]


def test_library_with_nested_path_is_not_shortened() -> None:
    assert Reference.parse("docker.io/library/foo/bar").familiar_name == "library/foo/bar"


def test_name_length_limit_counts_the_domain() -> None:
    # 255 characters in total including "docker.io/library/" is fine; one more is not.
    path = "a" * (255 - len("docker.io/library/"))
    assert len(Reference.parse(path).repository) == 255
    with pytest.raises(InvalidReference):
        Reference.parse(path + "a")


@pytest.mark.parametrize("tag", ["latest", "v1.0", "1", "_x", "A-B.c_d", "a" * 128])
def test_validate_tag_ok(tag: str) -> None:
    assert validate_tag(tag) == tag
    assert TAG_RE.fullmatch(tag)


@pytest.mark.parametrize(
    "tag", ["", "-a", ".a", "a" * 129, "a b", "a:b", "a/b", "\u00e9", "a\n", 5]
)
def test_validate_tag_bad(tag: object) -> None:
    with pytest.raises(InvalidReference):
        validate_tag(tag)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["a", "library/nginx", "a/b/c", "a-b__c.d/e---f", "0/1"])
def test_validate_path_ok(path: str) -> None:
    assert validate_path(path) == path
    assert PATH_RE.fullmatch(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "A",
        "a/B",
        "/a",
        "a/",
        "a//b",
        "a..b",
        "_a",
        "a_",
        "a___b",
        "a/../b",
        "..",
        "a\n",
        "a" * 256,
    ],
)
def test_validate_path_bad(path: str) -> None:
    with pytest.raises(InvalidReference):
        validate_path(path)


def test_validate_path_uppercase_message() -> None:
    with pytest.raises(InvalidReference, match="must be lowercase"):
        validate_path("Foo/bar")


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(b"nginx")  # type: ignore[arg-type]


# --- property: what Reference prints, it parses back to the same value -----------------------
_component = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+){0,2}", fullmatch=True).filter(
    lambda s: len(s) <= 30
)
_domain = st.sampled_from(
    ["docker.io", "localhost", "localhost:5000", "ex.com", "a.b.c:443", "[::1]:5000", "Reg.io"]
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.binary(max_size=16).map(Digest.of)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    domain = draw(_domain)
    parts = draw(st.lists(_component, min_size=1, max_size=3))
    if domain == "docker.io" and len(parts) == 1:
        parts = ["library", *parts]
    tag = draw(st.none() | _tag)
    digest = draw(st.none() | _digest)
    return Reference(domain, "/".join(parts), tag, digest)


@given(references())
def test_property_parse_str_round_trip(ref: Reference) -> None:
    assert Reference.parse(str(ref)) == ref
    first = ref.familiar_name.partition("/")[0]
    # As in docker, a familiar name whose first component looks like a host ("a.b/c") reads
    # back as that host; only unambiguous familiar forms round-trip.
    if ref.domain != DEFAULT_DOMAIN or not ("." in first or first == "localhost"):
        assert Reference.parse(ref.familiar) == ref


def test_tag_target_adds_the_default_tag_and_refuses_digests() -> None:
    from lamina.model.reference import tag_target

    assert str(tag_target("busybox")) == "docker.io/library/busybox:latest"
    assert str(tag_target("host:5000/a/b:v1")) == "host:5000/a/b:v1"
    with pytest.raises(InvalidReference, match="refusing to create a tag with a digest reference"):
        tag_target("busybox@sha256:" + "a" * 64)
