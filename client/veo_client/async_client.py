"""`AsyncVeoClient`: the API from asyncio code; the same methods as VeoClient, awaited.

The source of both clients: client.py is generated from this file by `veo-dev sync-client`
(unasync), so the two never drift apart. Edit this one, then run that."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, Unpack

import httpx

from veo_client import _core
from veo_client._async_io import OnUpdate, notify, sleep
from veo_client._core import Call, GenerateOptions, ImageInput, RetryPolicy
from veo_client._pages import AsyncPager
from veo_client._sse import SSEDecoder, feed
from veo_client._wait import Deadline, events_unusable
from veo_client.errors import InvalidRequest, VeoError
from veo_client.models import Account, Deleted, LedgerEntry, Page, Upload, Video
from veo_client.webhooks import verify_webhook

Progress = Callable[[int, int | None], None]


class AsyncVeoClient:
    """One connection pool to one gateway. Reads VEO_API_KEY and VEO_BASE_URL when the
    arguments are left out. Use it as a context manager, or call close()."""

    verify_webhook = staticmethod(verify_webhook)

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_key, self.base_url = _core.settings(api_key, base_url)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _core.USER_AGENT},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- the API -------------------------------------------------------------------------------

    async def generate(
        self,
        prompt: str,
        *,
        image: ImageInput | None = None,
        last_frame: ImageInput | None = None,
        idempotency_key: str | None = None,
        wait: int | None = None,
        **options: Unpack[GenerateOptions],
    ) -> Video:
        """Submit a job. `image`/`last_frame`: a URL, or a local path or bytes (uploaded first).
        An Idempotency-Key is made up when none is given, so a lost answer is retried safely.
        `wait`: seconds the gateway may hold the answer until the job is done (`Prefer: wait`)."""
        for name, value in (("image", image), ("last_frame", last_frame)):
            if value is not None:
                key = None if _core.is_url(value) else (await self.upload(value)).image_key
                _core.place_image(options, name, value, key)
        body = _core.generate_body(prompt, options)
        key = idempotency_key or _core.new_idempotency_key()
        return Video.model_validate(
            await self._data(_core.generate_call(body, key, wait, self.timeout))
        )

    async def upload(self, image: str | Path | bytes) -> Upload:
        """Upload a JPEG, PNG or WebP image (a path or its bytes) for image_to_video."""
        file = _core.image_file(image)
        call = Call("POST", "/api/upload-video-image", files={"file": file}, retry_safe=False)
        return Upload.model_validate(await self._data(call))

    async def status(self, uuid: str, *, wait: int | None = None) -> Video:
        return Video.model_validate(await self._data(_core.status_call(uuid, wait, self.timeout)))

    def list(
        self,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> AsyncPager[Video]:
        """The account's jobs, newest first; iterate it for every job, `.pages()` for pages."""

        async def fetch(page_cursor: str | None) -> Page[Video]:
            params = _core.list_params(limit, page_cursor, status, created_after, created_before)
            return Page[Video].model_validate(
                await self._data(Call("GET", "/api/videos", params=params))
            )

        return AsyncPager(fetch, cursor)

    async def cancel(self, uuid: str) -> Video:
        call = Call("POST", f"/api/videos/{uuid}/cancel", retry_safe=False)
        return Video.model_validate(await self._data(call))

    async def delete(self, uuid: str) -> Deleted:
        return Deleted.model_validate(await self._data(Call("DELETE", f"/api/videos/{uuid}")))

    async def account(self) -> Account:
        return Account.model_validate(await self._data(Call("GET", "/api/account")))

    def ledger(self, *, limit: int = 20, cursor: str | None = None) -> AsyncPager[LedgerEntry]:
        async def fetch(page_cursor: str | None) -> Page[LedgerEntry]:
            params = _core.list_params(limit, page_cursor, None, None, None)
            call = Call("GET", "/api/account/ledger", params=params)
            return Page[LedgerEntry].model_validate(await self._data(call))

        return AsyncPager(fetch, cursor)

    async def wait(
        self,
        uuid: str,
        timeout: float | None = None,
        *,
        on_update: OnUpdate | None = None,
        poll_interval: float = 5.0,
    ) -> Video:
        """The job once it is completed, failed or cancelled. Follows its event stream; where
        that is unavailable, polls every `poll_interval` s (held by `Prefer: wait` where the
        gateway supports it). Raises WaitTimeout after `timeout` s; the job keeps running."""
        deadline = Deadline(timeout)
        video = await self._wait_events(uuid, deadline, on_update)
        if video is not None and video.is_terminal:
            return video
        return await self._wait_polling(uuid, deadline, on_update, poll_interval, video)

    async def download(
        self,
        uuid_or_url: str,
        path: str | Path | None = None,
        *,
        progress: Progress | None = None,
        sample: int = 0,
    ) -> Path:
        """Save a completed job's video (or any file URL of the API) to `path` (a file or a
        directory; default: the URL's file name here). `progress(bytes_done, bytes_total)`."""
        url = await self._video_url(uuid_or_url, sample)
        target = _core.download_target(path, url)
        headers = _core.auth_headers(self.api_key) if _core.same_origin(self.base_url, url) else {}
        partial = target.with_name(target.name + ".part")
        async with self._http.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                _core.parse(response)
                raise VeoError(f"HTTP {response.status_code} for {url}")
            total = (
                int(response.headers["content-length"])
                if "content-length" in response.headers
                else None
            )
            done = 0
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        partial.replace(target)
        return target

    # -- plumbing ------------------------------------------------------------------------------

    async def _data(self, call: Call) -> Any:
        data, _ = await self._send(call)
        return data

    async def _send(self, call: Call) -> tuple[Any, httpx.Headers]:
        """The answer's data and headers, after the retries the policy allows."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    files=call.files,
                    headers={**_core.auth_headers(self.api_key), **call.headers},
                    timeout=call.timeout or self.timeout,
                )
                return _core.parse(response), response.headers
            except (VeoError, httpx.TransportError) as error:
                delay = self.retry.delay(call, error, attempt)
                if delay is None:
                    if isinstance(error, httpx.TransportError):
                        raise _core.connection_failed(error, self.base_url) from error
                    raise
            await sleep(delay)
            attempt += 1

    async def _video_url(self, uuid_or_url: str, sample: int) -> str:
        if "/" in uuid_or_url:
            return _core.absolute_url(self.base_url, uuid_or_url)
        video = await self.status(uuid_or_url)
        if video.status != "completed" or len(video.urls) <= sample:
            raise InvalidRequest(f"video {uuid_or_url} is {video.status}: nothing to download")
        return _core.absolute_url(self.base_url, video.urls[sample])

    async def _wait_events(
        self, uuid: str, deadline: Deadline, on_update: OnUpdate | None
    ) -> Video | None:
        """The last status the event stream told, or None where there is no stream to follow.
        A dropped stream is resumed with Last-Event-ID; one that keeps dropping is given up."""
        decoder, video, drops = SSEDecoder(), None, 0
        while drops <= self.retry.max_retries:
            headers = {**_core.auth_headers(self.api_key), "Accept": "text/event-stream"}
            if decoder.last_event_id is not None:
                headers["Last-Event-ID"] = decoder.last_event_id
            timeout = deadline.read_timeout(self.timeout)
            path = f"/api/videos/{uuid}/events"
            try:
                async with self._http.stream(
                    "GET", path, headers=headers, timeout=timeout
                ) as response:
                    if events_unusable(response):
                        return video
                    async for line in response.aiter_lines():
                        seen = feed(decoder, line)
                        if seen is not None:
                            video, drops = seen, 0
                            if on_update is not None:
                                await notify(on_update, seen)
                            if seen.is_terminal:
                                return seen
                        deadline.check(video)
            except httpx.TransportError:
                await sleep(deadline.sleep_for(self.retry.backoff_delay(drops)))
            deadline.check(video)
            drops += 1
        return video

    async def _wait_polling(
        self,
        uuid: str,
        deadline: Deadline,
        on_update: OnUpdate | None,
        poll_interval: float,
        video: Video | None,
    ) -> Video:
        while True:
            deadline.check(video)
            hold = deadline.prefer_wait(poll_interval)
            data, headers = await self._send(_core.status_call(uuid, hold, self.timeout))
            video = Video.model_validate(data)
            if on_update is not None:
                await notify(on_update, video)
            if video.is_terminal:
                return video
            if "preference-applied" not in headers:
                await sleep(deadline.sleep_for(poll_interval))
