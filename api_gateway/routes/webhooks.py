"""The caller's own webhook deliveries: list them, replay one, send a test ping."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlmodel import col

from api_gateway.db_threads import in_db_thread
from api_gateway.deps import LimitedCaller
from api_gateway.errors import ok
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import Envelope, IdText, Text
from shared.db import read_session, write_session
from shared.errors import NotFound, UnsafeUrl, invalid
from shared.models import Account, WebhookDelivery, WebhookEndpoint
from shared.netguard.addresses import check_url
from shared.queueing import enqueue_delivery
from shared.states import DeliveryMove, DeliveryStatus
from shared.timeutil import iso_z, utcnow
from shared.transitions import transition_deliveries

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=AuthenticatedRoute)
PAGE_MAX = 100


class DeliveryData(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every retry and replay")
    eventType: str  # noqa: N815
    videoUuid: str | None  # noqa: N815
    url: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    lastStatusCode: int | None  # noqa: N815
    lastError: str | None  # noqa: N815
    nextAttemptAt: str | None  # noqa: N815
    deliveredAt: str | None  # noqa: N815
    createdAt: str  # noqa: N815


class EndpointData(BaseModel):
    url: str
    disabled: bool
    disabledReason: str | None  # noqa: N815
    failingSince: str | None  # noqa: N815


class TestPingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text | None = Field(
        default=None, max_length=2048, description="Defaults to the account's endpoint"
    )


def _iso(value: Any) -> str | None:
    return iso_z(value) if value is not None else None


def delivery_data(delivery: WebhookDelivery) -> dict[str, Any]:
    pending = delivery.status == DeliveryStatus.PENDING
    return DeliveryData(
        id=delivery.id,
        eventType=delivery.event_type,
        videoUuid=delivery.job_id,
        url=delivery.url,
        status=delivery.status,
        attempts=delivery.attempts,
        lastStatusCode=delivery.last_status_code,
        lastError=delivery.last_error,
        nextAttemptAt=_iso(delivery.next_attempt_at) if pending else None,
        deliveredAt=_iso(delivery.delivered_at),
        createdAt=iso_z(delivery.created_at),
    ).model_dump()


def _list(account_id: str, video_uuid: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(WebhookDelivery).where(col(WebhookDelivery.account_id) == account_id)
    if video_uuid is not None:
        query = query.where(col(WebhookDelivery.job_id) == video_uuid)
    with read_session() as session:
        rows = session.execute(
            query.order_by(col(WebhookDelivery.created_at).desc()).limit(limit)
        ).scalars()
        return [delivery_data(row) for row in rows]


def _replay(account_id: str, delivery_id: str) -> dict[str, Any]:
    now = utcnow()
    with write_session() as session:
        replay = (delivery_id, {"next_attempt_at": now, "delivered_at": None})
        moved = transition_deliveries(
            session, DeliveryMove.REPLAY, [replay], guard={"account_id": account_id}
        )
        if moved != 1:
            raise NotFound("Delivery not found")
        url = (
            select(col(WebhookDelivery.url))
            .where(col(WebhookDelivery.id) == delivery_id)
            .scalar_subquery()
        )
        session.execute(  # a replay is the caller's "try again": it re-enables the endpoint too
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.account_id) == account_id, col(WebhookEndpoint.url) == url)
            .values(disabled_at=None, disabled_reason=None, failing_since=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        assert delivery is not None
        data = delivery_data(delivery)
    enqueue_delivery(delivery_id)
    return data


def _ping(account_id: str, url: str | None) -> dict[str, Any]:
    now = utcnow()
    with write_session() as session:
        account = session.get(Account, account_id)
        target = url or (account.webhook_url if account else None)
        if target is None:
            raise invalid("url", "no url given and the account has no webhook endpoint")
        try:
            check_url(target)
        except UnsafeUrl as exc:
            raise invalid("url", exc.reason) from exc
        body = {
            "type": "webhook.test",
            "timestamp": iso_z(now),
            "data": {"message": "Test delivery from the Veo API"},
        }
        delivery = WebhookDelivery(
            account_id=account_id,
            event_type="webhook.test",
            url=target,
            payload=json.dumps(body, separators=(",", ":")),
            next_attempt_at=now,
        )
        session.add(delivery)
        session.commit()
        data = delivery_data(delivery)
    enqueue_delivery(delivery.id)
    return data


def _endpoints(account_id: str) -> list[dict[str, Any]]:
    with read_session() as session:
        rows = session.execute(
            select(WebhookEndpoint).where(col(WebhookEndpoint.account_id) == account_id)
        ).scalars()
        return [
            EndpointData(
                url=row.url,
                disabled=row.disabled_at is not None,
                disabledReason=row.disabled_reason,
                failingSince=_iso(row.failing_since),
            ).model_dump()
            for row in rows
        ]


@router.get(
    "/deliveries",
    response_model=Envelope[list[DeliveryData]],
    operation_id="listWebhookDeliveries",
)
async def list_deliveries(
    caller: LimitedCaller,
    uuid: Annotated[
        IdText | None, Query(max_length=36, description="Only this video's deliveries")
    ] = None,
    limit: int = Query(default=50, ge=1, le=PAGE_MAX),
) -> JSONResponse:
    """Newest first: every attempt count, last answer and next attempt, so failures are visible."""
    return ok(await in_db_thread(_list, caller.account_id, uuid, limit))


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=Envelope[DeliveryData],
    operation_id="replayWebhookDelivery",
)
async def replay_delivery(delivery_id: IdText, caller: LimitedCaller) -> JSONResponse:
    """Send a delivery again, with the same webhook-id (receivers dedupe on it)."""
    return ok(await in_db_thread(_replay, caller.account_id, delivery_id))


@router.post("/test", response_model=Envelope[DeliveryData], operation_id="sendTestWebhook")
async def test_ping(body: TestPingRequest, caller: LimitedCaller) -> JSONResponse:
    """Queue a signed `webhook.test` event to a URL (or the account's endpoint)."""
    return ok(await in_db_thread(_ping, caller.account_id, body.url))


@router.get(
    "/endpoints", response_model=Envelope[list[EndpointData]], operation_id="listWebhookEndpoints"
)
async def list_endpoints(caller: LimitedCaller) -> JSONResponse:
    """Receivers this account's deliveries went to, and whether any was disabled."""
    return ok(await in_db_thread(_endpoints, caller.account_id))
