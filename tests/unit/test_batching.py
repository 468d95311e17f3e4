"""TurnBatcher (api_gateway/batching/turn.py): one turn's calls form one batch; with a limit on
batches in flight, calls made meanwhile wait and then go together (a group commit)."""

import asyncio

from api_gateway.batching.turn import TurnBatcher


def test_calls_of_one_turn_form_one_batch_and_get_their_own_replies() -> None:
    batches: list[list[int]] = []

    async def handler(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        return [ValueError(i) if i == 3 else i * 10 for i in items]

    async def scenario() -> list[object]:
        batcher: TurnBatcher[int, int] = TurnBatcher(handler)
        return await asyncio.gather(*(batcher(i) for i in range(6)), return_exceptions=True)

    replies = asyncio.run(scenario())
    assert batches == [[0, 1, 2, 3, 4, 5]]
    assert isinstance(replies[3], ValueError)
    assert [r for i, r in enumerate(replies) if i != 3] == [0, 10, 20, 40, 50]


def test_calls_made_while_the_limit_is_busy_wait_and_then_go_together() -> None:
    batches: list[list[int]] = []

    async def scenario() -> list[int]:
        started, gate = asyncio.Event(), asyncio.Event()

        async def handler(items: list[int]) -> list[int | Exception]:
            batches.append(items)
            if len(batches) == 1:
                started.set()
                await gate.wait()  # the first batch is still being written
            return list(items)

        batcher: TurnBatcher[int, int] = TurnBatcher(handler, max_in_flight=1)
        first = asyncio.ensure_future(batcher(0))
        await started.wait()
        later = [asyncio.ensure_future(batcher(i)) for i in range(1, 5)]
        for _ in range(5):  # turns in which an unlimited batcher would have sent them
            await asyncio.sleep(0)
        assert batches == [[0]]
        gate.set()
        return await asyncio.gather(first, *later)

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]
    assert batches == [[0], [1, 2, 3, 4]]


def test_a_failing_handler_fails_its_whole_batch_only() -> None:
    async def handler(items: list[int]) -> list[int | Exception]:
        if 0 in items:
            raise RuntimeError("database down")
        return list(items)

    async def scenario() -> list[object]:
        batcher: TurnBatcher[int, int] = TurnBatcher(handler, max_batch=2)
        return await asyncio.gather(*(batcher(i) for i in range(4)), return_exceptions=True)

    replies = asyncio.run(scenario())
    assert [type(r).__name__ for r in replies[:2]] == ["RuntimeError", "RuntimeError"]
    assert replies[2:] == [2, 3]  # max_batch=2: the second batch was its own
