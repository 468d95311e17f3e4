"""One exception tree, one class per error code of the API, so callers catch what they can act on.

VeoError ........................ everything this package raises
├── InvalidRequest (1000) ....... bad input; `msg` names the field
│   └── NotFound ................ unknown uuid (or one of another account), unknown endpoint
├── InsufficientCredits (1001) .. `required` and `current` credits
├── AuthenticationError (1002) .. missing, wrong or revoked API key
├── RateLimited (1003) .......... `retry_after` seconds
├── ServerError (5000) .......... the gateway failed (or a proxy in front of it)
├── ConnectionFailed ............ no answer at all (refused, reset, timed out)
├── WaitTimeout ................. `wait()` gave up; the job keeps running (`last` = last seen)
└── WebhookVerificationError .... a webhook's signature or timestamp does not verify
"""

from typing import Any


class VeoError(Exception):
    """`code` is the API's error code (None when there was no API answer)."""

    code: int | None = None

    def __init__(
        self,
        msg: str,
        *,
        code: int | None = None,
        data: Any = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        if code is not None:
            self.code = code
        self.data = data
        self.status_code = status_code
        self.headers = headers or {}


class InvalidRequest(VeoError):
    code = 1000


class NotFound(InvalidRequest):
    pass


class InsufficientCredits(VeoError):
    code = 1001

    @property
    def required(self) -> int | None:
        return _int_field(self.data, "required")

    @property
    def current(self) -> int | None:
        return _int_field(self.data, "current")


class AuthenticationError(VeoError):
    code = 1002


class RateLimited(VeoError):
    code = 1003

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait, from the `Retry-After` header (the API sends it on every 1003)."""
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(VeoError):
    code = 5000


class ConnectionFailed(VeoError):
    pass


class WaitTimeout(VeoError):
    def __init__(self, msg: str, last: Any = None) -> None:
        super().__init__(msg)
        self.last = last


class WebhookVerificationError(VeoError):
    pass


BY_CODE: dict[int, type[VeoError]] = {
    1000: InvalidRequest,
    1001: InsufficientCredits,
    1002: AuthenticationError,
    1003: RateLimited,
    5000: ServerError,
}


def error_for(
    code: int | None, msg: str, data: Any, status_code: int, headers: dict[str, str]
) -> VeoError:
    """The exception for an API answer; an answer without an envelope (a proxy's 502 page)
    is classified by its HTTP status."""
    if code is None:
        code = {401: 1002, 403: 1002, 429: 1003}.get(
            status_code, 5000 if status_code >= 500 else 1000
        )
    cls = BY_CODE.get(code, VeoError)
    if cls is InvalidRequest and status_code == 404:
        cls = NotFound
    return cls(msg, code=code, data=data, status_code=status_code, headers=headers)


def parse_retry_after(value: str | None) -> float | None:
    """Only the seconds form: the API never sends an HTTP date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0)


def _int_field(data: Any, name: str) -> int | None:
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, int) else None
