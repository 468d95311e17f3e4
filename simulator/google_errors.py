"""Google's error bodies, byte-compatible with what the real APIs send.

Adapters classify failures from the HTTP status, `error.status`, the message and the `details`
list (e.g. a `QuotaFailure` whose quotaId contains "PerDay" means "do not retry today"), so every
error the simulator answers goes through these builders and never through ad-hoc dicts.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json; charset=UTF-8"

# HTTP status -> google.rpc status name, as Google's front end pairs them.
HTTP_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# google.rpc.Code numbers, used in a finished operation's `error.code`.
RPC_CODE_NAMES: dict[int, str] = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}

_DEFAULT_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    502: "Bad gateway.",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}

_TYPE = "type.googleapis.com/google.rpc."


def json_response(
    payload: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Compact JSON with Google's content type; cheaper than Starlette's JSONResponse defaults."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE)


class GoogleApiError(Exception):
    """An error answered as `{"error": {code, message, status, details}}` (google.rpc.Status)."""

    def __init__(
        self,
        http_status: int,
        message: str | None = None,
        *,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.http_status = http_status
        self.message = message or _DEFAULT_MESSAGES.get(http_status, "Error.")
        self.status = status or HTTP_STATUS_NAMES.get(http_status, "UNKNOWN")
        self.details = details
        self.headers = headers
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        return json_response(self.body(), self.http_status, self.headers)


class GcsApiError(GoogleApiError):
    """Cloud Storage's JSON API uses the older `{"error": {code, message, errors: [...]}}` shape."""

    _REASONS: dict[int, str] = {
        401: "required",
        403: "forbidden",
        404: "notFound",
        429: "rateLimitExceeded",
        500: "backendError",
        503: "backendError",
    }

    def body(self) -> dict[str, Any]:
        reason = self._REASONS.get(self.http_status, "invalid")
        return {
            "error": {
                "code": self.http_status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": reason}],
            }
        }


def invalid_argument(message: str) -> GoogleApiError:
    return GoogleApiError(400, message)


def not_found(message: str) -> GoogleApiError:
    return GoogleApiError(404, message)


def api_key_missing() -> GoogleApiError:
    return GoogleApiError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def api_key_invalid() -> GoogleApiError:
    return GoogleApiError(
        400,
        "API key not valid. Please pass a valid API key.",
        details=[_error_info("API_KEY_INVALID", {"service": "generativelanguage.googleapis.com"})],
    )


def unauthenticated(*, missing: bool, gcs: bool = False) -> GoogleApiError:
    prefix = "Request is missing required" if missing else "Request had invalid"
    message = (
        f"{prefix} authentication credential{'' if missing else 's'}. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    if gcs:
        return GcsApiError(401, message, headers=headers)
    return GoogleApiError(401, message, headers=headers)


def insufficient_scopes() -> GoogleApiError:
    return GoogleApiError(
        403,
        "Request had insufficient authentication scopes.",
        details=[_error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT")],
    )


def _error_info(reason: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """A google.rpc.ErrorInfo detail: the machine-readable reason clients switch on."""
    info: dict[str, Any] = {
        "@type": _TYPE + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
    }
    if metadata is not None:
        info["metadata"] = metadata
    return info


def _quota_failure(surface: str, quota_id: str, metric: str) -> dict[str, Any]:
    return {
        "@type": _TYPE + "QuotaFailure",
        "violations": [
            {
                "quotaMetric": metric,
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global"},
                "subject": f"project:simulated ({surface})",
            }
        ],
    }


def rate_limited(surface: str, model: str, retry_after_s: int) -> GoogleApiError:
    """A per-minute 429: transient, carries Retry-After and a RetryInfo detail."""
    if surface == "vertex":
        metric = "aiplatform.googleapis.com/online_prediction_requests_per_base_model"
        quota_id = "OnlinePredictionRequestsPerMinutePerProjectPerBaseModel"
        message = (
            f"Quota exceeded for {metric} with base model: {model}. "
            "Please submit a quota increase request. "
            "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
        )
    else:
        metric = "generativelanguage.googleapis.com/predict_long_running_requests"
        quota_id = "PredictLongRunningRequestsPerMinutePerProjectPerModel"
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits."
        )
    return GoogleApiError(
        429,
        message,
        details=[
            _quota_failure(surface, quota_id, metric),
            {"@type": _TYPE + "RetryInfo", "retryDelay": f"{retry_after_s}s"},
        ],
        headers={"Retry-After": str(retry_after_s)},
    )


def seconds_until_pacific_midnight(now: datetime | None = None) -> int:
    """Daily quotas reset at midnight Pacific time; that is the honest Retry-After for them."""
    try:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("America/Los_Angeles")
    except Exception:
        return 3600
    current = now.astimezone(tz) if now else datetime.now(tz)
    midnight = (current + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - current).total_seconds()))


def daily_quota(surface: str, model: str) -> GoogleApiError:
    """The per-day 429: the message says "per day" and the quotaId contains "PerDay"."""
    if surface == "vertex":
        metric = "aiplatform.googleapis.com/online_prediction_requests_per_base_model_per_day"
        quota_id = "OnlinePredictionRequestsPerDayPerProjectPerBaseModel"
    else:
        metric = "generativelanguage.googleapis.com/predict_long_running_requests_per_day"
        quota_id = "PredictLongRunningRequestsPerDayPerProjectPerModel"
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        f"Quota exceeded for metric: {metric}, limit: 10 per day, model: {model}. "
        "Requests per day reset at midnight Pacific time."
    )
    return GoogleApiError(
        429,
        message,
        details=[_quota_failure(surface, quota_id, metric)],
        headers={"Retry-After": str(seconds_until_pacific_midnight())},
    )
