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


class PayloadTooLarge(InvalidParameters):
    """A body or file over its cap answers 1000 with HTTP 413."""

    http_status = 413


class MethodNotAllowed(InvalidParameters):
    """A known path asked with a method it does not serve answers 1000 with HTTP 405."""

    http_status, msg = 405, "Method not allowed for this endpoint"


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
