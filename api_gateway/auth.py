"""Bearer API-key authentication: the key's hash is looked up, revoked keys are refused."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlmodel import col

from shared.db import read_session
from shared.errors import AuthenticationFailed
from shared.keys import hash_api_key
from shared.models import Account, ApiKey


@dataclass(frozen=True)
class Caller:
    account_id: str
    key_id: int
    rate_limit_per_minute: int | None


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Authentication failed: send 'Authorization: Bearer <API key>'")
    return token.strip()


def authenticate(request: Request) -> Caller:
    """Resolve the caller; the same answer for unknown, malformed and revoked keys."""
    key_hash = hash_api_key(_bearer_token(request))
    with read_session() as session:
        row = session.execute(
            select(col(ApiKey.id), col(ApiKey.account_id), col(Account.rate_limit_per_minute))
            .join(Account, col(Account.id) == col(ApiKey.account_id))
            .where(col(ApiKey.key_hash) == key_hash, col(ApiKey.revoked_at).is_(None))
        ).first()
    if row is None:
        raise AuthenticationFailed("Authentication failed: invalid or revoked API key")
    caller = Caller(
        account_id=row.account_id, key_id=row.id, rate_limit_per_minute=row.rate_limit_per_minute
    )
    request.state.caller = caller
    return caller


CurrentCaller = Annotated[Caller, Depends(authenticate)]
