"""An account's API keys: issue one (shown once), list them, revoke one at once. The operator's
`veo-admin` commands, the dashboard and the API all go through these functions."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlmodel import col

from shared import key_cache
from shared.db import read_session, write_session
from shared.keys import display_prefix, hash_api_key, new_api_key
from shared.models import ApiKey
from shared.timeutil import iso_z, utcnow


def issue_key(account_id: str) -> str:
    """Create a key for the account; the only moment the key itself exists in clear."""
    key = new_api_key()
    with write_session() as session:
        session.add(
            ApiKey(
                account_id=account_id, key_hash=hash_api_key(key), key_prefix=display_prefix(key)
            )
        )
        session.commit()
    return key


def _iso(moment: datetime | None) -> str | None:
    return iso_z(moment) if moment is not None else None


def list_keys(account_id: str) -> list[dict[str, Any]]:
    """The account's keys, newest first: prefix, created, last used (to about a minute:
    stamped when a gateway reads the key from the database), revoked."""
    with read_session() as session:
        rows = session.execute(
            select(ApiKey)
            .where(col(ApiKey.account_id) == account_id)
            .order_by(col(ApiKey.id).desc())
        ).scalars()
        return [
            {
                "id": row.id,
                "prefix": row.key_prefix,
                "createdAt": iso_z(row.created_at),
                "lastUsedAt": _iso(row.last_used_at),
                "revokedAt": _iso(row.revoked_at),
            }
            for row in rows
        ]


def revoke_where(condition: ColumnElement[bool]) -> list[str] | None:
    """Revoke the one active key matching `condition`; None (nothing changed) unless exactly
    one matched, else the revoked key's hash (to tombstone: see refuse_at_once)."""
    with write_session() as session:
        hashes = list(
            session.execute(
                update(ApiKey)
                .where(condition, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=utcnow())
                .returning(col(ApiKey.key_hash))
            ).scalars()
        )
        if len(hashes) != 1:
            session.rollback()
            return None
        session.commit()
    return hashes


def revoke_own_key(account_id: str, key_id: int) -> bool:
    """Revoke one of the account's keys and refuse it at once; False: no such active key.
    (Where Redis is down, gateways that cached it accept it for CACHE_TTL_S more.)"""
    hashes = revoke_where((col(ApiKey.id) == key_id) & (col(ApiKey.account_id) == account_id))
    if hashes is None:
        return False
    key_cache.forget_keys(hashes)
    return True


def touch_last_used(key_id: int) -> None:
    """Stamp a key's last use; called when a gateway reads it from the database, which its
    Redis cache makes about once a minute per key in use."""
    with write_session() as session:
        session.execute(
            update(ApiKey)
            .where(col(ApiKey.id) == key_id)
            .values(last_used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.commit()
