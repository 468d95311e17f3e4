"""Vertex AI's credentials: a service account file or application default credentials, loaded
and refreshed off the event loop, once for all callers, and applied to requests by google-auth
itself (`apply()`), so that whatever headers the credentials carry (a user's quota project)
travel with each call.
"""

import asyncio
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account

from shared.errors import UpstreamConfigError, UpstreamTransientError
from worker.upstream.classify import MESSAGE_MAX_CHARS

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class _TimeoutRequest(google.auth.transport.requests.Request):
    """google-auth's transport, with our timeout instead of its 120 s default."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout_s
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]  # google-auth


class TokenSource:
    """An OAuth access token, loaded and refreshed off the event loop, once for all callers."""

    def __init__(self, *, credentials_file: str, token_url: str, timeout_s: float) -> None:
        self.credentials_file = credentials_file
        self.token_url = token_url
        self.project_id: str | None = None
        self._request = _TimeoutRequest(timeout_s)
        self._credentials: Any = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def token(self) -> str:
        await self._ensure_valid()
        return str(self._credentials.token)

    async def headers(self) -> dict[str, str]:
        """The request headers the credentials ask for, through google-auth's own `apply()`:
        the bearer token, and for a user's application default credentials the quota
        project's `x-goog-user-project` (without it, Vertex bills and limits the wrong project)."""
        headers: dict[str, str] = {}
        await self._ensure_valid()
        self._credentials.apply(headers)
        return headers

    def describe(self) -> str:
        """Who the loaded credentials are, without secrets (for operators)."""
        who = getattr(self._credentials, "service_account_email", None)
        words = f"service account {who}" if who else type(self._credentials).__name__
        quota = getattr(self._credentials, "quota_project_id", None)
        return f"{words}, quota project {quota}" if quota else words

    async def _ensure_valid(self) -> None:
        if self._credentials is None or not self._credentials.valid:
            async with self._loop_lock():  # a hundred concurrent polls refresh once, not 100 times
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(self._load)
                if not self._credentials.valid:
                    await asyncio.to_thread(self._refresh)

    def _loop_lock(self) -> asyncio.Lock:
        """asyncio.Lock binds to one loop; a new loop (a new test) gets a new lock."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _load(self) -> Any:
        try:
            if self.credentials_file:
                credentials = service_account.Credentials.from_service_account_file(
                    self.credentials_file, scopes=SCOPES
                )
                project_id = credentials.project_id
            else:
                credentials, project_id = google.auth.default(scopes=SCOPES)
        except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
            message = f"cannot load Vertex credentials: {type(exc).__name__}: {exc}"
            raise UpstreamConfigError(message[:MESSAGE_MAX_CHARS]) from exc
        if self.token_url and hasattr(credentials, "with_token_uri"):
            credentials = credentials.with_token_uri(self.token_url)
        self.project_id = project_id
        return credentials

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._request)
        except google.auth.exceptions.TransportError as exc:
            raise UpstreamTransientError(f"token refresh failed: {type(exc).__name__}") from exc
        except google.auth.exceptions.RefreshError as exc:
            message = f"token refresh failed: {exc}"[:MESSAGE_MAX_CHARS]
            if getattr(exc, "retryable", False):  # the token endpoint itself had a bad moment
                raise UpstreamTransientError(message) from exc
            raise UpstreamConfigError(message) from exc  # revoked key, wrong token URI, ...
