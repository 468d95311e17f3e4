"""imageUrl and webhookUrl aimed at places they must never reach.

At the gateway (a second gateway in production mode, where even loopback is refused): every
spelling of loopback, private, link-local and metadata addresses, IPv6 forms, decimal/octal/hex
IPs, other schemes and credentials answer 1000 naming the field, and nothing is charged.
Through the worker (development mode, whose loopback allowance lets a local server stand in for
the user's host): redirects to private addresses, loops, oversized and slow-drip answers and
non-images end the job `failed` with a reason the user can act on, never sent upstream and, as
DESIGN says for the user's own input, not refunded.
"""

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devtools.processes import wait_for
from shared.db import read_session, write_session
from shared.models import Account, WebhookDelivery
from shared.settings import get_settings
from shared.timeutil import utcnow
from tests.conftest import AccountInfo, Stack, Workers, running_gateway
from tests.support.api import create_video, submissions, wait_terminal
from tests.support.http_server import QuietHandler, base_url, start_server, stop_server
from tests.support.receiver import start_receiver
from tests.uploads.images import image_bytes

LOOPBACK = [
    "http://127.0.0.1/a.png",
    "http://127.0.0.1:8000/a.png",
    "http://localhost/a.png",
    "http://LOCALHOST./a.png",
    "http://2130706433/a.png",  # decimal
    "http://0177.0.0.1/a.png",  # octal
    "http://017700000001/a.png",
    "http://0x7f000001/a.png",  # hex
    "http://0x7f.0.0.1/a.png",
    "http://127.1/a.png",
    "http://0/a.png",  # 0.0.0.0 reaches loopback on Linux
    "http://[::1]/a.png",
    "http://[0:0:0:0:0:0:0:1]/a.png",
    "http://[::ffff:127.0.0.1]/a.png",
    "http://[::ffff:7f00:1]/a.png",
    "http://[::127.0.0.1]/a.png",  # IPv4-compatible
    "http://[::]/a.png",
    "HTTP://127.0.0.1/a.png",
    "http://\u2460\u2461\u2466.0.0.1/a.png",  # fullwidth-ish digits that NFKC maps to 127
    "http://127.0.0.1#@example.com/a.png",
    "http://127.0.0.1.nip.io/a.png",  # DNS says loopback (or nothing: no DNS here)
]
PRIVATE = [
    "http://10.0.0.1/a.png",
    "http://172.16.0.1/a.png",
    "http://192.168.1.1/a.png",
    "http://100.64.0.1/a.png",  # CGNAT
    "http://198.18.0.1/a.png",  # benchmarking
    "http://224.0.0.1/a.png",  # multicast
    "http://255.255.255.255/a.png",
    "http://[fc00::1]/a.png",
    "http://[fd12:3456::1]/a.png",
    "http://[ff02::1]/a.png",
    "http://[2002:0a00:0001::]/a.png",  # 6to4 of 10.0.0.1
]
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/latest/meta-data/",  # decimal
    "http://0251.0376.0251.0376/",  # octal
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",  # Alibaba
    "http://169.254.0.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
]
NOT_HTTP = [
    "ftp://example.com/a.png",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "dict://127.0.0.1:6379/info",
    "ldap://127.0.0.1/",
    "javascript:alert(1)",
    "data:image/png;base64,iVBORw0KGgo=",
    "http:/127.0.0.1/a.png",
    "//127.0.0.1/a.png",
    "127.0.0.1/a.png",
    "http://user:pass@example.com/a.png",
    "http://example.com@127.0.0.1/a.png",
    "http://" + "a" * 2100 + ".com/",
    "",
]


@pytest.fixture(scope="module")
def production_gateway(stack: Stack) -> Iterator[str]:
    with running_gateway(stack, "gateway-production", env={"VEO_ENVIRONMENT": "production"}) as url:
        yield url


def credits_of(account_id: str) -> int:
    with read_session() as session:
        return session.get(Account, account_id).credits  # type: ignore[union-attr]


def refusals(client: httpx.Client, user: AccountInfo, url: str) -> list[tuple[str, Any]]:
    """(field, answer) for the URL as imageUrl, as webhookUrl and as a test ping's url."""
    image = client.post(
        "/api/generate-video",
        headers=user.headers,
        json={"generationType": "image_to_video", "prompt": "ssrf probe", "imageUrl": url},
    )
    hook = client.post(
        "/api/generate-video",
        headers=user.headers,
        json={"generationType": "text_to_video", "prompt": "ssrf probe", "webhookUrl": url},
    )
    ping = client.post("/api/webhooks/test", headers=user.headers, json={"url": url})
    return [("imageUrl", image), ("webhookUrl", hook), ("url", ping)]


def assert_all_refused(
    client: httpx.Client, user: AccountInfo, urls: list[str], because: str = ""
) -> None:
    """Each URL refused as imageUrl, webhookUrl and test ping (1000 naming the field, with a
    reason that contains `because`), and nothing charged."""
    before = credits_of(user.account_id)
    problems = []
    for url in urls:
        for field, response in refusals(client, user, url):
            body = response.json()
            reason = str((body.get("data") or {}).get("reason", ""))
            if (response.status_code, body.get("code")) != (400, 1000) or (
                body["data"]["field"] != field
                or field not in body["msg"]
                or not reason
                or because not in reason
            ):
                problems.append(f"{field}={url[:80]!r}: {response.status_code} {body}")
            if url and len(url) < 200 and "@" in url and url.split("@")[0][7:] in body["msg"]:
                problems.append(f"{field}={url!r}: credentials echoed: {body['msg']}")
    assert not problems, "\n".join(problems)
    assert credits_of(user.account_id) == before  # nothing was charged for a refused request


@pytest.mark.parametrize(
    "urls",
    [LOOPBACK, PRIVATE, METADATA, NOT_HTTP],
    ids=["loopback", "private", "metadata-and-link-local", "not-http"],
)
def test_production_refuses_every_spelling(
    production_gateway: str, account: Callable[..., AccountInfo], urls: list[str]
) -> None:
    with httpx.Client(base_url=production_gateway, timeout=30) as client:
        assert_all_refused(client, account(credits=10), urls)


@pytest.mark.parametrize(
    "urls", [PRIVATE, METADATA, NOT_HTTP], ids=["private", "metadata-and-link-local", "not-http"]
)
def test_development_allows_loopback_only(
    client: httpx.Client, account: Callable[..., AccountInfo], urls: list[str]
) -> None:
    assert_all_refused(client, account(credits=10), urls)


def own_ports(stack: Stack) -> dict[str, int]:
    """The ports of the session stack's own services, by what they are."""
    ports = {
        "gateway": int(stack.env["VEO_GATEWAY_PORT"]),
        "simulator": int(stack.env["VEO_SIMULATOR_PORT"]),
        "flower": int(stack.env["VEO_FLOWER_PORT"]),
        "redis": urlsplit(stack.redis_url).port or 6379,
        "embedded redis": get_settings().embedded_redis_port,
    }
    if not stack.database_url.startswith("sqlite"):
        ports["database"] = urlsplit(stack.database_url).port or 5432
    return ports


def test_development_refuses_the_stacks_own_ports_but_not_other_loopback_ones(
    client: httpx.Client,
    account: Callable[..., AccountInfo],
    stack: Stack,
    workers: Workers,
    simulator_url: str,
) -> None:
    """The loopback allowance is for a developer's receivers, never the stack itself: a free
    test ping to the simulator's /_sim/reset once wiped every account's operations."""
    user = account(credits=0)
    spellings = ["127.0.0.1", "localhost", "[::1]", "127.0.0.2", "2130706433"]
    ports = own_ports(stack).values()
    urls = [f"http://{host}:{port}/_sim/reset" for port in ports for host in spellings]
    assert_all_refused(client, user, urls, because="own services are never valid targets")

    receiver = start_receiver()  # another loopback port: still a developer's receiver
    try:
        ping = client.post(
            "/api/webhooks/test", headers=user.headers, json={"url": receiver.url("ping")}
        )
        assert ping.json()["code"] == 0, ping.json()
        wait_for(lambda: receiver.at("ping"), timeout_s=30, what="the test ping")
    finally:
        receiver.close()


@pytest.mark.usefixtures("quiet_stack")
def test_a_delivery_aimed_at_an_own_port_is_refused_when_sent(
    account: Callable[..., AccountInfo], stack: Stack
) -> None:
    """A URL stored before the rule (or by an operator) is refused by the worker too, for good."""
    from worker.tasks.deliver import deliver_webhook

    target = f"http://127.0.0.1:{stack.env['VEO_SIMULATOR_PORT']}/_sim/reset"
    delivery = WebhookDelivery(
        account_id=account(credits=0).account_id,
        event_type="webhook.test",
        url=target,
        payload="{}",
        next_attempt_at=utcnow(),
    )
    with write_session() as session:
        session.add(delivery)
        session.commit()
    assert deliver_webhook.run(delivery.id) == "failed"
    with read_session() as session:
        row = session.get(WebhookDelivery, delivery.id)
    assert row is not None
    assert row.status == "failed"
    assert "own services are never valid targets" in str(row.last_error)


# --- through the worker -------------------------------------------------------------------------

MIB = 1024 * 1024


class Hostile(QuietHandler):
    """The user's image host, misbehaving in every way one route at a time."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        route = self.path.split("?")[0]
        redirects = {
            "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/",
            "/to-metadata-decimal": "http://2852039166/latest/",
            "/to-private": "http://10.0.0.1/a.png",
            "/to-ipv6-mapped": "http://[::ffff:169.254.169.254]/",
            "/to-file": "file:///etc/passwd",
            "/loop": "/loop",
        }
        if route in redirects:
            self.send(302, b"", {"Location": redirects[route]})
        elif route == "/huge":  # no Content-Length: counted while streaming
            self.send_chunked(b"\0" * MIB, 60, {"Content-Type": "image/png"})
        elif route == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(10 * 1024 * MIB))
            self.end_headers()
        elif route == "/drip":
            self.send_drip(b"\x89", 0.1, 600, {"Content-Type": "image/png"})
        elif route == "/html":
            body = b"<html><script>alert(1)</script></html>"
            self.send(200, body, {"Content-Type": "image/png"})  # lies about its type
        else:
            self.send(404)


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = start_server(Hostile)
    yield base_url(server)
    stop_server(server)


# route -> words the user-facing reason must contain
FETCH_FAILURES = {
    "/to-metadata": "metadata",
    "/to-metadata-decimal": "metadata",
    "/to-private": "private",
    "/to-ipv6-mapped": "metadata",
    "/to-file": "only http and https",
    "/loop": "redirects",
    "/huge": "larger than",
    "/huge-declared": "larger than",
    "/drip": "within",
    "/html": "image",
    "/missing": "404",
}


@pytest.mark.timeout(120)
@pytest.mark.one_database  # the fetch path does not touch the database; its drip runs once
def test_image_url_fetch_failures_fail_the_job_with_a_reason_and_no_refund(
    client: httpx.Client,
    account: Callable[..., AccountInfo],
    workers: Workers,
    simulator_url: str,
    hostile: str,
) -> None:
    user = account(credits=100)
    tag = secrets.token_hex(3)
    jobs = {
        route: create_video(
            client,
            user.headers,
            f"hostile image {route} {tag}",
            generationType="image_to_video",
            imageUrl=f"{hostile}{route}",
        )
        for route in FETCH_FAILURES
    }
    problems = []
    for route, uuid in jobs.items():
        result = wait_terminal(client, user.headers, uuid, timeout_s=90)
        error = str(result.get("error") or "")
        if result["status"] != "failed" or FETCH_FAILURES[route] not in error.lower():
            problems.append(f"{route}: {result}")
        if route != "/html" and "imageUrl" not in error:  # /html was fetched; it is no image
            problems.append(f"{route}: the reason does not name imageUrl: {error!r}")
        if submissions(simulator_url, f"hostile image {route} {tag}") != 0:
            problems.append(f"{route}: sent upstream")
    assert not problems, "\n".join(problems)
    assert credits_of(user.account_id) == 100 - 2 * len(jobs)  # the user's input: charged


def test_a_good_image_url_still_completes(
    client: httpx.Client, account: Callable[..., AccountInfo], workers: Workers
) -> None:
    """The control: the same path with a real image works (so the refusals above are real)."""
    png = image_bytes("PNG", (64, 36))

    class Good(QuietHandler):
        def do_GET(self) -> None:
            self.send(200, png, {"Content-Type": "image/png"})

    server = start_server(Good)
    try:
        user = account(credits=10)
        uuid = create_video(
            client,
            user.headers,
            f"good image {secrets.token_hex(3)}",
            generationType="image_to_video",
            imageUrl=f"{base_url(server)}/a.png",
        )
        assert wait_terminal(client, user.headers, uuid, timeout_s=60)["status"] == "completed"
    finally:
        stop_server(server)
