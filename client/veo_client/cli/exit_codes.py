"""What `veo` exits with, so scripts can tell a failed video from a bad key (client/README.md)."""

from veo_client.errors import (
    AuthenticationError,
    ConnectionFailed,
    InsufficientCredits,
    InvalidRequest,
    RateLimited,
    ServerError,
    VeoError,
    WaitTimeout,
)

OK = 0
JOB_UNSUCCESSFUL = 1  # the video ended failed or cancelled
USAGE = 2  # a wrong command line (typer's own)
INVALID_REQUEST = 3  # 1000, including an unknown uuid
INSUFFICIENT_CREDITS = 4  # 1001
AUTHENTICATION = 5  # 1002, or no API key
RATE_LIMITED = 6  # 1003 after the retries
SERVER = 7  # 5000, or no answer from the gateway
WAIT_TIMEOUT = 8  # --timeout passed; the job keeps running
INTERRUPTED = 130  # Ctrl-C; the job keeps running

_BY_ERROR: list[tuple[type[VeoError], int]] = [
    (WaitTimeout, WAIT_TIMEOUT),
    (InvalidRequest, INVALID_REQUEST),
    (InsufficientCredits, INSUFFICIENT_CREDITS),
    (AuthenticationError, AUTHENTICATION),
    (RateLimited, RATE_LIMITED),
    (ServerError, SERVER),
    (ConnectionFailed, SERVER),
]


def for_error(error: VeoError) -> int:
    for cls, code in _BY_ERROR:
        if isinstance(error, cls):
            return code
    return AUTHENTICATION if error.code == 1002 else SERVER
