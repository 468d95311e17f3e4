"""POST /api/upstream/notifications: a push signed as Google signs Pub/Sub's OIDC tokens makes
the job of the operation it names due for a poll now, and changes nothing else; any other push
is refused (1002) or, for an operation that is not ours, acknowledged and ignored."""

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.db import write_session
from shared.models import Job
from shared.states import JobStatus
from shared.timeutil import utcnow
from simulator.push import PUSH_SERVICE_ACCOUNT
from simulator.push import Signer as Google  # signs as Google signs Pub/Sub's push tokens
from tests.conftest import AccountInfo, Stack, running_gateway
from tests.support.http_server import QuietHandler, base_url, start_server, stop_server
from tests.support.jobs import reload_job

pytestmark = pytest.mark.usefixtures("quiet_stack")
OPERATION = (
    "projects/p/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/{}"
)


@pytest.fixture(scope="module")
def google() -> Iterator[tuple[Google, str]]:
    signer = Google()

    class Certs(QuietHandler):
        def do_GET(self) -> None:
            self.send(
                200, json.dumps(signer.certs()).encode(), {"Content-Type": "application/json"}
            )

    server = start_server(Certs)
    yield signer, f"{base_url(server)}/certs"
    stop_server(server)


@pytest.fixture
def gateway(quiet_stack: Stack, google: tuple[Google, str]) -> Iterator[str]:
    env = {
        "VEO_PUSH_NOTIFICATIONS": "true",
        "VEO_PUSH_CERTS_URL": google[1],
        "VEO_PUSH_SERVICE_ACCOUNT": PUSH_SERVICE_ACCOUNT,
        "VEO_PUSH_AUDIENCE": "https://veo.example/api/upstream/notifications",
    }
    with running_gateway(quiet_stack, "push-gateway", env=env) as url:
        yield url


def processing_job(account_id: str, operation: str) -> Job:
    job = Job(
        account_id=account_id, generation_type="text_to_video", prompt="p", aspect_ratio="16:9"
    )
    job.status = JobStatus.PROCESSING
    job.upstream_operation = operation
    job.next_poll_at = utcnow() + timedelta(hours=1)
    with write_session() as session:
        session.add(job)
        session.commit()
        session.refresh(job)
    return job


def push(url: str, token: str | None, operation: str, *, in_data: bool = True) -> httpx.Response:
    message: dict[str, Any] = {"messageId": "1", "publishTime": "2026-12-07T00:00:00Z"}
    if in_data:
        message["data"] = base64.b64encode(json.dumps({"name": operation}).encode()).decode()
    else:
        message["attributes"] = {"operationName": operation}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"message": message, "subscription": "projects/p/subscriptions/veo"}
    return httpx.post(f"{url}/api/upstream/notifications", json=body, headers=headers, timeout=10)


AUDIENCE = "https://veo.example/api/upstream/notifications"


@pytest.mark.parametrize("in_data", [True, False], ids=["in-data", "in-attributes"])
def test_a_push_from_google_makes_the_job_due_now(
    gateway: str,
    google: tuple[Google, str],
    account: Callable[..., AccountInfo],
    in_data: bool,
) -> None:
    job = processing_job(account().account_id, OPERATION.format(f"op-{in_data}"))
    answer = push(gateway, google[0].token(AUDIENCE), job.upstream_operation or "", in_data=in_data)
    assert answer.status_code == 200
    assert answer.json()["code"] == 0
    assert answer.json()["data"] == {"polled": True}
    fresh = reload_job(job)
    assert fresh.next_poll_at is not None
    assert fresh.next_poll_at <= utcnow()
    assert fresh.status is JobStatus.PROCESSING  # the poll decides, not the push


def test_a_push_for_an_operation_that_is_not_ours_is_acknowledged_and_changes_nothing(
    gateway: str, google: tuple[Google, str]
) -> None:
    answer = push(gateway, google[0].token(AUDIENCE), OPERATION.format("unknown"))
    assert answer.status_code == 200
    assert answer.json()["data"] == {"polled": False}


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda g: None, id="no-token"),
        pytest.param(lambda g: g.token("https://elsewhere.example/"), id="wrong-audience"),
        pytest.param(lambda g: g.token(AUDIENCE, email="x@evil.example"), id="other-account"),
        pytest.param(lambda g: g.token(AUDIENCE, iss="https://evil.example"), id="not-google"),
        pytest.param(lambda g: g.token(AUDIENCE, exp=int(time.time()) - 3600), id="expired"),
        pytest.param(lambda g: Google().token(AUDIENCE), id="unknown-signer"),
    ],
)
def test_a_push_not_signed_for_us_by_google_is_refused_and_changes_nothing(
    gateway: str,
    google: tuple[Google, str],
    account: Callable[..., AccountInfo],
    spoil: Callable[[Google], str | None],
) -> None:
    job = processing_job(account().account_id, OPERATION.format(f"spoiled-{time.time_ns()}"))
    answer = push(gateway, spoil(google[0]), job.upstream_operation or "")
    assert answer.status_code == 401
    assert answer.json()["code"] == 1002
    assert reload_job(job).next_poll_at == job.next_poll_at


def test_pushes_are_refused_where_they_are_not_turned_on(
    quiet_stack: Stack, google: tuple[Google, str]
) -> None:
    with running_gateway(quiet_stack, "no-push-gateway") as url:
        answer = push(url, google[0].token(AUDIENCE), OPERATION.format("x"))
    assert answer.status_code == 404
    assert answer.json()["code"] == 1000
