"""The one place httpx errors and upstream HTTP statuses become our errors (DESIGN rule 9).

Adapters call `request_json` and `download_to`. Both return only on success; otherwise they raise
UpstreamTransientError (try later), UpstreamPermanentError (fail the job) or UpstreamConfigError
(our setup is wrong). Nothing here sleeps or retries: the task layer reschedules with the one
backoff function, using `retry_after_s` when the upstream gave one.

Secrets: keys and tokens travel in headers only, never in URLs, and every message built here is
scrubbed of the secrets the caller names, because Google sometimes echoes request parts back.
"""

import asyncio
import json
import math
import os
import re
import ssl
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp import transport as httpx_aiohttp_transport

from shared.errors import (
    UpstreamConfigError,
    UpstreamError,
    UpstreamPermanentError,
    UpstreamTransientError,
)

# Which call failed decides what a 404 means: a missing model (config), a lost operation, or an
# expired file (the Gemini Files API deletes videos after 2 days).
Phase = Literal["submit", "poll", "download", "model_check"]

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})  # the google-genai SDK's retry set
MAX_REDIRECTS = 5
JSON_MAX_BYTES = 1024 * 1024  # operations and errors are small; Vertex inline video raises this
ERROR_BODY_MAX_BYTES = 64 * 1024
MESSAGE_MAX_CHARS = 500
CHUNK_BYTES = 64 * 1024
# Sized for ~100 concurrent polls per process plus a few submits and downloads.
MAX_CONNECTIONS = 128
KEEPALIVE_S = 5.0  # httpx's own default keep-alive expiry

# A 429 that will not clear within a retry window: the daily quota (RPD resets at midnight
# Pacific), a spend cap, or an empty prepaid balance. Matched in lower case.
_QUOTA_EXHAUSTED_PHRASES = ("per day", "spend cap", "spending cap", "spending limit", "prepay")
_INVALID_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")

HeadersFor = Callable[[httpx.URL], Mapping[str, str]]


@dataclass(frozen=True)
class GoogleError:
    """Google's error body `{"error": {"code", "message", "status", "details"}}`, leniently."""

    http_status: int
    message: str = ""
    status: str = ""  # e.g. RESOURCE_EXHAUSTED, INVALID_ARGUMENT
    details: tuple[Mapping[str, Any], ...] = ()

    def details_of(self, type_name: str) -> list[Mapping[str, Any]]:
        """Details whose `@type` ends with `type_name` (e.g. "QuotaFailure")."""
        return [d for d in self.details if str(d.get("@type", "")).endswith(type_name)]


def parse_google_error(http_status: int, body: bytes) -> GoogleError:
    """Whatever the body holds (JSON error, a list of them, HTML from a proxy, nothing)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        return GoogleError(http_status, message=" ".join(text.split())[:200])
    if isinstance(data, list) and data:  # some Google front ends wrap the error in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return GoogleError(http_status)
    details = error.get("details")
    return GoogleError(
        http_status,
        message=str(error.get("message") or ""),
        status=str(error.get("status") or ""),
        details=tuple(d for d in details if isinstance(d, dict))
        if isinstance(details, list)
        else (),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _retry_info_s(error: GoogleError) -> float | None:
    """google.rpc.RetryInfo `retryDelay` ("37s"): Gemini's 429s carry it when no header does."""
    for detail in error.details_of("RetryInfo"):
        match = _DURATION.match(str(detail.get("retryDelay", "")))
        if match:
            return float(match.group(1))
    return None


def is_quota_exhausted(error: GoogleError) -> bool:
    """A daily quota, spend cap or prepay 429: retrying within minutes cannot succeed."""
    message = error.message.lower()
    if any(phrase in message for phrase in _QUOTA_EXHAUSTED_PHRASES):
        return True
    for failure in error.details_of("QuotaFailure"):
        violations = failure.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            if not isinstance(violation, dict):
                continue
            ids = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
            if "perday" in ids.lower().replace("_", "").replace("-", ""):
                return True
    return False


def _is_invalid_key(error: GoogleError) -> bool:
    """An invalid API key comes back as 400 (reason API_KEY_INVALID), not 401/403."""
    reasons = {str(d.get("reason", "")) for d in error.details_of("ErrorInfo")}
    return bool(reasons & _INVALID_KEY_REASONS) or "api key not valid" in error.message.lower()


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Remove secrets from a message and bound its length (messages end up in logs and rows)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:MESSAGE_MAX_CHARS]


def classify_status(
    http_status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    phase: Phase,
    secrets: Sequence[str] = (),
) -> UpstreamError:
    """The error of ours for an upstream response that is not a success."""
    error = parse_google_error(http_status, body)
    label = " ".join(part for part in (str(http_status), error.status) if part)
    message = scrub(
        f"upstream {phase} failed: HTTP {label}: {error.message or 'no message'}", secrets
    )
    if http_status in TRANSIENT_STATUSES:
        return _retryable(error, headers, message)
    if http_status in (400, 401, 403, 404):
        return _client_error(error, message, phase)
    return UpstreamPermanentError(message, code="upstream_error", status=http_status)


def _retryable(error: GoogleError, headers: Mapping[str, str], message: str) -> UpstreamError:
    """408/429/5xx: try later, unless the 429 is a quota that lasts until tomorrow."""
    if error.http_status == 429 and is_quota_exhausted(error):
        return UpstreamPermanentError(message, code="upstream_quota_exhausted", status=429)
    retry_after_s = parse_retry_after(headers.get("retry-after"))
    if retry_after_s is None:
        retry_after_s = _retry_info_s(error)
    return UpstreamTransientError(message, status=error.http_status, retry_after_s=retry_after_s)


def _client_error(error: GoogleError, message: str, phase: Phase) -> UpstreamError:
    """400/401/403/404: never retried; whose fault it is depends on the status and the phase."""
    status = error.http_status
    if status == 400 and not (_is_invalid_key(error) or error.status == "FAILED_PRECONDITION"):
        return UpstreamPermanentError(message, code="upstream_rejected", status=status)
    if status == 404 and phase == "poll":
        return UpstreamPermanentError(message, code="upstream_operation_lost", status=status)
    if status == 404 and phase == "download":  # the Files API deletes videos after 2 days
        return UpstreamPermanentError(message, code="upstream_video_lost", status=status)
    # Bad or unauthorised key/token, billing or region (FAILED_PRECONDITION), unknown or
    # retired model ("models/X is no longer available"): our setup, not this job.
    return UpstreamConfigError(message, status=status)


def classify_exception(
    exc: httpx.RequestError | httpx.InvalidURL, *, phase: Phase, secrets: Sequence[str] = ()
) -> UpstreamError:
    """Timeouts and broken connections are transient; a URL we cannot even send is not."""
    message = scrub(f"upstream {phase} failed: {type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        if phase == "download":  # the URL came from the upstream, not from our settings
            return UpstreamPermanentError(message, code="upstream_bad_url")
        return UpstreamConfigError(message)
    if isinstance(exc, httpx.TooManyRedirects):
        return UpstreamPermanentError(message, code="upstream_error")
    return UpstreamTransientError(message)  # TimeoutException, TransportError, DecodingError


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


async def _read_capped_lenient(response: httpx.Response) -> bytes:
    """The start of an error body: enough to classify, never unbounded."""
    buffer = bytearray()
    async for chunk in response.aiter_bytes(CHUNK_BYTES):
        buffer.extend(chunk)
        if len(buffer) >= ERROR_BODY_MAX_BYTES:
            break
    return bytes(buffer[:ERROR_BODY_MAX_BYTES])


async def request_json(
    pool: "ClientPool",
    method: str,
    url: str,
    *,
    phase: Phase,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    secrets: Sequence[str] = (),
    max_bytes: int = JSON_MAX_BYTES,
) -> dict[str, Any]:
    """Send one request and return its JSON object, or raise the classified error."""
    try:
        response = await pool.send(method, url, headers=headers, json_body=json_body)
        try:
            if not response.is_success:
                body = await _read_capped_lenient(response)
                raise classify_status(
                    response.status_code, response.headers, body, phase=phase, secrets=secrets
                )
            body = await _read_capped(response, max_bytes, phase=phase)
        finally:
            await response.aclose()
    except (httpx.RequestError, httpx.InvalidURL) as exc:
        raise classify_exception(exc, phase=phase, secrets=secrets) from exc
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    message = f"upstream {phase} failed: HTTP {response.status_code} without a JSON object"
    if phase == "submit":
        # The upstream may have accepted (and billed) the request: never resubmit blindly.
        raise UpstreamPermanentError(
            message, code="upstream_bad_response", status=response.status_code
        )
    raise UpstreamTransientError(message, status=response.status_code)


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    """Scheme, host and port all equal: the only place a credential may be sent."""
    return (
        url.scheme == base.scheme
        and url.host == base.host
        and _port_or_default(url) == _port_or_default(base)
    )


def _port_or_default(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def too_large(max_bytes: int, *, status: int | None = None) -> UpstreamPermanentError:
    return UpstreamPermanentError(
        f"video is larger than the {max_bytes}-byte limit", code="video_too_large", status=status
    )


async def download_to(
    pool: "ClientPool",
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    headers_for: HeadersFor,
    secrets: Sequence[str] = (),
    max_redirects: int = MAX_REDIRECTS,
) -> int:
    """Stream `url` into `dest` (via a `.part` file, so `dest` is whole or absent); returns size.

    Redirects are followed here, hop by hop, instead of by httpx: on a cross-origin redirect
    httpx strips only `Authorization` and would forward `x-goog-api-key` to any host. Each hop
    asks `headers_for(url)` which credentials that exact URL may receive.
    """
    part = dest.with_name(f"{dest.name}.part")
    try:
        size = await _download(
            pool,
            url,
            part,
            max_bytes=max_bytes,
            headers_for=headers_for,
            max_redirects=max_redirects,
            secrets=secrets,
        )
        os.replace(part, dest)
    except (httpx.RequestError, httpx.InvalidURL) as exc:
        part.unlink(missing_ok=True)
        raise classify_exception(exc, phase="download", secrets=secrets) from exc
    except BaseException:  # our own errors, cancellation: never leave half a file behind
        part.unlink(missing_ok=True)
        raise
    return size


async def _download(
    pool: "ClientPool",
    url: str,
    part: Path,
    *,
    max_bytes: int,
    headers_for: HeadersFor,
    max_redirects: int,
    secrets: Sequence[str],
) -> int:
    current = httpx.URL(url)
    for _ in range(max_redirects + 1):
        # identity: an MP4 does not compress, and asking for none keeps Content-Length honest.
        headers = {**headers_for(current), "Accept-Encoding": "identity"}
        response = await pool.send("GET", current, headers=headers)
        try:
            target = redirect_target(current, response)
            if target is not None:
                current = target
                # Drain its (small) body: closing it unread would also close the connection,
                # and every download would pay for a new one (Gemini redirects each download).
                await _read_capped_lenient(response)
                continue
            if not response.is_success:
                body = await _read_capped_lenient(response)
                raise classify_status(
                    response.status_code, response.headers, body, phase="download", secrets=secrets
                )
            return await _stream_to_file(response, part, max_bytes)
        finally:
            await response.aclose()
    raise UpstreamPermanentError(
        f"upstream download failed: more than {max_redirects} redirects", code="upstream_error"
    )


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_target(url: httpx.URL, response: httpx.Response) -> httpx.URL | None:
    """Where a redirect answer to a request for `url` points (its Location resolved as httpx's
    client does), or None if it is no redirect."""
    location = response.headers.get("location")
    if response.status_code not in REDIRECT_STATUSES or location is None:
        return None
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None
    if target.scheme and not target.host:  # absolute form without a host
        target = target.copy_with(host=url.host)
    if target.is_relative_url:
        target = url.join(target)
    if url.fragment and not target.fragment:
        target = target.copy_with(fragment=url.fragment)
    return target


async def _stream_to_file(response: httpx.Response, part: Path, max_bytes: int) -> int:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes, status=response.status_code)
    size = 0
    with part.open("wb") as fh:
        async for chunk in response.aiter_bytes(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes, status=response.status_code)
            fh.write(chunk)  # page-cache writes of 64 KiB: far cheaper than a thread hop each
    return size


def write_capped(data: bytes, dest: Path, *, max_bytes: int) -> int:
    """Inline video bytes to `dest` under the same cap and atomicity as a download."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    part = dest.with_name(f"{dest.name}.part")
    try:
        part.write_bytes(data)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return len(data)


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: httpx would load the CA bundle (about
    25 ms of CPU) once per client. Safe to share, and to inherit across a fork."""
    return httpx.create_ssl_context()


def warm_up() -> None:
    """Pay the first request's one-time cost now: the TLS context (aiohttp and its connector are
    imported with this module)."""
    tls_context()


def _map_aiohttp_errors() -> None:
    """aiohttp's errors as the httpx errors they are, so that every transport failure reaches
    `classify_exception` as an httpx.RequestError named for what happened. httpx-aiohttp 0.2
    maps every broken connection (refused, dropped) to ConnectTimeout and leaves a malformed
    answer, other aiohttp errors and a bare timeout unmapped. Its mapper picks, of the entries
    an error matches, the most specific httpx error, so the broad entries added here never hide
    a narrower one."""
    mapping = httpx_aiohttp_transport.AIOHTTP_EXC_MAP
    mapping[aiohttp.ClientConnectionError] = httpx.TransportError  # was ConnectTimeout
    added: dict[type[Exception], type[httpx.TransportError]] = {
        aiohttp.ServerDisconnectedError: httpx.RemoteProtocolError,
        aiohttp.ConnectionTimeoutError: httpx.ConnectTimeout,
        aiohttp.ClientOSError: httpx.ReadError,
        aiohttp.ClientResponseError: httpx.RemoteProtocolError,
        aiohttp.ClientError: httpx.TransportError,
        TimeoutError: httpx.TimeoutException,
    }
    for source, target in added.items():
        mapping.setdefault(source, target)


_map_aiohttp_errors()


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

    def __init__(self, *, timeout_s: float, connect_timeout_s: float) -> None:
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self.limits = httpx.Limits(max_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_S)
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
    ) -> httpx.Response:
        """Send one request; the answer's body is left to stream (close it)."""
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
        opened, self._opened = self._opened, None
        if opened is not None and self._loop is asyncio.get_running_loop():
            await opened.aclose()
