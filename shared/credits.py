"""Credits: conditional debits that cannot go below zero, and refunds that happen at most once.

A debit is committed together with the new job's row; a refund runs in the caller's transaction.
Both write an append-only ledger row, whose unique (job_id, kind) key makes a second refund of
the same job fail instead of paying twice.
"""

import json
from collections import defaultdict
from contextlib import suppress
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from shared.column_types import as_utc
from shared.db import autocommit_connection, is_postgresql, write_transaction
from shared.errors import InsufficientCredits
from shared.models import ACCOUNTS, JOBS, LEDGER, Account, LedgerEntry
from shared.sql import QUERIES

# Built once with bound parameters, so each debit reuses the compiled statements (building
# them with literal values cost as much as running them).
_DEBIT = (
    update(ACCOUNTS)
    .where(
        ACCOUNTS.c.id == bindparam("debit_account"),
        ACCOUNTS.c.credits >= bindparam("debit_amount"),
    )
    .values(credits=ACCOUNTS.c.credits - bindparam("debit_amount"))
)
_LEDGER_INSERT = insert(LEDGER)
_INSERT_JOB = insert(JOBS)


def insert_paid_job(job_row: dict[str, Any]) -> None:
    """Insert a new job (every column, see models.new_job_row) and take its `credits_charged` as
    one unit, or raise InsufficientCredits. Core statements only: the ORM's flush machinery
    doubled a submit's cost.

    On PostgreSQL this is one autocommitted statement (the batch's: `paid_batch` in
    sql/queries.sql), so the account's row lock lasts only while the server runs it: in a
    transaction the lock spanned our Python between statements, and concurrent submits of one
    account queued behind it (p99 390 ms at 32 connections). SQLite has one writer at a time
    anyway: there the same rows are written in one transaction.
    """
    if is_postgresql():
        if not _write_paid_postgresql([job_row]):
            with autocommit_connection() as connection:
                raise _insufficient(connection, job_row["account_id"], job_row["credits_charged"])
        return
    with write_transaction() as connection:
        connection.execute(_INSERT_JOB, job_row)
        _debit(connection, job_row)


class _PayOneByOne(Exception):
    """An account of the batch cannot pay for all of its jobs."""


def insert_paid_jobs(job_rows: list[dict[str, Any]]) -> list[Exception | None]:
    """`insert_paid_job` for several jobs at once; per job, None or the error it alone got
    (InsufficientCredits, or the IntegrityError of a reused Idempotency-Key).

    Jobs are written together when their account can pay for all of its jobs of the batch (on
    SQLite, when every account can); the others go again one job at a time, in order, so each
    gets the answer it would alone. A conflicting row (a reused Idempotency-Key) writes nothing
    and sends the whole batch one by one.
    """
    paid: set[str] = set()
    if len(job_rows) > 1:
        with suppress(IntegrityError):  # a conflict writes nothing: every job goes alone
            paid = _insert_batch(job_rows)
    answers: list[Exception | None] = []
    for row in job_rows:
        if row["id"] in paid:
            answers.append(None)
            continue
        try:
            insert_paid_job(row)
        except (InsufficientCredits, IntegrityError) as error:
            answers.append(error)
        else:
            answers.append(None)
    return answers


def _insert_batch(job_rows: list[dict[str, Any]]) -> set[str]:
    """Writes the jobs of every account that can pay for all of its jobs here; their ids."""
    if is_postgresql():
        return _write_paid_postgresql(job_rows)
    # SQLite: one writer at a time, so one transaction, debits in account order.
    totals = _totals(job_rows)
    try:
        with write_transaction() as connection:
            _debit_accounts(connection, totals)
            connection.execute(_INSERT_JOB, job_rows)
            connection.execute(_LEDGER_INSERT, [_debit_entry(row) for row in job_rows])
    except _PayOneByOne:
        return set()
    return {row["id"] for row in job_rows}


def _totals(job_rows: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in job_rows:
        totals[row["account_id"]] += row["credits_charged"]
    return totals


def _write_paid_postgresql(job_rows: list[dict[str, Any]]) -> set[str]:
    """The jobs, each account's debit and the ledger rows, as `paid_batch` (sql/queries.sql)
    writes them; the ids of the jobs written (those of every account that could pay for all of
    its jobs)."""
    totals = _totals(job_rows)
    accounts = sorted(totals)
    parameters = {
        "accounts": accounts,
        "totals": [totals[account] for account in accounts],
        "jobs": json.dumps(job_rows, default=_json_value),
    }
    with autocommit_connection() as connection:
        return set(connection.exec_driver_sql(QUERIES["paid_batch"], parameters).scalars())


def _json_value(value: object) -> str:
    """Datetimes for the JSON rows, as UTCDateTime binds them."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} is not a job column's value")


def _debit_accounts(connection: Connection, totals: dict[str, int]) -> None:
    for account_id in sorted(totals):
        debit = {"debit_account": account_id, "debit_amount": totals[account_id]}
        if connection.execute(_DEBIT, debit).rowcount != 1:
            raise _PayOneByOne


def _debit_entry(job_row: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": job_row["account_id"],
        "job_id": job_row["id"],
        "kind": "debit",
        "amount": job_row["credits_charged"],
        "created_at": job_row["created_at"],
    }


def _insufficient(connection: Connection, account_id: str, amount: int) -> InsufficientCredits:
    current = connection.execute(
        select(col(Account.credits)).where(col(Account.id) == account_id)
    ).scalar()
    return InsufficientCredits(required=amount, current=int(current or 0))


def _debit(connection: Connection, job_row: dict[str, Any]) -> None:
    """Take a new job's credits, or raise InsufficientCredits; the caller commits."""
    account_id, amount = job_row["account_id"], job_row["credits_charged"]
    result = connection.execute(_DEBIT, {"debit_account": account_id, "debit_amount": amount})
    if result.rowcount != 1:
        raise _insufficient(connection, account_id, amount)
    connection.execute(_LEDGER_INSERT, _debit_entry(job_row))


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
