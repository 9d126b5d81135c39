"""``/v2/<name>/referrers/<digest>`` (end-12a, end-12b): the manifests whose subject is the
digest, as an OCI index, optionally filtered by ``artifactType``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lamina.model import mediatype as mt
from lamina.registry.handlers.common import PULL, authorize, json_response, registry_of, repository
from lamina.registry.service import parse_digest


async def list_referrers(request: Request) -> Response:
    name = repository(request)
    await authorize(request, name, PULL)
    digest = parse_digest(request.path_params["digest"])
    # The spec forbids a 404 here (clients would take it for "no referrers API"): an unknown
    # repository or subject simply has no referrers.
    artifact_type = request.query_params.get("artifactType") or None
    manifests: list[dict[str, Any]] = []
    for ref in await registry_of(request).referrers(name, digest, artifact_type):
        entry: dict[str, Any] = {
            "mediaType": ref.media_type,
            "digest": ref.digest,
            "size": ref.size,
        }
        if ref.artifact_type:
            entry["artifactType"] = ref.artifact_type
        if ref.annotations:
            entry["annotations"] = json.loads(ref.annotations)
        manifests.append(entry)
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests},
        separators=(",", ":"),
    ).encode()
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return json_response(body, headers=headers, media_type=mt.OCI_INDEX)
