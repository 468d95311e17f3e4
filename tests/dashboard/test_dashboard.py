"""The account dashboard in a real browser (headless Chromium) against the whole stack: the
gateway, workers, the simulator. What an account holder sees and does, and what a second
account cannot."""

import io
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from devtools.processes import wait_for
from shared.job_options import default_credits
from shared.settings import get_settings
from tests.conftest import AccountInfo, Stack, Workers, running_gateway
from tests.dashboard.conftest import sign_in
from tests.support.http_server import QuietHandler, base_url, start_server, stop_server
from tests.support.receiver import Receiver, start_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.one_database]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
HOSTILE_PROMPT = 'a fox <b>bold</b> "quoted" \u202etxt.exe\u202c and a bell \x07 at dusk'


def _png(color: tuple[int, int, int] = (30, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _video_item(page: Page, uuid: str) -> object:
    return page.locator(f'li.video[data-uuid="{uuid}"]')


def _newest_uuid(page: Page) -> str:
    uuid = page.locator("li.video").first.get_attribute("data-uuid")
    assert uuid
    return uuid


def _generate(page: Page, prompt: str) -> str:
    page.goto("/dashboard/generate")
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/dashboard/videos")
    return _newest_uuid(page)


def test_a_text_video_goes_live_from_pending_to_a_playing_video(
    page_for: Callable[..., Page],
    account: Callable[..., AccountInfo],
    workers: Workers,
    tmp_path: Path,
) -> None:
    user = account(credits=20)
    page = page_for(user)
    page.evaluate("window.notReloaded = true")
    uuid = _generate(page, f"{HOSTILE_PROMPT} [sim latency=4]")
    item = _video_item(page, uuid)
    first_status = item.get_attribute("data-status")
    page.evaluate("window.notReloaded = true")

    expect(item.locator(".status")).to_have_text("completed", timeout=60_000)

    assert first_status in {"pending", "processing"}  # a busy machine may have submitted it
    assert page.evaluate("window.notReloaded") is True  # moved live, no reload
    shown = item.locator(".prompt").inner_text()
    assert "<b>bold</b>" in shown
    assert "<U+202E>" in shown
    assert "<U+0007>" in shown
    assert item.locator(".prompt b").count() == 0
    duration = page.wait_for_function(
        "(el) => el.readyState >= 1 && el.duration > 0 ? el.duration : null",
        arg=item.locator("video").element_handle(),
    ).json_value()
    assert duration > 0
    expect(item.get_by_role("link", name="Download")).to_have_attribute(
        "href", re.compile("/api/files/")
    )
    stream = page.request.get(f"/dashboard/videos/{uuid}/events")  # a finished one: one event
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.text().startswith("id: 1\nevent: status\ndata: {")
    assert '"status": "completed"' in stream.text()
    page.reload()
    # The README's picture: rewritten only when asked, so a test run leaves the tree clean.
    target = SCREENSHOT if os.environ.get("VEO_UPDATE_SCREENSHOT") == "1" else tmp_path / "shot.png"
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000


def test_an_uploaded_image_becomes_a_video(
    page_for: Callable[..., Page],
    account: Callable[..., AccountInfo],
    workers: Workers,
    tmp_path: Path,
) -> None:
    page = page_for(account(credits=20), width=360)  # a phone's width
    image = tmp_path / "still.png"
    image.write_bytes(_png())
    page.goto("/dashboard/generate")
    page.get_by_label(re.compile("Image file")).set_input_files(str(image))
    expect(page.locator("#upload-state")).to_contain_text("Uploaded still.png")
    expect(page.get_by_label("Type")).to_have_value("image_to_video")
    page.get_by_label("Prompt", exact=True).fill("the still comes alive")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/dashboard/videos")
    item = _video_item(page, _newest_uuid(page))
    expect(item.locator(".status")).to_have_text("completed", timeout=60_000)
    expect(item.locator(".options")).to_contain_text("image_to_video")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_validation_errors_are_shown_beside_their_field(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo], gateway_url: str
) -> None:
    page = page_for(account(credits=20))
    page.goto("/dashboard/generate")
    page.get_by_label("Type").select_option("image_to_video")
    page.get_by_label("Prompt", exact=True).fill("needs an image")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#e-imageUrl")).to_contain_text("required for image_to_video")
    page.get_by_label("Prompt", exact=True).fill("   ")
    page.get_by_label("Type").select_option("text_to_video")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#e-prompt")).to_contain_text("must not be blank")
    expect(page.get_by_label("Prompt", exact=True)).to_have_attribute("aria-invalid", "true")


def test_a_key_made_in_the_page_works_until_it_is_revoked_there(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo], client: httpx.Client
) -> None:
    page = page_for(account(credits=5))
    page.goto("/dashboard/keys")
    page.get_by_role("button", name="Create a key").click()
    key = page.get_by_label("New API key").input_value()
    assert key.startswith("veo_")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/account", headers=headers).json()["code"] == 0

    page.goto("/dashboard/keys")
    assert key not in page.content()  # shown once only
    page.get_by_role("button", name=f"Revoke {key[:10]}").click()
    expect(page.locator(".flash")).to_have_text("Key revoked.")

    refused = client.get("/api/account", headers=headers).json()
    assert refused["code"] == 1002
    expect(page.locator(f'tr[data-prefix="{key[:10]}"]')).to_contain_text("revoked")


class HeldImageHost(QuietHandler):
    """Holds every image request until the test releases it: the job stays pending."""

    release = threading.Event()

    def do_GET(self) -> None:
        self.release.wait(60)
        self.send(200, _png(), {"Content-Type": "image/png"})


@pytest.fixture
def held_image() -> Iterator[str]:
    HeldImageHost.release.clear()
    server = start_server(HeldImageHost)
    yield f"{base_url(server)}/held.png"
    HeldImageHost.release.set()
    stop_server(server)


def test_a_pending_video_cancelled_in_the_page_is_refunded(
    page_for: Callable[..., Page],
    account: Callable[..., AccountInfo],
    client: httpx.Client,
    workers: Workers,
    held_image: str,
) -> None:
    user = account(credits=10)
    price = default_credits(get_settings())
    body = {"generationType": "image_to_video", "prompt": "held", "imageUrl": held_image}
    uuid = client.post("/api/generate-video", json=body, headers=user.headers).json()["data"][
        "uuid"
    ]
    page = page_for(user)
    item = _video_item(page, uuid)
    expect(item.locator(".status")).to_have_text("pending")

    item.get_by_role("button", name="Cancel").click()

    expect(page.locator(".flash")).to_have_text("Video cancelled.")
    expect(item.locator(".status")).to_have_text("cancelled")
    expect(item.locator(".refund")).to_have_text(f"Refunded {price} credits.")
    page.get_by_role("link", name="Credits").click()
    expect(page.locator("#balance")).to_have_text("10")
    refund = page.locator("table.ledger tr.kind-refund")
    expect(refund).to_contain_text(uuid)
    expect(refund).to_contain_text(f"+{price}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = start_receiver()
    yield server
    server.close()


def test_a_webhook_delivery_is_listed_and_replayed(
    page_for: Callable[..., Page],
    account: Callable[..., AccountInfo],
    workers: Workers,
    receiver: Receiver,
) -> None:
    page = page_for(account(credits=5))
    where = f"hook-{secrets.token_hex(4)}"
    page.goto("/dashboard/webhooks")
    page.get_by_label(re.compile("^Endpoint")).fill(receiver.url(where))
    page.get_by_role("button", name="Save endpoint").click()
    expect(page.locator(".flash")).to_have_text("Endpoint saved.")
    page.get_by_role("button", name="Reveal the signing secret").click()
    assert page.locator("#secret-1").input_value().startswith("whsec_")
    page.get_by_role("button", name="Send a test ping").click()
    wait_for(lambda: receiver.at(where), timeout_s=30, what="the test ping")

    row = page.locator("table.deliveries tbody tr").first

    def delivered() -> bool:
        page.reload()
        return row.locator(".code").inner_text() == "200"

    wait_for(delivered, timeout_s=30, interval_s=0.5, what="the delivery's 200 in the log")
    expect(row).to_contain_text("webhook.test")
    row.get_by_role("button", name=re.compile("^Replay")).click()
    expect(page.locator(".flash")).to_have_text("Delivery replayed.")
    wait_for(lambda: len(receiver.at(where)) == 2, timeout_s=30, what="the replay")
    first, again = receiver.at(where)
    assert first.headers["webhook-id"] == again.headers["webhook-id"]


def test_signing_out_ends_the_session(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo]
) -> None:
    page = page_for(account(credits=1))
    cookie = next(c for c in page.context.cookies() if c["name"] == "veo_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/dashboard/sign-in")
    page.goto("/dashboard/videos")
    page.wait_for_url("**/dashboard/sign-in")
    # the old cookie, replayed, is worth nothing either
    page.context.add_cookies([cookie])
    page.goto("/dashboard/keys")
    page.wait_for_url("**/dashboard/sign-in")


def test_a_second_account_cannot_reach_the_first_ones_videos(
    page_for: Callable[..., Page],
    account: Callable[..., AccountInfo],
    client: httpx.Client,
    workers: Workers,
    gateway_url: str,
) -> None:
    owner = account(credits=10)
    body = {"generationType": "text_to_video", "prompt": "mine alone [sim latency=30]"}
    uuid = client.post("/api/generate-video", json=body, headers=owner.headers).json()["data"][
        "uuid"
    ]
    page = page_for(account(credits=10))
    expect(page.locator("li.video")).to_have_count(0)
    csrf = page.locator("form[action='/dashboard/sign-out'] input[name=csrf]").input_value()

    for events_url in (f"/dashboard/videos/{uuid}/events", f"/dashboard/videos/events?uuid={uuid}"):
        events = page.request.get(events_url)
        assert events.status == 404
        assert "mine alone" not in events.text()
    for action in ("cancel", "delete"):
        answer = page.request.post(f"/dashboard/videos/{uuid}/{action}", form={"csrf": csrf})
        assert "Video not found" in answer.text()  # the page it was sent back to
    assert client.get(f"/api/video-status/{uuid}", headers=owner.headers).json()["data"][
        "status"
    ] in ("pending", "processing")
    page.goto(f"/dashboard/videos?cursor={uuid}")
    assert "mine alone" not in page.content()


def test_forms_without_the_token_do_nothing_and_pages_forbid_inline_script(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo], client: httpx.Client
) -> None:
    user = account(credits=5)
    page = page_for(user)
    assert page.request.post("/dashboard/keys", form={"csrf": "forged"}).status == 403
    page.goto("/dashboard/keys")
    expect(page.locator("tbody tr")).to_have_count(1)  # only the key it signed in with
    answer = page.request.get("/dashboard/videos")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"]


def test_a_login_link_signs_in_once(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo], stack: object
) -> None:
    from shared.login_links import create_login_link

    user = account(credits=3)
    link = create_login_link(user.account_id)
    page = page_for(None)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/videos")
    again = page_for(None)
    again.goto(link)
    again.get_by_role("button", name="Sign in").click()
    expect(again.locator(".error")).to_contain_text("unknown, used or expired")


def test_wrong_keys_are_refused_and_counted(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo]
) -> None:
    page = page_for(None)
    page.goto("/dashboard/sign-in")
    page.get_by_label("API key").fill("veo_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error")).to_contain_text("not valid")
    sign_in(page, account(credits=1).api_key)  # a right key still works


def test_a_disabled_accounts_session_ends(
    page_for: Callable[..., Page], account: Callable[..., AccountInfo]
) -> None:
    from typer.testing import CliRunner

    from admin.cli import app as admin_cli

    user = account(credits=1)
    page = page_for(user)
    assert CliRunner().invoke(admin_cli, ["disable-account", user.account_id]).exit_code == 0
    page.goto("/dashboard/keys")
    page.wait_for_url("**/dashboard/sign-in")


NO_SUCH_KEY = 2**31 - 1  # a valid key id that no key has: each revoke is refused, and counted


def test_changes_past_the_write_budget_are_refused_but_signing_out_is_not(
    browser: Browser, account: Callable[..., AccountInfo], stack: Stack
) -> None:
    from tests.support.api import fresh_rate_window

    limit = 5
    env = {"VEO_DEFAULT_RATE_LIMIT_PER_MINUTE": str(limit)}
    with running_gateway(stack, "gateway-dashboard-budget", env=env) as url:
        context = browser.new_context(base_url=url)
        page = context.new_page()
        sign_in(page, account(credits=1).api_key)
        csrf = page.locator("form[action='/dashboard/sign-out'] input[name=csrf]").input_value()
        form = {"csrf": csrf}
        fresh_rate_window()
        answers = [
            page.request.post(f"/dashboard/keys/{NO_SUCH_KEY}/revoke", form=form, max_redirects=0)
            for _ in range(limit + 1)
        ]
        assert [answer.status for answer in answers] == [303] * limit + [429]
        assert answers[-1].headers["retry-after"].isdigit()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/dashboard/sign-in")
        context.close()
