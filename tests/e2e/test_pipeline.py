"""The whole pipeline: gateway, real Celery worker processes, beat, and the simulator over HTTP."""

import io
import secrets
from collections.abc import Callable

import av
import httpx
import pytest
import redis
from sqlalchemy import select
from sqlmodel import col

from devtools.processes import wait_for
from shared.db import read_session
from shared.models import Job, LedgerEntry
from tests.conftest import AccountInfo, Stack, Workers
from tests.support.api import create_video, simulator_headers, status, submissions, wait_terminal
from tests.support.environment import forget_upstream
from tests.support.jobs import balance, insert_paid_job

pytestmark = pytest.mark.e2e


def unique(prompt: str) -> str:
    return f"{prompt} #{secrets.token_hex(4)}"


def assert_playable_mp4(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
    assert frames > 1


@pytest.fixture
def user(account: Callable[..., AccountInfo], workers: Workers) -> AccountInfo:
    return account(credits=100)


def test_text_to_video_completes_with_a_playable_mp4(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    prompt = unique("A beautiful sunset over the ocean")
    uuid = create_video(client, user.headers, prompt)
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "completed", result
    assert result["progress"] == 100
    video = httpx.get(result["videoUrl"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert_playable_mp4(video.content)
    assert submissions(simulator_url, prompt) == 1
    assert balance(user.account_id) == 98


def test_processing_shows_progress_and_an_estimate(client: httpx.Client, user: AccountInfo) -> None:
    uuid = create_video(client, user.headers, unique("slow one [sim latency=4]"))
    seen = wait_for(
        lambda: (s := status(client, user.headers, uuid))["status"] == "processing" and s,
        timeout_s=20,
        what="processing",
    )
    assert isinstance(seen, dict)
    assert 0 < seen["progress"] < 100
    assert seen["estimatedTime"] >= 1
    assert wait_terminal(client, user.headers, uuid)["status"] == "completed"


def test_upstream_429_then_success_is_retried_without_a_duplicate(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    prompt = unique("busy upstream [sim submit-fault=429x2]")
    uuid = create_video(client, user.headers, prompt)
    assert wait_terminal(client, user.headers, uuid)["status"] == "completed"
    assert submissions(simulator_url, prompt) == 1


@pytest.mark.parametrize(
    "fault", ["submit-fault=500x2", "submit-fault=503x1", "poll-fault=500x3", "poll-fault=dropx2"]
)
def test_server_errors_and_dropped_connections_are_retried(
    client: httpx.Client, user: AccountInfo, simulator_url: str, fault: str
) -> None:
    prompt = unique(f"flaky upstream [sim {fault}]")
    uuid = create_video(client, user.headers, prompt)
    assert wait_terminal(client, user.headers, uuid)["status"] == "completed"
    assert submissions(simulator_url, prompt) == 1


def test_a_dropped_submit_is_not_sent_again_and_is_refunded(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    """A submit whose connection dropped after it was sent may have started a paid generation:
    by default it is not sent again; the job fails with its own code, refunded, and
    /api/health counts it."""
    before = client.get("/api/health").json()["data"]["unknownSubmits"]
    prompt = unique("dropped [sim submit-fault=dropx1]")
    uuid = create_video(client, user.headers, prompt)
    result = wait_terminal(client, user.headers, uuid)
    assert (result["status"], result["errorCode"]) == ("failed", "upstream_outcome_unknown")
    assert balance(user.account_id) == 100
    assert submissions(simulator_url, prompt) == 0  # the simulator dropped it before accepting
    assert client.get("/api/health").json()["data"]["unknownSubmits"] == before + 1


def test_an_operation_failed_upstream_is_submitted_anew_once_then_fails_refunded(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    """google.rpc 13 (INTERNAL) is worth one new submission; the second failure is final."""
    prompt = unique("internal [sim error=13]")
    uuid = create_video(client, user.headers, prompt)
    result = wait_terminal(client, user.headers, uuid, timeout_s=60)
    assert (result["status"], result["errorCode"]) == ("failed", "upstream_failed")
    assert submissions(simulator_url, prompt) == 2
    assert balance(user.account_id) == 100


def test_safety_block_fails_with_the_reason_and_refunds(
    client: httpx.Client, user: AccountInfo
) -> None:
    uuid = create_video(client, user.headers, unique("blocked [sim block=safety]"))
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "failed"
    assert result["errorCode"] == "content_blocked"
    assert result["error"]
    assert balance(user.account_id) == 100


@pytest.mark.one_database  # a poll decision; its fail-and-refund move runs on both elsewhere
def test_deadline_exceeded_fails_and_refunds(client: httpx.Client, user: AccountInfo) -> None:
    uuid = create_video(client, user.headers, unique("forever [sim never-finish]"))
    result = wait_terminal(client, user.headers, uuid, timeout_s=90)
    assert result["status"] == "failed"
    assert result["errorCode"] == "deadline_exceeded"
    assert balance(user.account_id) == 100
    with read_session() as session:
        kinds = (
            session.execute(select(LedgerEntry.kind).where(col(LedgerEntry.job_id) == uuid))
            .scalars()
            .all()
        )
    assert sorted(kinds) == ["debit", "refund"]


def test_two_workers_share_a_batch_with_no_duplicates(
    client: httpx.Client, user: AccountInfo, simulator_url: str, workers: Workers
) -> None:
    prompts = [unique(f"batch {i}") for i in range(20)]
    uuids = [create_video(client, user.headers, p) for p in prompts]
    for uuid in uuids:
        assert wait_terminal(client, user.headers, uuid)["status"] == "completed"
    assert [submissions(simulator_url, p) for p in prompts] == [1] * 20
    busy = [p for p in workers.procs if p.alive() and "veo.submit_job" in p.log_path.read_text()]
    assert len(busy) >= 2


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_a_stopped_worker_loses_no_job_and_submits_nothing_twice(
    client: httpx.Client, user: AccountInfo, simulator_url: str, workers: Workers, how: str
) -> None:
    """SIGKILL: main process and pool die at once (OOM, lost host). SIGTERM: warm shutdown.

    The stop comes once every job is upstream, while the workers hold their in-flight polls: a
    SIGKILL landing inside a submit call is the documented duplicate window, which the chaos run
    counts apart."""
    prompts = [unique(f"{how} test {i} [sim latency=5]") for i in range(10)]
    uuids = [create_video(client, user.headers, p) for p in prompts]
    wait_for(
        lambda: all(status(client, user.headers, u)["status"] == "processing" for u in uuids),
        timeout_s=20,
        what="every job processing",
    )
    victim = next(p for p in workers.procs if p.alive() and "veo.submit" in " ".join(p.argv))
    if how == "sigkill":
        victim.kill()
    else:
        victim.stop()
    workers.procs.remove(victim)
    workers.start_worker()
    results = [wait_terminal(client, user.headers, u, timeout_s=90) for u in uuids]
    assert [r["status"] for r in results] == ["completed"] * 10
    assert [submissions(simulator_url, p) for p in prompts] == [1] * 10


def test_jobs_survive_a_redis_wipe(
    client: httpx.Client, user: AccountInfo, simulator_url: str, stack: Stack
) -> None:
    prompts = [unique(f"wipe test {i} [sim latency=1.5]") for i in range(6)]
    uuids = [create_video(client, user.headers, p) for p in prompts]
    wipe = redis.Redis.from_url(stack.redis_url)
    keys = list(wipe.scan_iter(match=f"{stack.env['VEO_REDIS_KEY_PREFIX']}*", count=1000))
    if keys:
        wipe.delete(*keys)
    results = [wait_terminal(client, user.headers, u, timeout_s=90) for u in uuids]
    assert [r["status"] for r in results] == ["completed"] * 6
    assert [submissions(simulator_url, p) for p in prompts] == [1] * 6


def test_a_job_whose_message_never_arrived_is_sent_by_the_sweeper(
    client: httpx.Client, user: AccountInfo
) -> None:
    """The crash between commit and publish: the row is committed, no message was ever sent."""
    job = insert_paid_job(user.account_id, unique("lost message [sim latency=0.2]"))
    assert wait_terminal(client, user.headers, job.id, timeout_s=60)["status"] == "completed"
    with read_session() as session:
        assert session.get(Job, job.id).submit_attempts == 1  # type: ignore[union-attr]


def png_bytes(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def video_size(url: str) -> tuple[int, int]:
    with av.open(io.BytesIO(httpx.get(url).content)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def test_image_to_video_from_an_upload_follows_the_images_orientation(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    files = {"file": ("portrait.png", png_bytes(360, 640), "image/png")}
    upload = client.post("/api/upload-video-image", files=files, headers=user.headers).json()
    assert upload["code"] == 0, upload
    prompt = unique("a portrait that moves")
    uuid = create_video(
        client,
        user.headers,
        prompt,
        generationType="image_to_video",
        imageKey=upload["data"]["imageKey"],
        aspectRatio="auto",
    )
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "completed", result
    width, height = video_size(result["videoUrl"])
    assert height > width  # auto resolved to 9:16 from the portrait image
    assert submissions(simulator_url, prompt) == 1


def test_image_to_video_from_a_url(client: httpx.Client, user: AccountInfo) -> None:
    from tests.support.receiver import start_file_server

    server = start_file_server({"/landscape.png": png_bytes(640, 360)})
    try:
        uuid = create_video(
            client,
            user.headers,
            unique("a landscape that moves"),
            generationType="image_to_video",
            imageUrl=server.url("landscape.png"),
            aspectRatio="auto",
        )
        result = wait_terminal(client, user.headers, uuid)
    finally:
        server.close()
    assert result["status"] == "completed", result
    width, height = video_size(result["videoUrl"])
    assert width > height


def test_an_unreachable_image_url_fails_with_a_reason_and_no_refund(
    client: httpx.Client, user: AccountInfo
) -> None:
    from devtools.processes import free_port

    url = f"http://127.0.0.1:{free_port()}/gone.png"
    uuid = create_video(
        client, user.headers, unique("missing image"), generationType="image_to_video", imageUrl=url
    )
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "failed"
    assert result["errorCode"] == "image_unavailable"
    assert "imageUrl" in result["error"]
    assert balance(user.account_id) == 98  # the user's own input: charged, as documented


def test_a_retired_model_is_reported_at_start_and_its_jobs_fail_with_a_refund(
    simulator_url: str, account: Callable[..., AccountInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs the real start-up check and submit step in-process against the simulator."""
    from shared.settings import get_settings
    from worker.startup import check_upstream_model
    from worker.tasks.submit import submit_job
    from worker.upstream import get_upstream

    retired = "veo-3.1-retired-preview"
    config_url, headers = f"{simulator_url}/_sim/config", simulator_headers()
    httpx.post(config_url, json={"retired_models": retired}, headers=headers).raise_for_status()
    forget_upstream()
    monkeypatch.setenv("VEO_MODEL", retired)
    get_settings.cache_clear()
    try:
        assert check_upstream_model() is False
        info = account(credits=10)
        job = insert_paid_job(info.account_id, unique("retired"), admitted=True)
        assert submit_job.run(job.id) == "failed"
    finally:
        from worker import runloop

        runloop.run(get_upstream().aclose())
        runloop.close()
        monkeypatch.delenv("VEO_MODEL")
        get_settings.cache_clear()
        get_upstream.cache_clear()
        httpx.post(config_url, json={"retired_models": ""}, headers=headers)
    with read_session() as session:
        failed = session.get(Job, job.id)
    assert failed is not None
    assert (failed.status, failed.error_code, failed.submit_attempts) == (
        "failed",
        "upstream_config",
        1,
    )
    assert "no longer available" in (failed.error_message or "")
    assert balance(info.account_id) == 10
