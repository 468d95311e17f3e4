"""What a Celery worker did and when, read back from its log: which tasks were running at a
moment, and when it next finished one (the partition run's "in flight at the cut" and "back")."""

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): [^\]]*\] Task ([\w.]+)\[([\w-]+)\] (\w+)"
)


@dataclass(frozen=True)
class TaskEvent:
    at: float
    task: str
    task_id: str
    word: str  # received, succeeded, raised, retry, ...


def task_events(paths: list[Path]) -> list[TaskEvent]:
    events = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            match = _LINE.match(line)
            if match:
                # Celery writes local time without a zone: read it as local time.
                stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone()
                at = stamp.timestamp()
                events.append(TaskEvent(at, match.group(2), match.group(3), match.group(4)))
    return sorted(events, key=lambda e: e.at)


def running_at(events: list[TaskEvent], moment: float) -> Counter[str]:
    """Tasks received before `moment` and not finished by then, by task name."""
    running: dict[str, str] = {}
    for event in events:
        if event.at > moment:
            break
        if event.word == "received":
            running[event.task_id] = event.task
        else:
            running.pop(event.task_id, None)
    return Counter(running.values())


def first_finished_after(events: list[TaskEvent], moment: float) -> float | None:
    return next((e.at for e in events if e.at > moment and e.word == "succeeded"), None)
