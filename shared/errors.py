"""One exception tree carrying the seed's error codes; api_gateway renders it as the envelope."""

from typing import Any


class ApiError(Exception):
    """An error the API reports to its caller in the `{code, msg, data}` envelope."""

    code: int = 5000
    http_status: int = 500
    msg: str = "Server error"

    def __init__(
        self, msg: str | None = None, data: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(msg or self.msg)
        self.msg = msg or self.msg
        self.data = data
        self.headers = headers or {}


class InvalidParameters(ApiError):
    code, http_status, msg = 1000, 400, "Invalid parameters"


class NotFound(InvalidParameters):
    """Unknown ids answer 1000 with HTTP 404; another account's ids answer exactly the same."""

    http_status, msg = 404, "Not found"


class InsufficientCredits(ApiError):
    code, http_status, msg = 1001, 402, "Insufficient credits"

    def __init__(self, required: int, current: int) -> None:
        super().__init__(data={"required": required, "current": current})


class AuthenticationFailed(ApiError):
    code, http_status, msg = 1002, 401, "Authentication failed"


class RateLimitExceeded(ApiError):
    code, http_status, msg = 1003, 429, "Rate limit exceeded"


class ServerError(ApiError):
    code, http_status, msg = 5000, 500, "Server error"


class ServiceUnavailable(ServerError):
    http_status = 503


def invalid(field: str, reason: str) -> InvalidParameters:
    """The 1000 error for one field: says which field and why, in `msg` and in `data`."""
    return InvalidParameters(
        f"Invalid parameter '{field}': {reason}", {"field": field, "reason": reason}
    )


# Outbound URLs (shared/netguard)


class NetguardError(Exception):
    """A user-supplied outbound URL could not be used; `reason` says why, fit to show the user.

    It names no field: each caller knows which field the URL came from and maps the error to
    what it reports (the gateway answers `invalid(field, reason)`, a worker records a failure).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsafeUrl(NetguardError):
    """The guard refused the URL (bad scheme, credentials, no host, unresolvable, not public).

    Retrying cannot help: the URL itself is the problem.
    """


class FetchFailed(NetguardError):
    """A checked URL gave no usable answer: an HTTP error, too large, too slow, too many
    redirects, or a network or TLS failure."""
