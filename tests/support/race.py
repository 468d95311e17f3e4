"""Two calls started at the same moment, for tests of compare-and-set races."""

import threading
from collections.abc import Callable


def race(first: Callable[[], object], second: Callable[[], object]) -> list[object]:
    """Run both at once (each in a thread, released together); what each returned or raised."""
    start = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(index: int, call: Callable[[], object]) -> None:
        start.wait()
        try:
            results[index] = call()
        except Exception as error:  # the loser's refusal is a result here
            results[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
