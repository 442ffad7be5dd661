"""The Faust worker: source topics -> relay topic -> Pipeline (core + Delta sink).

Workers with the same app id form one consumer group. Each takes its share of the source
partitions in micro-batches (`take_events`) and forwards them to the relay topic, which has
one partition: the worker that holds it is the lake's single writer, with the Pipeline in a
child process (see streams.pipeline_process). Adding a worker spreads the consuming; the
writer's partition moves to another worker when its worker goes, and that worker restores
the state from the lake first.

Nothing is acked before the next step holds it: a source batch once the relay has it, a relay
batch once its commit is in the lake. A worker that dies leaves the unacked events to the
next owner of their partitions, which sees a few again; replays are idempotent (the lake
records the source offsets and the engine keeps the last version by source position). The
writer takes everything waiting each time it finishes a batch: small batches under a light
load (fresh), up to `batch_size` under a heavy one (fast).
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
from streams.pipeline_process import PipelineProcess, lake_offsets
from streams.relay import batches, pack
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


def relay_holds_from(bootstrap: str, relay: str, start: int) -> bool:
    """Whether the relay still has its records from `start` on, and at least one."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{relay}.watermarks"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(relay, 0), timeout=10)
    finally:
        consumer.close()
    return low <= start < high


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


# relay records the writer takes at once, and holds while it writes (each up to
# relay.MAX_BYTES); a full buffer holds back this worker's consuming
RELAY_BUFFER = 8
WRITER_WAIT_SECONDS = 0.02  # what a light load waits before the writer takes a batch


class Writer:
    """The lake's single writer: a PipelineProcess while this worker holds the relay
    partition. It starts (restoring the state from the lake) when the partition comes, and
    is dropped when it goes, since another worker may write meanwhile."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.settings, self.bootstrap = settings, bootstrap
        self._pipeline: asyncio.Future | None = None
        self._done = 0  # the relay offset below which the lake has every record

    def start(self) -> None:
        if self._pipeline is None:
            self._pipeline = asyncio.get_running_loop().run_in_executor(None, self._start)

    async def pipeline(self) -> PipelineProcess:
        self.start()
        return await self._pipeline

    def unseen(self, records: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """The relay records, as (offset, record), less those the lake already has: only
        the first ones after a start can be."""
        if not self._done:
            return records
        kept = [(offset, record) for offset, record in records if offset >= self._done]
        if kept:
            self._done = 0
        return kept

    def _start(self) -> PipelineProcess:
        settings, relay = self.settings, (self.settings.relay_topic, 0)
        pipeline = PipelineProcess(settings, self.bootstrap)
        committed = committed_offsets(self.bootstrap, settings.stream.app_id, settings.input_topics + [relay[0]])
        relay_at = committed.pop(relay, None)
        # The writer acks a relay record once its batch is in the lake, so the next one starts
        # at or below the lake's relay offset, and skips up to it. With no offset committed
        # the broker is a new one, whose relay starts again from zero.
        self._done = lake_offsets(settings.current_lake, [relay[0]]).get(relay, 0) if relay_at is not None else 0
        # Events the group has taken are in the relay or the lake, unless the relay lost
        # them (its retention passed, or the topic was replaced): then read them again.
        lost = not relay_holds_from(self.bootstrap, relay[0], relay_at or 0)
        caught_up = pipeline.catch_up(committed if lost else {})  # restores the state first
        if caught_up:
            log.warning("the lake was behind the consumer group: caught up %d events", caught_up)
        create_views(settings.warehouse, settings.current_lake, settings.engine.attributes, **settings.view_options)
        log.warning("this worker writes the lake %s", settings.lake)
        return pipeline

    async def stop(self) -> None:
        """Close the pipeline once its batches are committed."""
        if self._pipeline is not None:
            pipeline, self._pipeline = await self._pipeline, None
            await asyncio.get_running_loop().run_in_executor(None, pipeline.close)
            log.warning("another worker writes the lake now")

    def close(self) -> None:
        """At exit, after the last batch was handed over: wait for its commit."""
        if self._pipeline is not None and self._pipeline.done() and not self._pipeline.exception():
            self._pipeline.result().close()


def build_app(settings: Settings, bootstrap: str, writer: Writer) -> faust.App:
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
    relay = app.topic(settings.relay_topic, key_serializer="raw", value_serializer="raw",
                      partitions=1, maxsize=RELAY_BUFFER)
    watch = BrokerWatch(settings.lake, bootstrap)

    @app.timer(interval=2.0)
    async def watch_broker():
        await asyncio.get_running_loop().run_in_executor(None, watch.check)

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs):
        log.warning("assigned %s", ", ".join(f"{t}[{p}]" for t, p in sorted(assigned)) or "nothing")
        if any(tp.topic == settings.relay_topic for tp in assigned):
            writer.start()
        else:
            await writer.stop()

    @app.agent(sources, concurrency=1, name="forward")
    async def forward(events_stream):
        async for events in events_stream.take_events(stream.batch_size, within=stream.batch_seconds):
            messages = [Message(e.message.topic, e.message.partition, e.message.offset, e.message.value)
                        for e in events]
            sent = [await relay.send(value=record) for record in pack(messages)]
            await asyncio.gather(*sent)  # acked only once the relay holds them

    @app.agent(relay, concurrency=1, name="write")
    async def write(relayed):
        async for events in relayed.take_events(RELAY_BUFFER, within=WRITER_WAIT_SECONDS):
            try:
                pipeline = await writer.pipeline()
                records = writer.unseen([(e.message.offset, e.message.value) for e in events])
                for messages, after in batches(records, stream.batch_size):
                    result = await asyncio.wrap_future(pipeline.submit(messages, (settings.relay_topic, 0, after)))
                    log.info("batch: %d events, %d contacts, %d orders, %d dead letters",
                             result.events, result.contacts, result.orders, result.dead_letters)
            except Exception:  # the pipeline process died or a batch failed: restart, catch up
                log.exception("the pipeline failed; stopping the worker")
                os._exit(1)

    return app


def prepare_topics(settings: Settings, bootstrap: str) -> None:
    stream = settings.stream
    ensure_topics(bootstrap, settings.input_topics + [stream.dead_letter_topic, stream.lineage_topic,
                                                      stream.segment_events_topic],
                  stream.partitions, compacted=[stream.lineage_topic])
    ensure_topics(bootstrap, [settings.relay_topic], 1)


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warn") -> None:
    """Prepare the topics, then run until a signal stops the worker."""
    prepare_topics(settings, bootstrap)
    writer = Writer(settings, bootstrap)
    worker = faust.Worker(build_app(settings, bootstrap, writer), loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        writer.close()
