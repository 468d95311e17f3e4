"""Named SQL statements (shared.sql): found by name, sent without their comments."""

import pytest

from shared.sql import QUERIES, parse

QUERIES_FILE = """-- What this file holds.

-- first --
-- Why it looks like this;
-- two lines of why.
SELECT 1

-- second --
SELECT %(x)s
"""


def test_each_query_is_its_body_without_its_comment() -> None:
    """The comment lines under a name document the query and are not sent."""
    assert parse(QUERIES_FILE) == {"first": "SELECT 1", "second": "SELECT %(x)s"}


def test_two_queries_of_one_name_are_refused() -> None:
    """A second definition would otherwise silently replace the first."""
    with pytest.raises(ValueError, match="first"):
        parse(QUERIES_FILE + "\n-- first --\nSELECT 2\n")


def test_the_paid_batch_statement_ships_whole() -> None:
    """The shipped file holds the batch statement, from its first CTE to its final SELECT."""
    query = QUERIES["paid_batch"]
    assert query.startswith("WITH locked AS MATERIALIZED (")
    assert query.endswith("SELECT id FROM job")
    assert "--" not in query
