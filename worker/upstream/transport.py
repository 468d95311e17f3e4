"""How the adapters talk to the upstream: one pooled client per process (`ClientPool`), and
`request_json`, which returns a JSON object or raises the classified error of ours
(worker/upstream/classify.py). Downloads, which follow redirects hop by hop, are in
worker/upstream/download.py.

Nothing here sleeps or retries: the task layer reschedules. Keys and tokens travel in headers
only, never in URLs, and the caller names them as `secrets` so that no message carries them.
"""

import asyncio
import json
import ssl
import urllib.request
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx
from httpx_aiohttp import AiohttpTransport

from shared.errors import UpstreamPermanentError, UpstreamTransientError
from worker.upstream import aiohttp_patch
from worker.upstream.classify import Phase, classify_exception, classify_status

if TYPE_CHECKING:  # inline.py imports download.py, which imports this module
    from worker.upstream.inline import BlobSplitter

JSON_MAX_BYTES = 1024 * 1024  # operations and errors are small; Vertex inline video raises this
ERROR_BODY_MAX_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
# Sized for ~100 concurrent polls per process plus a few submits and downloads.
MAX_CONNECTIONS = 128
KEEPALIVE_S = 5.0  # httpx's own default keep-alive expiry

# Before any request: aiohttp's errors must reach classify_exception as httpx's (see the module).
aiohttp_patch.install()


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: httpx would load the CA bundle (about
    25 ms of CPU) once per client. Safe to share, and to inherit across a fork."""
    return httpx.create_ssl_context()


def warm_up() -> None:
    """Pay the first request's one-time cost now: the TLS context (aiohttp and its connector are
    imported with this module)."""
    tls_context()


class ClientPool:
    """Pooled connections per process, created on first use inside the running loop.

    Requests go through httpx's interface on aiohttp's connection pool (`httpx_aiohttp`): an
    upstream request cost 0.15 ms of CPU there against 0.3 to 0.6 ms on httpx's own transport
    (httpcore on anyio), and a job makes four (submit, poll, and a download that redirects).
    They go straight to the transport, not through an httpx client: the same request on the
    wire (the client's default headers, our timeouts) without the client's URL and header
    merging, cookie jar, and auth and redirect machinery. Only with a proxy set in the
    environment (HTTPS_PROXY, ...) do requests go through an httpx client and its own transport,
    which routes them as httpx always does. Nothing here follows redirects (download_to does,
    hop by hop).

    The pool is bound to the event loop that opened it, so a new loop (a test's `asyncio.run`,
    or a worker that lost its loop) gets a new pool instead of a broken one.
    """

    # What an httpx client would send unless told otherwise (lower case: headers are merged).
    DEFAULT_HEADERS = {
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
        "user-agent": f"python-httpx/{httpx.__version__}",
    }

    def __init__(
        self, *, timeout_s: float, connect_timeout_s: float, keepalive_s: float = KEEPALIVE_S
    ) -> None:
        self._timeouts = (timeout_s, connect_timeout_s)
        self._fresh_pool: ClientPool | None = None
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        # keepalive_s 0: a released connection is never handed out again (aiohttp reuses one
        # only while its idle time is within the expiry; httpcore expires it at once).
        self.limits = httpx.Limits(max_connections=MAX_CONNECTIONS, keepalive_expiry=keepalive_s)
        self._opened: httpx.AsyncBaseTransport | httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._extensions = {"timeout": self.timeout.as_dict()}
        self._via_client = bool(urllib.request.getproxies())  # what httpx's trust_env reads

    def _open(self) -> httpx.AsyncBaseTransport | httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._opened is None or self._loop is not loop:
            if self._via_client:
                self._opened = httpx.AsyncClient(
                    verify=tls_context(), limits=self.limits, follow_redirects=False
                )
            else:
                self._opened = AiohttpTransport(verify=tls_context(), limits=self.limits)
            self._loop = loop
        return self._opened

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        fresh: bool = False,
    ) -> httpx.Response:
        """Send one request; the answer's body is left to stream (close it).

        `fresh`: on a connection of its own, closed after the answer. A paid submit must never
        ride a pooled connection the server may have closed while it sat idle: that drop would
        leave the submit's outcome unknown (the request may or may not have arrived), and the
        job would fail for nothing. A few submits a minute can afford their own TLS handshake.
        """
        if fresh:
            if self._fresh_pool is None:
                timeout_s, connect_timeout_s = self._timeouts
                self._fresh_pool = ClientPool(
                    timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, keepalive_s=0
                )
            closing = {**(headers or {}), "connection": "close"}
            return await self._fresh_pool.send(method, url, headers=closing, json_body=json_body)
        opened = self._open()
        merged = dict(self.DEFAULT_HEADERS)
        for name, value in (headers or {}).items():
            merged[name.lower()] = value
        request = httpx.Request(
            method, url, headers=merged, json=json_body, extensions=self._extensions
        )
        if isinstance(opened, httpx.AsyncClient):
            return await opened.send(request, stream=True)
        return await opened.handle_async_request(request)

    async def aclose(self) -> None:
        if self._fresh_pool is not None:
            await self._fresh_pool.aclose()
        opened, self._opened = self._opened, None
        if opened is not None and self._loop is asyncio.get_running_loop():
            await opened.aclose()


async def _read_capped(response: httpx.Response, max_bytes: int, *, phase: Phase) -> bytes:
    """The body, refusing to hold more than `max_bytes` of it in memory."""
    buffer = bytearray()
    async for chunk in response.aiter_bytes(CHUNK_BYTES):
        buffer.extend(chunk)
        if len(buffer) > max_bytes:
            raise UpstreamPermanentError(
                f"upstream {phase} failed: response larger than {max_bytes} bytes",
                code="upstream_bad_response",
                status=response.status_code,
            )
    return bytes(buffer)


async def _read_split(
    response: httpx.Response, splitter: "BlobSplitter", max_bytes: int, *, phase: Phase
) -> bytes:
    """The body streamed through `splitter` (long strings to files), at most `max_bytes` in
    all and JSON_MAX_BYTES held in memory; returns the JSON that remains."""
    total = 0
    async for chunk in response.aiter_bytes(CHUNK_BYTES):
        total += len(chunk)
        splitter.feed(chunk)
        if total > max_bytes or splitter.kept_bytes > JSON_MAX_BYTES:
            raise UpstreamPermanentError(
                f"upstream {phase} failed: response larger than {max_bytes} bytes",
                code="upstream_bad_response",
                status=response.status_code,
            )
    return splitter.json_text()


def _declared_at_most(response: httpx.Response, limit: int) -> bool:
    """Whether the answer says (Content-Length, uncompressed) it is at most `limit` bytes."""
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "identity") != "identity"
    return declared.isdigit() and int(declared) <= limit and not encoded


async def read_capped_lenient(response: httpx.Response) -> bytes:
    """The start of an error body: enough to classify, never unbounded."""
    buffer = bytearray()
    async for chunk in response.aiter_bytes(CHUNK_BYTES):
        buffer.extend(chunk)
        if len(buffer) >= ERROR_BODY_MAX_BYTES:
            break
    return bytes(buffer[:ERROR_BODY_MAX_BYTES])


async def request_json(
    pool: ClientPool,
    method: str,
    url: str,
    *,
    phase: Phase,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    secrets: Sequence[str] = (),
    max_bytes: int = JSON_MAX_BYTES,
    splitter: "BlobSplitter | None" = None,
) -> dict[str, Any]:
    """Send one request and return its JSON object, or raise the classified error. With a
    `splitter`, its long strings come back as files (worker/upstream/inline.py), so an answer
    up to `max_bytes` never sits in memory."""
    try:
        response = await pool.send(
            method, url, headers=headers, json_body=json_body, fresh=phase == "submit"
        )
        try:
            if not response.is_success:
                body = await read_capped_lenient(response)
                raise classify_status(
                    response.status_code, response.headers, body, phase=phase, secrets=secrets
                )
            if splitter is not None and _declared_at_most(response, splitter.min_blob_bytes):
                splitter = None  # too short to hold a long string: parse it as it is
            if splitter is None:
                body = await _read_capped(response, max_bytes, phase=phase)
            else:
                body = await _read_split(response, splitter, max_bytes, phase=phase)
        finally:
            await response.aclose()
    except (httpx.RequestError, httpx.InvalidURL) as exc:
        raise classify_exception(exc, phase=phase, secrets=secrets) from exc
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data if splitter is None else splitter.resolve(data)
    message = f"upstream {phase} failed: HTTP {response.status_code} without a JSON object"
    if phase == "submit":
        # The upstream may have accepted (and billed) the request: never resubmit blindly.
        raise UpstreamPermanentError(
            message, code="upstream_bad_response", status=response.status_code
        )
    raise UpstreamTransientError(message, status=response.status_code)
