"""The caller's own API keys: list, create (the key is in that answer only), revoke at once.
The same functions serve the dashboard and `veo-admin` (shared.api_keys)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api_gateway.db_threads import in_db_thread
from api_gateway.deps import LimitedCaller
from api_gateway.errors import ok
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import Envelope, KeyId
from shared.api_keys import issue_key, list_keys, revoke_own_key
from shared.errors import NotFound

router = APIRouter(prefix="/keys", tags=["account"], route_class=AuthenticatedRoute)


class KeyData(BaseModel):
    id: int
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    createdAt: str  # noqa: N815
    lastUsedAt: str | None = Field(description="To about a minute")  # noqa: N815
    revokedAt: str | None  # noqa: N815


class NewKeyData(BaseModel):
    apiKey: str = Field(description="The new key: shown in this answer only")  # noqa: N815
    prefix: str


class RevokedKeyData(BaseModel):
    id: int
    revoked: bool


@router.get("", response_model=Envelope[list[KeyData]], operation_id="listApiKeys")
async def list_api_keys(caller: LimitedCaller) -> JSONResponse:
    """The account's keys, newest first, revoked ones included."""
    return ok(await in_db_thread(list_keys, caller.account_id))


@router.post("", response_model=Envelope[NewKeyData], operation_id="createApiKey")
async def create_api_key(caller: LimitedCaller) -> JSONResponse:
    """A new key for the account; store it now, it is never shown again."""
    key = await in_db_thread(issue_key, caller.account_id)
    keys = await in_db_thread(list_keys, caller.account_id)
    return ok({"apiKey": key, "prefix": keys[0]["prefix"]})


@router.delete("/{key_id}", response_model=Envelope[RevokedKeyData], operation_id="revokeApiKey")
async def revoke_api_key(key_id: KeyId, caller: LimitedCaller) -> JSONResponse:
    """Revoke one of the account's keys; requests with it answer 1002 from then on."""
    if not await in_db_thread(revoke_own_key, caller.account_id, key_id):
        raise NotFound("API key not found (or already revoked)")
    return ok({"id": key_id, "revoked": True})
