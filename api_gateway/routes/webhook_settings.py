"""The caller's webhook endpoint and signing secret (shared.account_webhooks, which the
dashboard and `veo-admin` use too)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api_gateway.db_threads import in_db_thread
from api_gateway.deps import LimitedCaller
from api_gateway.errors import ok
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import Envelope, Text
from shared import account_webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=AuthenticatedRoute)


class EndpointRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text | None = Field(max_length=2048, description="null removes the endpoint")


class EndpointSetData(BaseModel):
    url: str | None


class SecretData(BaseModel):
    secret: str = Field(description="Verifies the webhook-signature header (Standard Webhooks)")
    alsoSigning: list[str] = Field(  # noqa: N815
        description="The previous secret while its grace period after a rotation lasts"
    )


@router.put(
    "/endpoint", response_model=Envelope[EndpointSetData], operation_id="setWebhookEndpoint"
)
async def set_webhook_endpoint(body: EndpointRequest, caller: LimitedCaller) -> JSONResponse:
    """Where videos without a webhookUrl of their own report."""
    await in_db_thread(account_webhooks.set_endpoint, caller.account_id, body.url)
    return ok({"url": body.url})


@router.get("/secret", response_model=Envelope[SecretData], operation_id="getWebhookSecret")
async def get_webhook_secret(caller: LimitedCaller) -> JSONResponse:
    """The signing secret (and the previous one while it still signs)."""
    secrets = await in_db_thread(account_webhooks.current_secrets, caller.account_id)
    return ok({"secret": secrets[0], "alsoSigning": secrets[1:]})


@router.post(
    "/secret/rotate", response_model=Envelope[SecretData], operation_id="rotateWebhookSecret"
)
async def rotate_webhook_secret(caller: LimitedCaller) -> JSONResponse:
    """A new secret; the previous one keeps signing for `webhook_secret_grace_s`."""
    await in_db_thread(account_webhooks.rotate, caller.account_id)
    secrets = await in_db_thread(account_webhooks.current_secrets, caller.account_id)
    return ok({"secret": secrets[0], "alsoSigning": secrets[1:]})
