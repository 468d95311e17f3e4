"""Authentication on every endpoint, tenant isolation on every endpoint, and no secret ever
echoed in an answer or written to a process log."""

import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from admin.cli import app as admin_cli
from shared.db import read_session, write_session
from shared.models import Account, WebhookEndpoint
from tests.conftest import AccountInfo, Stack
from tests.support.api import fresh_rate_window, signed_file_path
from tests.uploads.images import image_bytes

# Google's pushes carry its OIDC token, not an API key (tests/integration/test_upstream_push.py)
PUBLIC_PATHS = {"/api/health", "/api/ready", "/api/files/{key}", "/api/upstream/notifications"}
API_KEY_PATTERN = re.compile(r"veo_[A-Za-z0-9_-]{40,}")
SECRET_PATTERN = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")


def authenticated_operations(client: httpx.Client) -> list[tuple[str, str]]:
    """Every (method, path) of the served schema except the deliberately public ones."""
    paths = client.get("/openapi.json").json()["paths"]
    found = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in PUBLIC_PATHS
        for method in operations
    ]
    assert len(found) >= 7, found
    return found


def call(
    client: httpx.Client, method: str, path: str, headers: dict[str, Any], **ids: str
) -> httpx.Response:
    url = path.format(
        uuid=ids.get("uuid", "x"),
        delivery_id=ids.get("delivery_id", "x"),
        key_id=ids.get("key_id", "1"),
    )
    if path.endswith("/upload-video-image"):
        files = {"file": ("a.png", image_bytes("PNG"), "image/png")}
        return client.request(method, url, headers=headers, files=files)
    body: dict[str, Any] | None = None
    if path.endswith("/generate-video"):
        body = {"generationType": "text_to_video", "prompt": "auth probe"}
    elif path.endswith("/webhooks/test"):
        body = {}
    return client.request(method, url, headers=headers, json=body)


def bad_credentials(revoked_key: str, valid_key: str) -> list[dict[str, Any]]:
    return [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer \t x"},
        {"Authorization": f"Basic {valid_key}"},
        {"Authorization": f"Token {valid_key}"},
        {"Authorization": valid_key},
        {"Authorization": f"Bearer {valid_key}x"},
        {"Authorization": f"Bearer {valid_key[:-1]}"},
        {"Authorization": f"Bearer {revoked_key}"},
        {"Authorization": "Bearer veo_" + "A" * 43},
        {"Authorization": "Bearer " + "x" * 10_000},
        {"Authorization": "Bearer \u00e9\u00e8".encode("latin-1")},  # type: ignore[dict-item]
        {"X-Api-Key": valid_key},
    ]


def test_every_authenticated_endpoint_refuses_bad_credentials_with_1002(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    valid, revoked = account(credits=10), account(credits=10)
    assert CliRunner().invoke(admin_cli, ["revoke-key", revoked.api_key]).exit_code == 0
    problems = []
    for method, path in authenticated_operations(client):
        for headers in bad_credentials(revoked.api_key, valid.api_key):
            response = call(client, method, path, headers)
            body = response.json()
            if (response.status_code, body.get("code")) != (401, 1002):
                problems.append(f"{method} {path} {list(headers.values())[:1]!r:.60}: {body}")
            if valid.api_key in response.text or revoked.api_key in response.text:
                problems.append(f"{method} {path} echoed a key: {response.text[:200]}")
        query_key = call(client, method, path + f"?api_key={valid.api_key}", {})
        if query_key.json().get("code") != 1002:
            problems.append(f"{method} {path}: a key in the query string was accepted")
    assert not problems, "\n".join(problems)


def test_public_endpoints_need_no_key(client: httpx.Client) -> None:
    assert client.get("/api/health").json()["code"] == 0
    assert client.get("/api/ready").json()["code"] in {0, 5000}  # ready or not: never 1002
    assert client.get("/metrics").status_code == 200
    # A file needs no API key: its URL is signed instead (tests/uploads/test_files_api.py).
    assert client.get(signed_file_path("videos/nope.mp4")).json()["code"] == 1000


@pytest.fixture
def two_tenants(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> tuple[AccountInfo, AccountInfo, dict[str, str]]:
    """Owner with a job, an upload, a delivery and an endpoint; a stranger with nothing."""
    owner, stranger = account(credits=20), account(credits=20)
    upload = client.post(
        "/api/upload-video-image",
        headers=owner.headers,
        files={"file": ("a.png", image_bytes("PNG"), "image/png")},
    ).json()["data"]
    hook = f"http://127.0.0.1:9/{secrets.token_hex(4)}"  # never delivered in this module
    created = client.post(
        "/api/generate-video",
        headers={**owner.headers, "Idempotency-Key": "shared-key"},
        json={"generationType": "text_to_video", "prompt": "owner's job", "webhookUrl": hook},
    ).json()["data"]
    ping = client.post("/api/webhooks/test", headers=owner.headers, json={"url": hook}).json()
    with write_session() as session:
        session.add(WebhookEndpoint(account_id=owner.account_id, url=hook))
        session.commit()
    ids = {
        "uuid": created["uuid"],
        "delivery_id": ping["data"]["id"],
        "image_key": upload["imageKey"],
        "hook": hook,
    }
    return owner, stranger, ids


def test_another_tenants_objects_are_invisible_on_every_endpoint(
    client: httpx.Client, two_tenants: tuple[AccountInfo, AccountInfo, dict[str, str]]
) -> None:
    owner, stranger, ids = two_tenants
    unknown = "00000000-0000-0000-0000-000000000000"

    status = client.get(f"/api/video-status/{ids['uuid']}", headers=stranger.headers)
    assert (status.status_code, status.json()) == (
        404,
        client.get(f"/api/video-status/{unknown}", headers=stranger.headers).json(),
    )
    borrowed = client.post(
        "/api/generate-video",
        headers=stranger.headers,
        json={
            "generationType": "image_to_video",
            "prompt": "someone else's image",
            "imageKey": ids["image_key"],
        },
    ).json()
    assert (borrowed["code"], borrowed["data"]["field"]) == (1000, "imageKey")

    for query in ({}, {"uuid": ids["uuid"]}):
        listed = client.get("/api/webhooks/deliveries", params=query, headers=stranger.headers)
        assert listed.json() == {"code": 0, "msg": "Success", "data": []}
    endpoints = client.get("/api/webhooks/endpoints", headers=stranger.headers).json()
    assert endpoints["data"] == []
    replay = client.post(
        f"/api/webhooks/deliveries/{ids['delivery_id']}/replay", headers=stranger.headers
    )
    assert (replay.status_code, replay.json()["code"]) == (404, 1000)
    ping = client.post("/api/webhooks/test", headers=stranger.headers, json={}).json()
    assert (ping["code"], ping["data"]["field"]) == (1000, "url")  # not the owner's endpoint

    # The same Idempotency-Key in another account is another request, never the owner's job.
    same_key = client.post(
        "/api/generate-video",
        headers={**stranger.headers, "Idempotency-Key": "shared-key"},
        json={"generationType": "text_to_video", "prompt": "owner's job"},
    )
    assert same_key.json()["code"] == 0
    assert same_key.json()["data"]["uuid"] != ids["uuid"]
    assert "Idempotent-Replayed" not in same_key.headers

    # The owner still sees all of it.
    mine = client.get("/api/webhooks/deliveries", headers=owner.headers).json()["data"]
    assert ids["delivery_id"] in {d["id"] for d in mine}


def test_one_tenants_rate_limit_does_not_limit_another(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    noisy, quiet = account(credits=10, read_rate_limit=3), account(credits=10, read_rate_limit=3)
    fresh_rate_window()
    codes = [
        client.get("/api/video-status/x", headers=noisy.headers).json()["code"] for _ in range(5)
    ]
    assert codes[-1] == 1003
    assert client.get("/api/video-status/x", headers=quiet.headers).json()["code"] == 1000


def _logs(stack: Stack) -> dict[Path, str]:
    return {path: path.read_text(errors="replace") for path in stack.log_dir.glob("*.log")}


def test_no_api_key_or_webhook_secret_in_any_log_or_answer(
    client: httpx.Client, account: Callable[..., AccountInfo], stack: Stack
) -> None:
    user = account(credits=10)
    # Requests that put the key where a careless server would log or echo it.
    answers = [
        client.get(f"/api/video-status/{user.api_key}", headers=user.headers),
        client.get("/api/video-status/x", params={"key": user.api_key}, headers=user.headers),
        client.post(
            "/api/generate-video",
            headers=user.headers,
            json={"generationType": "text_to_video", "prompt": "x", "bogus": user.api_key},
        ),
        client.post(
            "/api/generate-video",
            headers={"Authorization": f"Bearer {user.api_key}-revoked-looking"},
            json={"generationType": "text_to_video", "prompt": "x"},
        ),
        client.post(
            "/api/generate-video",
            headers=user.headers,
            json={
                "generationType": "text_to_video",
                "prompt": "x",
                "webhookUrl": f"http://user:{user.api_key}@example.com/",
            },
        ),
    ]
    for answer in answers:
        assert user.api_key not in answer.text, answer.text
    with read_session() as session:
        webhook_secrets = set(session.execute(select(col(Account.webhook_secret))).scalars())
    leaks = []
    for path, text in _logs(stack).items():
        leaks += [f"{path.name}: API key {m[:12]}..." for m in API_KEY_PATTERN.findall(text)]
        leaks += [f"{path.name}: secret {m[:12]}..." for m in SECRET_PATTERN.findall(text)]
        leaks += [f"{path.name}: a webhook secret" for s in webhook_secrets if s in text]
    assert not leaks, leaks
    assert json.dumps([a.json() for a in answers]).count("whsec_") == 0
