"""POST /api/upstream/notifications: Google Cloud Pub/Sub pushes Vertex AI's operation notices
here (a push subscription on the topic named by VEO_PUBSUB_TOPIC; docs/operations.md says how
to set one up). Authenticated by Google's OIDC token, not by an API key.

Every push that passes the token check is acknowledged (2xx), also for an operation we do not
know: Pub/Sub would otherwise redeliver it for days. A 5xx asks for a redelivery; it is given
only when we could not act (the database or Google's certificates unreachable).
"""

import json
from functools import cache

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api_gateway.db_threads import in_db_thread
from api_gateway.errors import ok
from api_gateway.openapi import PUBLIC
from api_gateway.push import token
from api_gateway.push.message import operation_name
from api_gateway.push.nudge import poll_now
from api_gateway.schemas import Envelope, PushData
from shared.errors import NotFound, ServiceUnavailable, invalid
from shared.settings import get_settings

PATH = "/upstream/notifications"
router = APIRouter(tags=["operations"])


@cache
def _certs(url: str) -> token.GoogleCerts:
    return token.GoogleCerts(url)


def audience() -> str:
    """What the subscription's token must be for: the setting, else this endpoint's URL."""
    settings = get_settings()
    return settings.push_audience or f"{settings.public_base_url}/api{PATH}"


@router.post(PATH, response_model=Envelope[PushData], openapi_extra=PUBLIC)
async def receive_upstream_notification(request: Request) -> JSONResponse:
    """A Pub/Sub push (Google's OIDC token in `Authorization`, checked before the body is
    read): the operation it names is polled now."""
    settings = get_settings()
    if not settings.push_notifications:
        raise NotFound("Upstream push notifications are not enabled")
    try:
        await token.verify(
            token.bearer(request.headers.get("authorization")),
            _certs(settings.push_certs_url),
            audience=audience(),
            service_account=settings.push_service_account,
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable("Google's signing certificates are unreachable") from exc
    try:
        envelope = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise invalid("body", "malformed JSON") from None
    operation = operation_name(envelope)
    polled = operation is not None and await in_db_thread(poll_now, operation)
    return ok(PushData(polled=polled).model_dump())
