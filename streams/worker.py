"""The Faust worker: source topics -> Pipeline (core + Delta sink), in micro-batches.

One agent with concurrency 1 feeds the single writer of the resolver shard, a Pipeline in a
child process (see streams.pipeline_process). Batches come from `take_events`, which acks a
batch when the loop body returns; the body only hands the batch over, so Faust gathers the
next one while the child writes this one. The consumer group's offsets can therefore run
ahead of the lake by the batches in flight (at most two); a worker that restarts processes
that gap first (`catch_up`), so nothing is lost, and replays are idempotent.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import faust
from confluent_kafka import Consumer, TopicPartition

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
    sources = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")
    # batches handed to the pipeline process, oldest first; one more waits in the queue while
    # the reporter awaits the oldest, so at most two are in flight
    in_flight: asyncio.Queue = asyncio.Queue(maxsize=1)
    watch = BrokerWatch(settings.lake, bootstrap)

    @app.timer(interval=2.0)
    async def watch_broker():
        await asyncio.get_running_loop().run_in_executor(None, watch.check)

    @app.task
    async def reporter():
        while True:
            batch = await in_flight.get()
            try:
                result = await batch
            except Exception:  # the pipeline process died or a batch failed: restart, catch up
                log.exception("the pipeline failed; stopping the worker")
                os._exit(1)
            log.info("batch: %d events, %d contacts, %d orders, %d dead letters",
                     result.events, result.contacts, result.orders, result.dead_letters)

    @app.agent(sources, concurrency=1, name="unify")
    async def unify(events_stream):
        async for events in events_stream.take_events(stream.batch_size, within=stream.batch_seconds):
            messages = [Message(e.message.topic, e.message.partition, e.message.offset, e.message.value)
                        for e in events]
            await in_flight.put(asyncio.wrap_future(pipeline.submit(messages)))

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
