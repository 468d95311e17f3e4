"""Videos to files: `download_to` streams a URL, following redirects hop by hop so that no
credential reaches another origin, and `write_capped` writes the bytes an operation carried
inline. Both hold the same size cap, and both write through a `.part` file, so the destination
is whole or absent.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from shared.errors import UpstreamPermanentError
from worker.upstream.classify import classify_exception, classify_status
from worker.upstream.transport import CHUNK_BYTES, ClientPool, read_capped_lenient

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

HeadersFor = Callable[[httpx.URL], Mapping[str, str]]


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
    """A video past the size cap, whether its Content-Length said so or its bytes did."""
    return UpstreamPermanentError(
        f"video is larger than the {max_bytes}-byte limit", code="video_too_large", status=status
    )


async def download_to(
    pool: ClientPool,
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
    pool: ClientPool,
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
                await read_capped_lenient(response)
                continue
            if not response.is_success:
                body = await read_capped_lenient(response)
                raise classify_status(
                    response.status_code, response.headers, body, phase="download", secrets=secrets
                )
            return await _stream_to_file(response, part, max_bytes)
        finally:
            await response.aclose()
    raise UpstreamPermanentError(
        f"upstream download failed: more than {max_redirects} redirects", code="upstream_error"
    )


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
