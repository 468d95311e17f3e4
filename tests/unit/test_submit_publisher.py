"""The gateway's submit publisher: every queued job is sent, in bounded batches, even when the
gateway stops before the loop got to it."""

import asyncio
import threading

from api_gateway.batching.publisher import BATCH_MAX, SubmitPublisher


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, batch: list[str]) -> None:
        with self.lock:
            self.batches.append(list(batch))

    def sent(self) -> list[str]:
        return [job_id for batch in self.batches for job_id in batch]


def test_jobs_queued_right_before_stop_are_sent_in_bounded_batches() -> None:
    recorder = Recorder()
    ids = [f"job-{i}" for i in range(3 * BATCH_MAX + 5)]

    async def scenario() -> None:
        publisher = SubmitPublisher(send=recorder)
        publisher.start()
        for job_id in ids:
            publisher.add(job_id)
        await publisher.stop()  # before the loop ever ran

    asyncio.run(scenario())
    assert recorder.sent() == ids
    assert max(len(batch) for batch in recorder.batches) == BATCH_MAX


def test_a_failing_batch_does_not_stop_later_ones() -> None:
    first_failed, second_sent = threading.Event(), threading.Event()

    def flaky(batch: list[str]) -> None:
        if batch == ["first"]:
            first_failed.set()
            raise RuntimeError("broker exploded")
        if batch == ["second"]:
            second_sent.set()

    async def scenario() -> bool:
        publisher = SubmitPublisher(send=flaky)
        publisher.start()
        publisher.add("first")
        assert await asyncio.to_thread(first_failed.wait, 5)
        publisher.add("second")
        sent_by_the_loop = await asyncio.to_thread(second_sent.wait, 5)
        await publisher.stop()
        return sent_by_the_loop

    assert asyncio.run(scenario())
