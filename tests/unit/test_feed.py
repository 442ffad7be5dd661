"""The worker's feed between Faust and the pipeline process: batches grow while one is written."""
from __future__ import annotations

import asyncio

from streams.pipeline import Message
from streams.worker import Feed


def _messages(first: int, count: int) -> list[Message]:
    return [Message("t", 0, offset, b"") for offset in range(first, first + count)]


def test_a_batch_takes_everything_waiting_in_order_up_to_the_batch_size():
    async def run():
        feed = Feed(batch_size=5)
        await feed.put(_messages(0, 2))
        await feed.put(_messages(2, 2))
        assert [m.offset for m in await feed.take()] == [0, 1, 2, 3]
        await feed.put(_messages(4, 4))  # below the size when put: 4 waiting
        await feed.put(_messages(8, 3))  # 4 < 5, so accepted: 7 waiting
        assert [m.offset for m in await feed.take()] == [4, 5, 6, 7, 8]
        assert [m.offset for m in await feed.take()] == [9, 10]
    asyncio.run(run())


def test_put_waits_while_a_full_batch_waits_and_take_waits_for_a_message():
    async def run():
        feed = Feed(batch_size=3)
        await feed.put(_messages(0, 3))
        blocked = asyncio.create_task(feed.put(_messages(3, 1)))
        await asyncio.sleep(0.01)
        assert not blocked.done()  # the consumer is held back
        assert [m.offset for m in await feed.take()] == [0, 1, 2]
        await asyncio.wait_for(blocked, 1)
        assert [m.offset for m in await feed.take()] == [3]
        waiting = asyncio.create_task(feed.take())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await feed.put(_messages(4, 1))
        assert [m.offset for m in await asyncio.wait_for(waiting, 1)] == [4]
    asyncio.run(run())
