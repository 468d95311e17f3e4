"""The one exception tree: its branches, and the seed's codes the API branch carries."""

import pytest

from shared import errors
from shared.errors import (
    ApiError,
    AuthenticationFailed,
    InputError,
    InsufficientCredits,
    InvalidParameters,
    NotFound,
    RateLimitExceeded,
    ServerError,
    ServiceUnavailable,
    UpstreamConfigError,
    UpstreamError,
    UpstreamPermanentError,
    UpstreamTransientError,
    VeoError,
)
from shared.lifecycle import Failure


@pytest.mark.parametrize(
    ("error", "code", "http_status", "msg"),
    [
        (InvalidParameters(), 1000, 400, "Invalid parameters"),
        (NotFound(), 1000, 404, "Not found"),
        (InsufficientCredits(required=8, current=3), 1001, 402, "Insufficient credits"),
        (AuthenticationFailed(), 1002, 401, "Authentication failed"),
        (RateLimitExceeded(), 1003, 429, "Rate limit exceeded"),
        (ServerError(), 5000, 500, "Server error"),
        (ServiceUnavailable(), 5000, 503, "Server error"),
    ],
)
def test_api_errors_carry_the_seed_codes(
    error: ApiError, code: int, http_status: int, msg: str
) -> None:
    """Each API error answers with the seed's code, HTTP status and default message."""
    assert (error.code, error.http_status, error.msg) == (code, http_status, msg)


def test_every_error_class_descends_from_the_root() -> None:
    """One tree: whatever a module defines as an exception hangs under VeoError."""
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(classes) > 10
    assert all(issubclass(cls, VeoError) for cls in classes)


def test_upstream_branch_splits_by_what_the_caller_does_next() -> None:
    """Config errors are permanent; transient and permanent errors never overlap."""
    assert issubclass(UpstreamConfigError, UpstreamPermanentError)
    assert not issubclass(UpstreamTransientError, UpstreamPermanentError)
    config = UpstreamConfigError("bad key", status=403)
    assert (config.code, config.refund, config.status) == ("upstream_config", True, 403)
    assert isinstance(config, UpstreamError)
    assert not isinstance(config, ApiError)


def test_input_error_carries_its_failure() -> None:
    """The job's own bad input fails it with the user's failure, unrefunded."""
    failure = Failure("invalid_image", "The uploaded image no longer exists.", refund=False)
    error = InputError(failure)
    assert error.failure is failure
    assert str(error) == failure.message
