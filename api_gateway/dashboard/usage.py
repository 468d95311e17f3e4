"""Credits spent per day (debits less refunds), as the bars of a small SVG the page draws
server-side: no chart library, no script."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from shared.db import read_connection
from shared.models import LEDGER
from shared.timeutil import utcnow

DAYS = 14
WIDTH, HEIGHT, GAP = 280, 100, 2


def _spent_by_day(account_id: str, since: date) -> dict[date, int]:
    spent: dict[date, int] = {}
    with read_connection() as connection:
        rows = connection.execute(
            select(LEDGER.c.kind, LEDGER.c.amount, LEDGER.c.created_at).where(
                LEDGER.c.account_id == account_id,
                LEDGER.c.created_at >= datetime.combine(since, time(), tzinfo=UTC),
                LEDGER.c.kind.in_(("debit", "refund")),
            )
        ).all()
    for row in rows:  # at most two weeks of one account's rows
        sign = 1 if row.kind == "debit" else -1
        day = row.created_at.date()
        spent[day] = spent.get(day, 0) + sign * int(row.amount)
    return spent


def usage_chart(account_id: str) -> dict[str, Any]:
    """The last DAYS days, oldest first, each with its bar's geometry."""
    today = utcnow().date()
    first = today - timedelta(days=DAYS - 1)
    spent = _spent_by_day(account_id, first)
    days = [first + timedelta(days=offset) for offset in range(DAYS)]
    peak = max([1, *(max(0, spent.get(day, 0)) for day in days)])
    width = WIDTH // DAYS
    bars = []
    for index, day in enumerate(days):
        spent_that_day = max(0, spent.get(day, 0))
        height = round(spent_that_day / peak * (HEIGHT - 14))
        bars.append(
            {
                "day": day.isoformat(),
                "credits": spent_that_day,
                "x": index * width,
                "y": HEIGHT - height,
                "width": width - GAP,
                "height": height,
            }
        )
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "peak": peak,
        "total": sum(bar["credits"] for bar in bars),
    }
