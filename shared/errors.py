"""Every error of ours, in one tree; what catches each branch decides what happens next.

    VeoError
    ├── InputError ................... a job's own input is unusable: fail it, no refund
    ├── UpstreamError ................ raised by the upstream adapters only (worker/upstream)
    │   ├── UpstreamTransientError ... try again later (408/429/5xx, timeouts, dropped connections)
    │   ├── UpstreamOutcomeUnknown ... a submit sent but unanswered: maybe accepted (and billed)
    │   └── UpstreamPermanentError ... fail the job (refunded unless it was the user's fault)
    │       ├── UpstreamConfigError .. our setup is wrong (bad key, retired model): never retry
    │       └── UpstreamResubmittable  the operation failed upstream (google.rpc 8/13/14): a new
    │                                  submission may succeed
    ├── ApiError ..................... answered to the caller as the `{code, msg, data}` envelope
    │   ├── InvalidParameters ........ 1000, HTTP 400
    │   │   ├── NotFound ............. 1000, HTTP 404 (unknown ids and other accounts' ids alike)
    │   │   ├── PayloadTooLarge ...... 1000, HTTP 413
    │   │   ├── RangeNotSatisfiable .. 1000, HTTP 416
    │   │   └── MethodNotAllowed ..... 1000, HTTP 405
    │   ├── InsufficientCredits ...... 1001, HTTP 402
    │   ├── AuthenticationFailed ..... 1002, HTTP 401
    │   │   └── LinkRefused .......... 1002, HTTP 403 (a file URL unsigned, altered or expired)
    │   ├── RateLimitExceeded ........ 1003, HTTP 429
    │   └── ServerError .............. 5000, HTTP 500
    │       └── ServiceUnavailable ... 5000, HTTP 503
    └── NetguardError ................ an outbound URL could not be used (shared/netguard);
        │                                each caller maps it to its own error
        ├── UnsafeUrl ................ the guard refused the URL itself: retrying cannot help
        └── FetchFailed .............. a checked URL gave no usable answer

The upstream branch is what DESIGN rule 9 asks for: only the adapters see httpx errors and
upstream statuses, and they classify each failure once (worker/upstream/classify.py). The API
branch carries the seed's codes; api_gateway renders it, and nothing else, as the envelope.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # For the annotation only: at run time this module imports nothing of ours, so anything may
    # import it (shared.lifecycle reaches it through shared.credits).
    from shared.lifecycle import Failure


class VeoError(Exception):
    """Base of every error this project raises on purpose."""


# Job input errors


class InputError(VeoError):
    """The job's own input is unusable (its image is gone or unreadable): the user's fault, so
    the job fails without a refund."""

    def __init__(self, failure: "Failure") -> None:
        super().__init__(failure.message)
        self.failure = failure


# Upstream errors


class UpstreamError(VeoError):
    """Base of every error an adapter raises."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UpstreamTransientError(UpstreamError):
    """Try again later: 408/429/5xx, timeouts, dropped connections."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class UpstreamPermanentError(UpstreamError):
    """Do not retry. `code` is our failure code; `refund` is False only for the user's own fault."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "upstream_error",
        status: int | None = None,
        refund: bool = True,
    ) -> None:
        super().__init__(message, status=status)
        self.code = code
        self.refund = refund


class UpstreamOutcomeUnknown(UpstreamError):
    """A submit that was sent but never answered (read timeout, dropped connection, 504): the
    upstream may have accepted, and will bill, it. Not a transient error, so that nothing
    resubmits it blindly: VEO_UNKNOWN_SUBMIT_POLICY decides (worker/tasks/decisions.py)."""


class UpstreamResubmittable(UpstreamPermanentError):
    """An operation that ended with an error on the upstream's side (google.rpc codes 8, 13,
    14): this operation is over, but a new submission may well succeed (once: it is paid)."""

    def __init__(self, message: str, *, rpc_code: int) -> None:
        super().__init__(message, code="upstream_failed", refund=True)
        self.rpc_code = rpc_code


class UpstreamConfigError(UpstreamPermanentError):
    """Our configuration is wrong (bad key, retired model): report loudly, never retry."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, code="upstream_config", status=status, refund=True)


# API errors (the envelope)


class ApiError(VeoError):
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


class RangeNotSatisfiable(InvalidParameters):
    """A `Range` that starts past the end of a file answers 1000 with HTTP 416."""

    http_status = 416


class MethodNotAllowed(InvalidParameters):
    """A known path asked with a method it does not serve answers 1000 with HTTP 405."""

    http_status, msg = 405, "Method not allowed for this endpoint"


class InsufficientCredits(ApiError):
    code, http_status, msg = 1001, 402, "Insufficient credits"

    def __init__(self, required: int, current: int) -> None:
        super().__init__(data={"required": required, "current": current})


class AuthenticationFailed(ApiError):
    code, http_status, msg = 1002, 401, "Authentication failed"


class LinkRefused(AuthenticationFailed):
    """A file URL without a valid, unexpired signature: the URL is the credential, so 1002,
    with HTTP 403 (no API key would help)."""

    http_status, msg = 403, "File URL refused"


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


class NetguardError(VeoError):
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
