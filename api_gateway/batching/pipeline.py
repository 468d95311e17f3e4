"""What a validated submit goes through in this process, built once by the app's lifespan: its
row joins a batched paid insert, and once committed its id joins a batched publish."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from api_gateway.batching.publisher import SubmitPublisher
from api_gateway.batching.turn import TurnBatcher
from api_gateway.db_threads import in_db_thread
from shared.credits import insert_paid_jobs

# One batch of paid inserts at a time; the next gathers while it is written. Once a submit's
# own CPU was down to a third of a millisecond, fewer, larger batches served more (2,776 against
# 2,335 submits/s with two in flight on PostgreSQL, 3,650 against 2,624 on SQLite, p99 lower).
PAID_INSERTS_IN_FLIGHT = 1


@dataclass(frozen=True)
class SubmitPipeline:
    """`await paid_inserts(row)` debits and inserts one job (with its turn's others);
    `publisher.add(job_id)` queues the message of a committed job."""

    paid_inserts: TurnBatcher[dict[str, Any], None]
    publisher: SubmitPublisher


async def _insert_paid_jobs(job_rows: list[dict[str, Any]]) -> list[Exception | None]:
    return await in_db_thread(insert_paid_jobs, job_rows)


@asynccontextmanager
async def running_submit_pipeline() -> AsyncIterator[SubmitPipeline]:
    """The pipeline of this process; the publisher sends what is still waiting on exit."""
    paid_inserts = TurnBatcher(_insert_paid_jobs, max_in_flight=PAID_INSERTS_IN_FLIGHT)
    publisher = SubmitPublisher()
    publisher.start()
    try:
        yield SubmitPipeline(paid_inserts, publisher)
    finally:
        await publisher.stop()
