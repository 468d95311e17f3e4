"""The rows operators name on the command line: an account by its id, the hashes of its keys."""

from sqlalchemy import select
from sqlmodel import Session, col

from admin.output import fail
from shared.models import Account, ApiKey


def account_or_fail(session: Session, account_id: str, *, deleted_ok: bool = False) -> Account:
    """The account, or exit 1 saying there is none (or that it was deleted)."""
    account = session.get(Account, account_id)
    if account is None:
        fail(f"no account {account_id}")
    if account.deleted_at is not None and not deleted_ok:
        fail(f"account {account_id} was deleted")
    return account


def account_key_hashes(session: Session, account_id: str, *, active_only: bool) -> list[str]:
    """The hashes the gateways' key cache knows the account's keys by."""
    query = select(col(ApiKey.key_hash)).where(col(ApiKey.account_id) == account_id)
    if active_only:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return list(session.execute(query).scalars())
