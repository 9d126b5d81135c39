"""What signatures need of a registry beyond pulling and pushing images: optional manifests,
small blobs, the referrers API (with the spec's tag fallback), and deleting manifests.

Everything read is bounded: a manifest by the client's 4 MiB limit, a signature blob by
``MAX_SIGNATURE_BLOB``, a referrers listing by ``MAX_LISTED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from lamina.errors import InvalidManifest, NotFound
from lamina.model import mediatype as mt
from lamina.model.descriptor import Descriptor
from lamina.model.digest import Digest
from lamina.model.manifest import Index, Manifest
from lamina.remote.registry import MANIFEST_ACCEPT, FetchedManifest, Repository
from lamina.remote.transport import MAX_DOCUMENT, read_limited

MAX_SIGNATURE_BLOB = 1024 * 1024
EMPTY_CONFIG = b"{}"


def optional_manifest(repo: Repository, reference: str, what: str) -> FetchedManifest | None:
    """The manifest ``reference`` names, or None if the repository has none by that name."""
    try:
        return repo.manifest(reference, what=what)
    except NotFound:
        return None


def head_manifest(repo: Repository, reference: str, what: str) -> Descriptor:
    """The descriptor of the manifest ``reference`` names, from a HEAD (no content)."""
    from lamina.errors import RegistryError

    response = repo.transport.request("HEAD", f"/v2/{repo.path}/manifests/{reference}",
                                      scopes=repo.pull_scopes,
                                      headers={"Accept": MANIFEST_ACCEPT})
    response.close()
    if response.status_code != 200:
        repo.fail(response, what)
    announced = response.headers.get("Docker-Content-Digest", "")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    length = response.headers.get("Content-Length", "")
    if not announced or not media_type or not length.isdigit():
        raise RegistryError(f"{repo.name}: {what}: the registry's HEAD answer lacks the "
                            "digest, type or length")
    digest = Digest.parse(announced)
    if ":" in reference and digest != Digest.parse(reference):
        raise RegistryError(f"{repo.name}: {what}: the registry answered for {digest}")
    return Descriptor(media_type, digest, int(length))


def image_manifest(fetched: FetchedManifest, what: str) -> Manifest:
    if not isinstance(fetched.parsed, Manifest):
        raise InvalidManifest(f"{what}: expected an image manifest, got an index")
    return fetched.parsed


def read_small_blob(repo: Repository, desc: Descriptor, what: str) -> bytes:
    if desc.size > MAX_SIGNATURE_BLOB:
        raise InvalidManifest(f"{what}: {desc.size} bytes is more than a signature can be")
    return repo.read_blob(desc.digest, desc.size, what=what)


def ensure_blob(repo: Repository, media_type: str, data: bytes,
                annotations: dict[str, str] | None = None) -> Descriptor:
    """Upload ``data`` unless the repository has it; its descriptor."""
    digest = Digest.of(data)
    if repo.blob_size(digest, repo.push_scopes) is None:
        repo.upload(digest, len(data), lambda: iter([data]))
    return Descriptor(media_type, digest, len(data), annotations=annotations or None)


def put_manifest(repo: Repository, reference: str, raw: bytes, media_type: str) -> tuple[
        Digest, bool]:
    """PUT a manifest; its digest and whether the registry said it took its subject
    (``OCI-Subject``), which tells a client it need not update the referrers tag."""
    digest = Digest.of(raw)
    response = repo.transport.request(
        "PUT", f"/v2/{repo.path}/manifests/{reference}", scopes=repo.push_scopes,
        headers={"Content-Type": media_type}, content=raw)
    if response.status_code not in (200, 201, 202):
        repo.fail(response, f"manifest {repo.path}:{reference}")
    response.close()
    return digest, "OCI-Subject" in response.headers


def delete_manifest(repo: Repository, digest: Digest) -> bool:
    """DELETE a manifest by digest; False if it was not there."""
    scopes = [f"repository:{repo.path}:delete", *repo.push_scopes]
    response = repo.transport.request("DELETE", f"/v2/{repo.path}/manifests/{digest}",
                                      scopes=scopes)
    response.close()
    if response.status_code == 404:
        return False
    if response.status_code not in (200, 202, 204):
        repo.fail(response, f"delete of manifest {digest.short}")
    return True


def referrers_tag(subject: Digest) -> str:
    """The tag of the referrers tag schema (the fallback of registries without the API)."""
    return f"{subject.algorithm}-{subject.hex}"


def referrers(repo: Repository, subject: Digest, artifact_type: str | None) -> list[Descriptor]:
    """The descriptors of ``subject``'s referrers: from the referrers API, else (a 404: no
    API) from the referrers tag. Filtered by ``artifact_type`` here too: a registry may ignore
    the filter."""
    query = "?" + urlencode({"artifactType": artifact_type}) if artifact_type else ""
    response = repo.transport.request("GET", f"/v2/{repo.path}/referrers/{subject}{query}",
                                      scopes=repo.pull_scopes,
                                      headers={"Accept": mt.OCI_INDEX})
    what = f"referrers of {subject.short}"
    if response.status_code == 404:
        response.close()
        fetched = optional_manifest(repo, referrers_tag(subject), what)
        if fetched is None:
            return []
        if not isinstance(fetched.parsed, Index):
            raise InvalidManifest(f"{repo.name}: {what}: the referrers tag is not an index")
        listed: Sequence[Descriptor] = fetched.parsed.manifests
    else:
        if response.status_code != 200:
            repo.fail(response, what)
        body = read_limited(response, MAX_DOCUMENT, what=what)
        try:
            listed = Index.parse(body, mt.OCI_INDEX).manifests
        except (InvalidManifest, ValueError) as err:
            raise InvalidManifest(f"{repo.name}: {what}: {err}") from None
    return [d for d in listed if artifact_type is None or d.artifact_type == artifact_type]


def add_to_referrers_tag(repo: Repository, subject: Digest, desc: Descriptor) -> None:
    """Add ``desc`` to the referrers tag's index (made if missing), as the spec's fallback."""
    tag = referrers_tag(subject)
    fetched = optional_manifest(repo, tag, f"referrers tag {tag}")
    listed: list[Descriptor] = []
    if fetched is not None and isinstance(fetched.parsed, Index):
        listed = [d for d in fetched.parsed.manifests if d.digest != desc.digest]
    index = Index.build([*listed, desc])
    repo.put_manifest(tag, index.raw, mt.OCI_INDEX)


def remove_from_referrers_tag(repo: Repository, subject: Digest, digests: set[Digest]) -> None:
    tag = referrers_tag(subject)
    fetched = optional_manifest(repo, tag, f"referrers tag {tag}")
    if fetched is None or not isinstance(fetched.parsed, Index):
        return
    kept = [d for d in fetched.parsed.manifests if d.digest not in digests]
    if len(kept) == len(fetched.parsed.manifests):
        return
    if kept:
        repo.put_manifest(tag, Index.build(kept).raw, mt.OCI_INDEX)
    else:
        delete_manifest(repo, fetched.digest)
