"""The Faust worker: source topics -> Pipeline (core + Delta sink), in micro-batches.

One agent with concurrency 1 feeds the single writer of the resolver shard, a Pipeline in a
child process (see streams.pipeline_process). Events come from `take_events`, which acks them
when the loop body returns; the body only adds them to a `Feed`, and the child takes all the
feed holds each time it finishes a batch. So Faust gathers while the child writes, and a
batch is as large as what arrived meanwhile: small under a light load (fresh), up to
`batch_size` under a heavy one (fast). The consumer group's offsets can therefore run ahead
of the lake by the events in flight; a worker that restarts processes that gap first
(`catch_up`), so nothing is lost, and replays are idempotent.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import faust
from confluent_kafka import Consumer, TopicPartition
from faust.transport.drivers import aiokafka as faust_kafka

from sinks.warehouse import create_views
from streams.broker import outage_file, reachable
from streams.pipeline import Message
from streams.pipeline_process import PipelineProcess
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger("unify.worker")


def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topics if t in meta.topics for p in meta.topics[t].partitions]
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10) if tp.offset >= 0}
    finally:
        consumer.close()


class BrokerWatch:
    """Says once when the broker stops answering and once when it is back, in the log and
    for `unify status`. Meanwhile the Kafka clients reconnect with their own backoff and no
    batch is acked, so nothing is lost."""

    def __init__(self, lake, bootstrap: str):
        self.file, self.bootstrap, self.since = outage_file(lake), bootstrap, None
        self.file.unlink(missing_ok=True)

    def check(self) -> None:
        up = reachable(self.bootstrap)
        if not up and self.since is None:
            self.since = time.time()
            log.warning("broker %s unreachable; the worker keeps retrying until it is back", self.bootstrap)
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.file.write_text(json.dumps({"bootstrap": self.bootstrap, "since": self.since}))
        elif up and self.since is not None:
            log.warning("broker %s back after %.0f s; resuming", self.bootstrap, time.time() - self.since)
            self.file.unlink(missing_ok=True)
            self.since = None


# Faust fixes aiokafka's fetch wait at 1.5 s. The embedded broker answers a fetch only when
# its wait ends, even while events keep arriving (measured at 1,000 events/s: a fetch every
# 0.76 s with that wait, every 54 ms with 100 ms), so events waited up to that long before
# the worker saw them. Kafka answers as soon as data arrives; a short wait only costs a few
# idle fetch requests.
FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class _Consumer(faust_kafka.Consumer):
    def _new_consumer_thread(self):
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer


class Feed:
    """Messages taken from the topics and not yet handed to the pipeline process, in order.
    `put` waits while a full batch is already waiting, which holds the consumer back."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self._messages: list[Message] = []
        self._changed = asyncio.Condition()

    async def put(self, messages: list[Message]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._messages) < self.batch_size)
            self._messages.extend(messages)
            self._changed.notify_all()

    async def take(self) -> list[Message]:
        """Everything waiting, up to a batch; waits for at least one message."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._messages)
            batch = self._messages[:self.batch_size]
            del self._messages[:len(batch)]
            self._changed.notify_all()
            return batch


def build_app(settings: Settings, bootstrap: str, pipeline: PipelineProcess) -> faust.App:
    stream = settings.stream
    app = faust.App(
        stream.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=stream.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=5.0,
        broker_session_timeout=stream.session_timeout,  # how soon a dead worker's partitions move
        broker_heartbeat_interval=1.0,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, stream.batch_size * 2),
    )
    app.transport = _Transport(app.conf.broker_consumer, app)
    sources = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")
    feed = Feed(stream.batch_size)
    watch = BrokerWatch(settings.lake, bootstrap)

    @app.timer(interval=2.0)
    async def watch_broker():
        await asyncio.get_running_loop().run_in_executor(None, watch.check)

    @app.task
    async def write():
        while True:
            batch = await feed.take()
            try:
                result = await asyncio.wrap_future(pipeline.submit(batch))
            except Exception:  # the pipeline process died or a batch failed: restart, catch up
                log.exception("the pipeline failed; stopping the worker")
                os._exit(1)
            log.info("batch: %d events, %d contacts, %d orders, %d dead letters",
                     result.events, result.contacts, result.orders, result.dead_letters)

    @app.agent(sources, concurrency=1, name="unify")
    async def unify(events_stream):
        async for events in events_stream.take_events(stream.batch_size, within=stream.batch_seconds):
            await feed.put([Message(e.message.topic, e.message.partition, e.message.offset, e.message.value)
                            for e in events])

    return app


def prepare_topics(settings: Settings, bootstrap: str) -> None:
    stream = settings.stream
    ensure_topics(bootstrap, settings.input_topics + [stream.dead_letter_topic, stream.lineage_topic,
                                                      stream.segment_events_topic],
                  stream.partitions, compacted=[stream.lineage_topic])


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warn") -> None:
    """Prepare topics, lake and views, restore state, then run until a signal stops it."""
    prepare_topics(settings, bootstrap)
    pipeline = PipelineProcess(settings, bootstrap)
    try:
        caught_up = pipeline.catch_up(committed_offsets(bootstrap, settings.stream.app_id, settings.input_topics))
        if caught_up:
            log.warning("the lake was behind the consumer group: caught up %d events", caught_up)
        create_views(settings.warehouse, settings.current_lake, settings.engine.attributes, **settings.view_options)
        app = build_app(settings, bootstrap, pipeline)
        worker = faust.Worker(app, loglevel=loglevel, quiet=True)
        worker.execute_from_commandline()
    finally:
        pipeline.close()  # the batches already handed over are committed to the lake
