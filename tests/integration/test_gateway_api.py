"""The seed's API over real HTTP against a running gateway, on SQLite and PostgreSQL."""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from admin.cli import app as admin_cli
from devtools.processes import free_port
from shared import key_cache
from shared.db import read_session, write_session
from shared.job_options import default_credits
from shared.keys import hash_api_key
from shared.lifecycle import Failure, fail_job
from shared.models import Account, ApiKey, Job
from shared.redis_client import get_redis
from shared.settings import get_settings
from tests.conftest import AccountInfo, Stack, running_gateway
from tests.support.api import fresh_rate_window
from tests.support.jobs import balance, insert_paid_job

SEED_TEXT = {
    "generationType": "text_to_video",
    "prompt": "A beautiful sunset over the ocean with waves gently lapping the shore",
    "aspectRatio": "16:9",
}


def assert_envelope(response: httpx.Response, code: int, status: int) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"code", "msg", "data"}, body
    assert (body["code"], response.status_code) == (code, status), body
    assert isinstance(body["msg"], str)
    assert body["msg"]
    return body


def test_seed_generate_example_answers_as_documented(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    body = assert_envelope(
        client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers), 0, 200
    )
    data = body["data"]
    assert body["msg"] == "Success"
    seed_fields = {"uuid", "status", "generationType", "prompt", "aspectRatio", "createdAt"}
    assert seed_fields <= set(data)
    # Beside the seed's fields: the charge and the options, defaults filled in.
    assert data["credits"] == 2
    assert (data["model"], data["durationSeconds"], data["resolution"]) == ("veo-3.1", 8, "720p")
    assert data["status"] == "pending"
    assert data["prompt"] == SEED_TEXT["prompt"]
    assert data["aspectRatio"] == "16:9"
    assert data["createdAt"].endswith("Z")
    assert "T" in data["createdAt"]


def test_status_of_own_job(client: httpx.Client, account: Callable[..., AccountInfo]) -> None:
    info = account(credits=10)
    uuid = client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers).json()["data"][
        "uuid"
    ]
    data = assert_envelope(client.get(f"/api/video-status/{uuid}", headers=info.headers), 0, 200)[
        "data"
    ]
    assert data["uuid"] == uuid
    assert data["status"] in {"pending", "processing"}
    assert 0 <= data["progress"] <= 100
    assert data["estimatedTime"] > 0
    assert data["videoUrl"] is None


def test_status_answers_head_like_get(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """GET is served past the router (api_gateway.asgi.StatusFastPath), HEAD through the route:
    the same status, headers and rate-limit counting either way."""
    info = account(credits=10)
    job = insert_paid_job(info.account_id)  # no message: no worker moves it meanwhile
    with write_session() as session:
        fail_job(session, job, Failure("upstream_error", "boom"))
    for path in (f"/api/video-status/{job.id}", "/api/video-status/unknown-job"):
        got = client.get(path, headers=info.headers)
        head = client.head(path, headers=info.headers)
        assert head.status_code == got.status_code
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
        assert head.headers["content-length"] == got.headers["content-length"]
        remaining = int(got.headers["x-ratelimit-remaining"])
        assert int(head.headers["x-ratelimit-remaining"]) == remaining - 1


def test_another_accounts_job_looks_exactly_like_an_unknown_one(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    owner, stranger = account(credits=10), account(credits=10)
    uuid = client.post("/api/generate-video", json=SEED_TEXT, headers=owner.headers).json()["data"][
        "uuid"
    ]
    foreign = client.get(f"/api/video-status/{uuid}", headers=stranger.headers)
    unknown = client.get(
        "/api/video-status/00000000-0000-0000-0000-000000000000", headers=stranger.headers
    )
    assert_envelope(foreign, 1000, 404)
    assert foreign.json() == unknown.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x"}, "generationType"),
        ({**SEED_TEXT, "generationType": "video_to_video"}, "generationType"),
        ({**SEED_TEXT, "prompt": "   "}, "prompt"),
        ({**SEED_TEXT, "prompt": "x" * 2001}, "prompt"),
        ({k: v for k, v in SEED_TEXT.items() if k != "prompt"}, "prompt"),
        ({**SEED_TEXT, "aspectRatio": "4:3"}, "aspectRatio"),
        ({**SEED_TEXT, "generationType": "image_to_video"}, "imageUrl"),
        (
            {
                **SEED_TEXT,
                "generationType": "image_to_video",
                "imageUrl": "ftp://example.com/a.png",
            },
            "imageUrl",
        ),
        ({**SEED_TEXT, "generationType": "image_to_video", "imageKey": "img_nope"}, "imageKey"),
        ({**SEED_TEXT, "unexpected": 1}, "unexpected"),
        ({**SEED_TEXT, "webhookUrl": "http://169.254.169.254/latest"}, "webhookUrl"),
    ],
)
def test_invalid_parameters_name_the_field(
    client: httpx.Client, account: Callable[..., AccountInfo], body: dict[str, Any], field: str
) -> None:
    info = account(credits=10)
    result = assert_envelope(
        client.post("/api/generate-video", json=body, headers=info.headers), 1000, 400
    )
    assert result["data"]["field"] == field
    assert field in result["msg"]
    assert client.get("/api/health").status_code == 200
    with read_session() as session:
        assert session.get(Account, info.account_id).credits == 10  # type: ignore[union-attr]


def test_framework_errors_come_back_in_the_envelope(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account()
    malformed = client.post(
        "/api/generate-video",
        content=b"{not json",
        headers={**info.headers, "Content-Type": "application/json"},
    )
    assert assert_envelope(malformed, 1000, 400)["data"]["field"] == "body"
    assert_envelope(client.get("/api/generate-video", headers=info.headers), 1000, 405)
    assert_envelope(client.get("/api/nope"), 1000, 404)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer  x y", "Basic abc", "Bearer veo_not-a-real-key", "veo_x"],
)
def test_missing_or_malformed_keys_answer_1002(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    assert_envelope(client.post("/api/generate-video", json=SEED_TEXT, headers=headers), 1002, 401)
    assert_envelope(client.get("/api/video-status/x", headers=headers), 1002, 401)


def test_keys_are_stored_only_as_hashes_and_revocation_is_immediate(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    with read_session() as session:
        stored = session.execute(
            select(ApiKey).where(col(ApiKey.account_id) == info.account_id)
        ).scalar_one()
    assert stored.key_hash == hash_api_key(info.api_key)
    assert info.api_key not in stored.model_dump_json()
    assert_envelope(
        client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers), 0, 200
    )
    result = CliRunner().invoke(admin_cli, ["revoke-key", info.api_key])
    assert result.exit_code == 0, result.output
    assert_envelope(
        client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers), 1002, 401
    )


def test_a_revoked_key_stays_refused_when_a_racing_gateway_caches_it_afterwards(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """A gateway that read the key from the database just before the revocation must not
    put it back in the shared key cache: the revocation's tombstone wins."""
    info = account(credits=10)
    status_url = "/api/video-status/unknown-job"
    assert_envelope(client.get(status_url, headers=info.headers), 1000, 404)
    with read_session() as session:
        row = session.execute(
            select(ApiKey).where(col(ApiKey.account_id) == info.account_id)
        ).scalar_one()
    stale = key_cache.encode(key_cache.KeyRecord(row.id or 0, info.account_id, None))
    assert CliRunner().invoke(admin_cli, ["revoke-key", info.api_key]).exit_code == 0
    cache_key = key_cache.cache_key(hash_api_key(info.api_key))
    get_redis().set(cache_key, stale, ex=key_cache.CACHE_TTL_S, nx=True)  # the late fill
    assert_envelope(client.get(status_url, headers=info.headers), 1002, 401)
    get_redis().delete(cache_key)  # even with the tombstone gone, the database says revoked
    assert_envelope(client.get(status_url, headers=info.headers), 1002, 401)


def test_requests_still_authenticate_after_redis_forgets_its_scripts(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """A restarted Redis has no script cache: the gateway sends the script again."""
    info = account(credits=10, read_rate_limit=60)
    status_url = "/api/video-status/unknown-job"
    assert_envelope(client.get(status_url, headers=info.headers), 1000, 404)
    get_redis().script_flush()
    response = client.get(status_url, headers=info.headers)
    assert_envelope(response, 1000, 404)
    assert response.headers["x-ratelimit-remaining"] == str(60 - 2)  # still counted


def test_insufficient_credits_says_required_and_current(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=1)
    body = assert_envelope(
        client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers), 1001, 402
    )
    assert body["data"] == {"required": 2, "current": 1}
    assert body["msg"] == "Insufficient credits"


def test_credit_race_never_overdraws(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=20)  # ten generations at 2 credits

    def post(i: int) -> int:
        body = {**SEED_TEXT, "prompt": f"race {i}"}
        return int(
            client.post("/api/generate-video", json=body, headers=info.headers).json()["code"]
        )

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(post, range(100)))
    assert codes.count(0) == 10
    assert codes.count(1001) == 90
    with read_session() as session:
        assert session.get(Account, info.account_id).credits == 0  # type: ignore[union-attr]
        jobs = (
            session.execute(select(Job).where(col(Job.account_id) == info.account_id))
            .scalars()
            .all()
        )
    assert len(jobs) == 10


def test_idempotency_key_replays_instead_of_charging_again(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    headers = {**info.headers, "Idempotency-Key": "order-42"}

    def post(_: int) -> httpx.Response:
        return client.post("/api/generate-video", json=SEED_TEXT, headers=headers)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    uuids = {r.json()["data"]["uuid"] for r in responses}
    assert len(uuids) == 1
    assert all(r.json()["code"] == 0 for r in responses)
    with read_session() as session:
        assert session.get(Account, info.account_id).credits == 8  # type: ignore[union-attr]
    other_body = client.post(
        "/api/generate-video", json={**SEED_TEXT, "prompt": "different"}, headers=headers
    )
    assert assert_envelope(other_body, 1000, 400)["data"]["field"] == "Idempotency-Key"


def test_rate_limit_answers_1003_with_headers(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=100, read_rate_limit=3)
    fresh_rate_window()
    answers = [client.get("/api/video-status/unknown", headers=info.headers) for _ in range(4)]
    assert [r.json()["code"] for r in answers] == [1000, 1000, 1000, 1003]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["X-RateLimit-Remaining"] == "2"
    limited = answers[-1]
    assert_envelope(limited, 1003, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= 1


def test_every_submit_counts_once_against_the_rate_limit(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """A valid body is served before the router; anything else (a bad field, another content
    type, malformed JSON) is answered by the route, after the caller is admitted. Either way:
    one count, the same headers."""
    info = account(credits=100, rate_limit=10)
    fresh_rate_window()
    answers = [
        client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers),
        client.post(
            "/api/generate-video", json={**SEED_TEXT, "aspectRatio": "4:3"}, headers=info.headers
        ),
        client.post(
            "/api/generate-video",
            content=json.dumps(SEED_TEXT).encode(),
            headers={**info.headers, "Content-Type": "text/plain"},
        ),
        client.post(
            "/api/generate-video",
            content=b"{not json",
            headers={**info.headers, "Content-Type": "application/json"},
        ),
        client.post("/api/generate-video", json=SEED_TEXT, headers=info.headers),
    ]
    assert [r.json()["code"] for r in answers] == [0, 1000, 1000, 1000, 0]
    remaining = [r.headers.get("X-RateLimit-Remaining") for r in answers]
    assert remaining == ["9", "8", "7", "6", "5"]
    assert {r.headers.get("X-RateLimit-Limit") for r in answers} == {"10"}
    assert balance(info.account_id) == 100 - 2 * default_credits(get_settings())


def test_rate_limit_holds_across_two_gateway_processes(
    stack: Stack, gateway_url: str, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=100, read_rate_limit=6)
    with running_gateway(stack, "gateway-b") as second_url:
        fresh_rate_window()
        codes = [
            httpx.get(f"{url}/api/video-status/unknown", headers=info.headers).json()["code"]
            for url in [gateway_url, second_url] * 5
        ]
    assert codes.count(1003) == 4, codes
    assert codes[:6] == [1000] * 6, codes


def test_a_dead_redis_does_not_fail_job_creation(
    quiet_stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    """On a stack no dispatcher serves, so the row is read as the gateway left it."""
    info = account(credits=10)
    dead = {"VEO_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running_gateway(quiet_stack, "gateway-no-redis", env=dead, healthy=False) as url:
        health = httpx.get(f"{url}/api/health", timeout=10)
        assert_envelope(health, 5000, 503)
        assert health.json()["data"]["database"] is True
        assert health.json()["data"]["redis"] is False
        created = httpx.post(
            f"{url}/api/generate-video", json=SEED_TEXT, headers=info.headers, timeout=10
        )
        data = assert_envelope(created, 0, 200)["data"]
    with read_session() as session:
        assert session.get(Job, data["uuid"]).status == "pending"  # type: ignore[union-attr]


def test_health_and_docs(client: httpx.Client) -> None:
    health = assert_envelope(client.get("/api/health"), 0, 200)
    assert health["data"]["database"] is True
    assert health["data"]["redis"] is True
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/generate-video",
        "/api/video-status/{uuid}",
        "/api/upload-video-image",
        "/api/health",
    } <= set(paths)


def test_a_database_outage_answers_5000_in_the_envelope(
    stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    dead = {"VEO_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"}
    with running_gateway(stack, "gateway-no-db", env=dead, healthy=False) as url:
        answer = httpx.post(
            f"{url}/api/generate-video", json=SEED_TEXT, headers=info.headers, timeout=30
        )
    body = assert_envelope(answer, 5000, 500)
    assert body["msg"] == "Server error"
    assert info.api_key not in answer.text
