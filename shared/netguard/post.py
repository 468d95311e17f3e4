"""Webhook POSTs to checked, pinned addresses, for synchronous callers (the delivery task)."""

import asyncio
import contextlib
import ssl
from collections.abc import Mapping, Sequence

import anyio
import httpx

from shared.netguard.addresses import CheckedUrl, IPNetwork, check_url
from shared.netguard.pinned import pinned_client, send_pinned

POST_RESPONSE_MAX_BYTES = 64 * 1024  # a webhook receiver's answer: only its status matters


async def _post(
    client: httpx.AsyncClient, checked: CheckedUrl, content: bytes, headers: Mapping[str, str]
) -> httpx.Response:
    response = await send_pinned(client, checked, method="POST", content=content, headers=headers)
    try:
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > POST_RESPONSE_MAX_BYTES:
                break  # the rest is never read: the status code is the answer
    finally:
        await response.aclose()
    return response


class PinnedPoster:
    """POSTs to checked, pinned addresses (webhook deliveries), synchronously: see `post`.

    One event loop for the poster's life and one client per URL, so the deliveries of a group
    to one endpoint share a connection: a fresh loop, client and TCP connection per delivery
    were most of a delivery's CPU. A URL is checked once per poster (a delivery task's few
    seconds); a client that failed is dropped, so an error never leaves a connection half used.
    """

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        allow: Sequence[IPNetwork] | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.timeout_s = timeout_s
        self.allow = allow
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._verify = verify
        self._runner: asyncio.Runner | None = None
        self._clients: dict[str, tuple[CheckedUrl, httpx.AsyncClient]] = {}

    def __enter__(self) -> "PinnedPoster":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST once; redirects are not followed (a 3xx is the receiver's answer).

        Only a refusal by the guard raises UnsafeUrl (retrying cannot help); network failures
        raise httpx errors or TimeoutError (worth a retry). `timeout_s` bounds the whole
        exchange, so a slow drip cannot hold the worker. The response's body is read up to
        64 KiB and then dropped.
        """
        if url not in self._clients:
            checked = check_url(url, allow=self.allow)
            self._clients[url] = (checked, pinned_client(self._timeout, self._verify))
        checked, client = self._clients[url]

        async def call() -> httpx.Response:
            with anyio.fail_after(self.timeout_s):
                return await _post(client, checked, content, headers)

        if self._runner is None:
            self._runner = asyncio.Runner()
        try:
            return self._runner.run(call())
        except BaseException as exc:
            del self._clients[url]
            with contextlib.suppress(Exception):  # the original error is the one worth raising
                self._runner.run(client.aclose())
            if isinstance(exc, TimeoutError):
                raise TimeoutError(f"no complete answer within {self.timeout_s:g} s") from exc
            raise

    def close(self) -> None:
        """Close the clients, then the loop (which cancels anything an error left running)."""
        clients, self._clients = list(self._clients.values()), {}
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            for _, client in clients:
                runner.run(client.aclose())
        finally:
            runner.close()
