"""A worker process for memory tests: it runs the poll step's own look at an operation
(`check_once`, download and storage included) for each operation name read from stdin, one at
a time, and answers each with a line, so the test can read this process's /proc between looks.

    python -m tests.support.inline_poller   (settings from VEO_* variables)
"""

import sys

from shared.settings import get_settings
from worker.runloop import run
from worker.tasks.poll import check_once
from worker.tasks.poll_claims import Claimed
from worker.tasks.store_video import Stored


def main() -> None:
    settings = get_settings()
    print("ready", flush=True)
    for number, line in enumerate(sys.stdin):
        operation = line.strip()
        if not operation:
            break
        outcome = run(check_once(Claimed(f"job-{number}", operation, 0, None, None), settings))
        size = outcome.video_bytes if isinstance(outcome, Stored) else -1
        print(f"{type(outcome).__name__} {size}", flush=True)


if __name__ == "__main__":
    main()
