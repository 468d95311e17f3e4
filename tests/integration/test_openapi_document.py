"""The OpenAPI document tools consume: unique operationIds named for their action, a bearer
security scheme (Swagger UI's Authorize button), every error in the envelope, and viewers that
load nothing from another host. Ids are accepted in any case."""

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import AccountInfo
from tests.support.api import create_video


@pytest.fixture
def document(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_its_own_camel_case_id(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids)), ids
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", i) for i in ids), ids
    files = document["paths"]["/api/files/{key}"]
    assert (files["get"]["operationId"], files["head"]["operationId"]) == (
        "downloadFile",
        "headFile",
    )
    assert document["paths"]["/api/generate-video"]["post"]["operationId"] == "generateVideo"
    assert document["paths"]["/api/video-status/{uuid}"]["get"]["operationId"] == "getVideoStatus"


def test_a_bearer_scheme_covers_every_operation_but_the_public_ones(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    public = {
        path for _, path, operation in _operations(document) if operation.get("security") == []
    }
    assert public == {
        "/api/health",
        "/api/ready",
        "/api/files/{key}",
        "/api/upstream/notifications",  # Google's OIDC token instead (api_gateway/push/token.py)
    }


def test_every_error_answer_is_documented_as_the_envelope(document: dict[str, Any]) -> None:
    envelope = "#/components/schemas/ErrorEnvelope"
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        assert {"400", "404", "500"} <= responses.keys(), (method, path)
        if "requestBody" in operation:
            assert "413" in responses, (method, path)
        assert "Retry-After" in responses["429"]["headers"], (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": envelope}, (method, path, status)
    files = document["paths"]["/api/files/{key}"]["get"]["responses"]
    assert {"206", "403", "416"} <= files.keys()
    assert "ValidationError" not in document["components"]["schemas"]


@pytest.mark.parametrize("viewer", ["/docs", "/redoc"])
def test_the_viewers_load_nothing_from_another_host(client: httpx.Client, viewer: str) -> None:
    page = client.get(viewer)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    html = page.text
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+", html, re.IGNORECASE), html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/"), asset
        assert client.get(asset).status_code == 200, asset
    assert "validatorUrl" in html or viewer == "/redoc"  # no badge fetched from a validator


def test_uppercase_uuids_are_accepted(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=10)
    uuid = create_video(client, user.headers, "in capitals")
    answer = client.get(f"/api/video-status/{uuid.upper()}", headers=user.headers).json()
    assert answer["code"] == 0, answer
    assert answer["data"]["uuid"] == uuid
    deliveries = client.get(
        "/api/webhooks/deliveries", params={"uuid": uuid.upper()}, headers=user.headers
    ).json()
    assert deliveries["code"] == 0, deliveries
