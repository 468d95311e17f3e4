"""The caller's own account: its balance, rate limits, this month's usage and its ledger."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import case, func, select

from api_gateway.cursors import CURSOR_MAX_CHARS, decode_cursor, encode_cursor
from api_gateway.db_threads import in_db_thread
from api_gateway.deps import LimitedCaller
from api_gateway.errors import ok
from api_gateway.rate_budgets import rate_limit_budgets
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import AccountData, Envelope, LedgerPage
from shared.db import read_connection
from shared.errors import NotFound
from shared.models import ACCOUNTS, JOBS, LEDGER
from shared.settings import get_settings
from shared.timeutil import iso_z, utcnow

router = APIRouter(prefix="/account", tags=["account"], route_class=AuthenticatedRoute)
PAGE_DEFAULT, PAGE_MAX = 20, 100


def month_start(now: datetime) -> datetime:
    """The first moment of `now`'s month, UTC: usage counts from there."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _account(account_id: str) -> dict[str, Any]:
    """The account's row and this month's usage, in one connection."""
    since = month_start(utcnow())
    with read_connection() as connection:
        account = connection.execute(
            select(
                ACCOUNTS.c.name,
                ACCOUNTS.c.credits,
                ACCOUNTS.c.webhook_url,
                ACCOUNTS.c.rate_limit_per_minute,
                ACCOUNTS.c.read_rate_limit_per_minute,
            ).where(ACCOUNTS.c.id == account_id)
        ).first()
        if account is None:  # deleted while its key was still cached
            raise NotFound("Account not found")
        jobs = connection.execute(
            select(func.count()).where(JOBS.c.account_id == account_id, JOBS.c.created_at >= since)
        ).scalar_one()
        signed = case(
            (LEDGER.c.kind == "debit", LEDGER.c.amount),
            (LEDGER.c.kind == "refund", -LEDGER.c.amount),
            else_=0,
        )
        spent = connection.execute(
            select(func.coalesce(func.sum(signed), 0)).where(
                LEDGER.c.account_id == account_id, LEDGER.c.created_at >= since
            )
        ).scalar_one()
    settings = get_settings()
    return {
        "name": account.name,
        "credits": int(account.credits),
        "webhookUrl": account.webhook_url,
        "limits": (
            account.rate_limit_per_minute or settings.default_rate_limit_per_minute,
            account.read_rate_limit_per_minute or settings.default_read_rate_limit_per_minute,
        ),
        "usage": {"month": since.strftime("%Y-%m"), "jobs": int(jobs), "creditsSpent": int(spent)},
    }


@router.get("", response_model=Envelope[AccountData])
async def get_account(request: Request, caller: LimitedCaller) -> JSONResponse:
    """Balance, rate limits and what is left of them, this month's usage, webhook endpoint."""
    found = await in_db_thread(_account, caller.account_id)
    return ok(
        {
            "accountId": caller.account_id,
            "name": found["name"],
            "credits": found["credits"],
            "rateLimits": await rate_limit_budgets(request, *found["limits"]),
            "usage": found["usage"],
            "webhookUrl": found["webhookUrl"],
        }
    )


def _ledger(account_id: str, limit: int, before_id: int | None) -> dict[str, Any]:
    query = select(LEDGER).where(LEDGER.c.account_id == account_id)
    if before_id is not None:
        query = query.where(LEDGER.c.id < before_id)
    with read_connection() as connection:
        rows = connection.execute(query.order_by(LEDGER.c.id.desc()).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": [
            {
                "id": str(row.id),
                "kind": row.kind,
                "amount": int(row.amount),
                "jobId": row.job_id,
                "createdAt": iso_z(row.created_at),
            }
            for row in rows
        ],
        "nextCursor": encode_cursor({"id": rows[-1].id}) if more else None,
    }


@router.get("/ledger", response_model=Envelope[LedgerPage])
async def get_ledger(
    caller: LimitedCaller,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_CHARS)] = None,
) -> JSONResponse:
    """Debits, refunds and grants of credits, newest first, a page at a time."""
    before_id = None if cursor is None else int(decode_cursor(cursor, id=int)["id"])
    return ok(await in_db_thread(_ledger, caller.account_id, limit, before_id))
