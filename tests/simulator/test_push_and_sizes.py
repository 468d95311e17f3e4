"""Veo-sized videos that still decode, and Pub/Sub-style pushes signed like Google's."""

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.auth import jwt

from simulator.push import PUSH_SERVICE_ACCOUNT
from simulator.sizes import target_bytes
from tests.simulator.helpers import probe_mp4, unique, wait_done
from tests.simulator.test_vertex import (  # noqa: F401 - fixtures
    body,
    sa_file,
    token,
    vertex_poll,
    vertex_submit,
)
from tests.support.http_server import QuietHandler, base_url, start_server, stop_server

TOPIC = "projects/demo/topics/veo-operations"
AUDIENCE = "https://veo.example.com/api/upstream/notifications"


class Inbox:
    """What a push endpoint received; the first `fail` deliveries are answered 500."""

    def __init__(self) -> None:
        self.fail = 0
        self.pushes: list[tuple[dict[str, Any], str]] = []
        self.arrived = threading.Condition()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[dict[str, Any], str]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.pushes) >= count, timeout), self.pushes
            return list(self.pushes)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, str]]:
    box = Inbox()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with box.arrived:
                box.pushes.append((data, self.headers.get("Authorization", "")))
                failing = box.fail > 0
                box.fail -= 1
                box.arrived.notify_all()
            self.send(500 if failing else 204)

    server = start_server(Handler)
    yield box, f"{base_url(server)}/push"
    stop_server(server)


def test_real_size_gcs_download_is_veo_sized_and_decodes(
    client: httpx.Client,
    token: str,  # noqa: F811
) -> None:
    client.post("/_sim/config", json={"video_size": "real"}).raise_for_status()
    submitted = vertex_submit(
        client,
        token,
        body(unique("sized [sim latency=0.1]"), storageUri="gs://bucket/out/"),
    )
    name = submitted.json()["name"]
    done = wait_done(lambda: vertex_poll(client, token, name))
    uri = done["response"]["videos"][0]["gcsUri"]
    bucket, _, obj = uri.removeprefix("gs://").partition("/")
    media = client.get(
        f"/storage/v1/b/{bucket}/o/{obj.replace('/', '%2F')}",
        params={"alt": "media"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert media.status_code == 200
    assert len(media.content) == target_bytes("720p", 8) == int(media.headers["content-length"])
    width, height, frames = probe_mp4(media.content)
    assert (width, height) == (320, 180)
    assert frames > 0
    op = client.get(f"/_sim/operations/{name}").json()
    assert op["download_done_at"] >= op["first_download_at"]


def test_push_at_done_time_with_a_google_style_token(
    client: httpx.Client,
    token: str,  # noqa: F811
    inbox: tuple[Inbox, str],
) -> None:
    box, url = inbox
    client.post("/_sim/config", json={"push_url": url, "push_audience": AUDIENCE})
    name = vertex_submit(
        client, token, body(unique("pushed [sim latency=0.3]"), pubsubTopic=TOPIC)
    ).json()["name"]
    (envelope, authorization), *_ = box.wait_for(1)
    message = envelope["message"]
    assert json.loads(base64.b64decode(message["data"])) == {"name": name, "done": True}
    assert message["messageId"]
    assert message["publishTime"]
    assert envelope["subscription"] == "projects/demo/subscriptions/veo-push"
    certs = httpx.get(f"{client.base_url}/_sim/oauth2/v1/certs").json()  # open, Google's shape
    claims = jwt.decode(authorization.removeprefix("Bearer "), certs=certs, audience=AUDIENCE)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == PUSH_SERVICE_ACCOUNT
    assert claims["email_verified"] is True
    op = client.get(f"/_sim/operations/{name}").json()
    assert op["pushed_at"] >= op["done_at"]
    assert op["pushes"] == 1
    with pytest.raises(ValueError):  # another audience does not accept it
        jwt.decode(authorization.removeprefix("Bearer "), certs=certs, audience="https://x")


def test_failed_push_is_retried_and_no_topic_means_no_push(
    client: httpx.Client,
    token: str,  # noqa: F811
    inbox: tuple[Inbox, str],
) -> None:
    box, url = inbox
    box.fail = 1
    client.post("/_sim/config", json={"push_url": url})
    vertex_submit(client, token, body(unique("silent [sim latency=0.1]")))
    name = vertex_submit(
        client, token, body(unique("retried [sim latency=0.1]"), pubsubTopic=TOPIC)
    ).json()["name"]
    pushes = box.wait_for(2)
    names = {json.loads(base64.b64decode(p["message"]["data"]))["name"] for p, _ in pushes}
    assert names == {name}  # only the operation that named a topic, delivered twice
    assert client.get(f"/_sim/operations/{name}").json()["pushes"] == 2


def test_a_malformed_topic_is_refused(client: httpx.Client, token: str) -> None:  # noqa: F811
    answer = vertex_submit(client, token, body(unique("bad topic"), pubsubTopic="veo-ops"))
    assert answer.status_code == 400
    assert "pubsubTopic" in answer.json()["error"]["message"]
