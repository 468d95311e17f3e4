"""Credits: conditional debits that cannot go below zero, and refunds that happen at most once.

Both write an append-only ledger row in the caller's transaction; the ledger's unique
(job_id, kind) key makes a second refund of the same job fail instead of paying twice.
"""

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from shared.errors import InsufficientCredits
from shared.models import Account, LedgerEntry
from shared.timeutil import utcnow

_accounts = Account.__table__  # type: ignore[attr-defined]
# Built once with bound parameters, so each debit reuses the compiled statements (building
# them with literal values cost as much as running them).
_DEBIT = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account"), _accounts.c.credits >= bindparam("amount"))
    .values(credits=_accounts.c.credits - bindparam("amount"))
)
_LEDGER_INSERT = insert(LedgerEntry.__table__)  # type: ignore[attr-defined]


def debit_for_job(session: Session | Connection, account_id: str, job_id: str, amount: int) -> None:
    """Take `amount` credits for a new job, or raise InsufficientCredits; the caller commits.

    Core statements only, so the gateway can run it on a bare connection (no ORM flush)."""
    result = session.execute(_DEBIT, {"account": account_id, "amount": amount})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = session.execute(
            select(col(Account.credits)).where(col(Account.id) == account_id)
        ).scalar()
        raise InsufficientCredits(required=amount, current=int(current or 0))
    session.execute(
        _LEDGER_INSERT,
        {
            "account_id": account_id,
            "job_id": job_id,
            "kind": "debit",
            "amount": amount,
            "created_at": utcnow(),
        },
    )


def refund_job(session: Session, account_id: str, job_id: str, amount: int) -> bool:
    """Give a job's credits back once; False if it was already refunded. The caller commits."""
    if amount <= 0:
        return False
    try:
        with session.begin_nested():
            session.add(
                LedgerEntry(account_id=account_id, job_id=job_id, kind="refund", amount=amount)
            )
    except IntegrityError:
        return False
    session.execute(
        update(Account)
        .where(col(Account.id) == account_id)
        .values(credits=col(Account.credits) + amount)
        .execution_options(synchronize_session=False)
    )
    return True


def grant(session: Session, account_id: str, amount: int) -> None:
    """Operator top-up (veo-admin add-credits)."""
    session.execute(
        update(Account)
        .where(col(Account.id) == account_id)
        .values(credits=col(Account.credits) + amount)
        .execution_options(synchronize_session=False)
    )
    session.add(LedgerEntry(account_id=account_id, job_id=None, kind="grant", amount=amount))
