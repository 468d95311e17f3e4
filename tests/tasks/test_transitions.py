"""The compare-and-set `transition()` (shared/states.py) on a real database: for every pair of
states, the statement moves the row exactly when the table allows it (tests/unit/test_states.py
pins the table itself), and stamps the time of the state it enters."""

from collections.abc import Callable
from itertools import product

import pytest

from shared.db import write_session
from shared.models import Job
from shared.states import ALLOWED_FROM, STAMPS, JobStatus
from shared.transitions import transition
from tests.support.jobs import reload_job


@pytest.mark.parametrize(
    ("source", "target"),
    list(product(JobStatus, JobStatus)),
    ids=lambda status: status.value,
)
def test_a_row_moves_only_where_the_table_allows(
    paid_job: Callable[..., Job], source: JobStatus, target: JobStatus
) -> None:
    job = paid_job(status=source.value)
    allowed = source in ALLOWED_FROM[target]

    with write_session() as session:
        moved = transition(session, job.id, target)
        session.commit()

    row = reload_job(job)
    assert moved is allowed
    assert row.status == (target if allowed else source)
    stamp = STAMPS.get(target)
    if stamp is not None:
        assert (getattr(row, stamp) is not None) is allowed
