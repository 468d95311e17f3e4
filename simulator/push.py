"""Pub/Sub push, as a push subscription on a Vertex `pubsubTopic` would deliver it.

When a submit names `parameters.pubsubTopic` and the simulator has a push endpoint
(`push_url`), the operation's end is announced at its done time: a POST of Pub/Sub's push
envelope ``{"message": {"data": base64(json {"name", "done": true}), "attributes",
"messageId", "publishTime"}, "subscription"}`` carrying ``Authorization: Bearer <OIDC token>``
signed with the simulator's own RSA key (issuer https://accounts.google.com, audience
`push_audience` or the push URL, email PUSH_SERVICE_ACCOUNT). The key's certificate is served
at /_sim/oauth2/v1/certs in the shape of https://www.googleapis.com/oauth2/v1/certs. A push
answered with anything but 2xx (or not answered) is retried with backoff, as Pub/Sub does.
"""

import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from functools import cached_property
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from simulator.config import SimConfig
from simulator.operations import Operation
from simulator.stats import Stats

log = logging.getLogger(__name__)
PUSH_SERVICE_ACCOUNT = "veo-push@simulator-project.iam.gserviceaccount.com"
ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME_S = 3600
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0)  # then the message is dropped
TIMEOUT_S = 10.0


class Signer:
    """An RSA key and a self-signed certificate for it, made once per simulator process."""

    @cached_property
    def _material(self) -> tuple[crypt.RSASigner, str, str]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veo-simulator-push")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        kid = hashlib.sha1(pem.encode(), usedforsecurity=False).hexdigest()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return crypt.RSASigner.from_string(private, key_id=kid), kid, pem

    def certs(self) -> dict[str, str]:
        """`{kid: PEM certificate}`, Google's format."""
        _, kid, pem = self._material
        return {kid: pem}

    def token(self, audience: str, **claims: Any) -> str:
        """A Google-shaped OIDC token for `audience`; `claims` replace the usual ones (tests
        forge wrong issuers, accounts and expiries with it)."""
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": audience,
            "azp": "simulator-push",
            "sub": "simulator-push",
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
            "email": PUSH_SERVICE_ACCOUNT,
            "email_verified": True,
            **claims,
        }
        encoded: bytes = jwt.encode(self._material[0], payload)
        return encoded.decode()


def envelope(op: Operation, topic: str) -> dict[str, Any]:
    """The body Pub/Sub POSTs for one published message."""
    project = topic.split("/")[1] if topic.count("/") >= 3 else "simulator-project"
    data = json.dumps({"name": op.name, "done": True}).encode()
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": {"eventType": "OPERATION_DONE", "model": op.model},
            "messageId": str(uuid.uuid4().int)[:16],
            "publishTime": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        },
        "subscription": f"projects/{project}/subscriptions/veo-push",
    }


class Pusher:
    """Delivers each pushing operation's notice at its done time, one asyncio task each."""

    def __init__(self, config: SimConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self.signer = Signer()
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def schedule(self, op: Operation) -> None:
        """Announce `op` when it is done, if it names a topic and a push endpoint is set."""
        if not op.pubsub_topic or not self.config.push_url or op.directives.vanish:
            return
        done_at = op.done_at
        if done_at is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(op, done_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _deliver(self, op: Operation, done_at: float) -> None:
        await asyncio.sleep(max(0.0, done_at - time.time()))
        url = self.config.push_url
        audience = self.config.push_audience or url
        body = envelope(op, op.pubsub_topic or "")
        for delay in (*RETRY_DELAYS_S, None):
            op.pushes += 1
            if await self._post(url, audience, body):
                op.pushed_at = op.pushed_at or time.time()
                self.stats.call("push.delivered")
                return
            self.stats.call("push.failed")
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def _post(self, url: str, audience: str, body: dict[str, Any]) -> bool:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT_S)
        headers = {"Authorization": f"Bearer {self.signer.token(audience)}"}
        try:
            response = await self._client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("push to %s failed: %s", url, type(exc).__name__)
            return False
        return response.is_success
