"""Named SQL statements kept in `queries.sql` beside this module, loaded once by name.

A statement starts at a `-- name --` line; the comment lines right after it document it and
are not sent. (The layout of procrastinate's `sql/queries.sql`.)
"""

import re
from importlib.resources import files

_NAME_LINE = re.compile(r"^-- ([a-z0-9_]+) --\n(?:--.*\n)*", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Each statement of a queries file by its name; the text before the first name is the
    file's own comment."""
    parts = _NAME_LINE.split(text)[1:]
    queries: dict[str, str] = {}
    for name, body in zip(parts[::2], parts[1::2], strict=True):
        if name in queries:
            raise ValueError(f"two queries are named {name}")
        queries[name] = body.strip()
    return queries


QUERIES = parse(files(__name__).joinpath("queries.sql").read_text(encoding="utf-8"))
