"""The Faust worker: source topics -> Pipeline (core + Delta sink), in micro-batches.

One agent with concurrency 1 is the single writer of the resolver shard. Batches come from
`take_events`, which acks a batch only after the loop body returns, i.e. after its Delta
commit: Kafka offsets never run ahead of the lake (at-least-once, idempotent effect).
The core runs in a thread so the event loop keeps heart-beating during a large batch.
"""
from __future__ import annotations

import asyncio
import json
import logging

import faust

from sinks.warehouse import create_views
from streams.pipeline import Message, Pipeline
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger("unify.worker")


def build_app(settings: Settings, bootstrap: str, pipeline: Pipeline) -> faust.App:
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
    dead_letters = app.topic(stream.dead_letter_topic, key_serializer="raw", value_serializer="raw")
    lineage = app.topic(stream.lineage_topic, key_serializer="raw", value_serializer="raw")
    segment_events = app.topic(stream.segment_events_topic, key_serializer="raw", value_serializer="raw")

    @app.agent(sources, concurrency=1, name="unify")
    async def unify(events_stream):
        loop = asyncio.get_running_loop()
        async for events in events_stream.take_events(stream.batch_size, within=stream.batch_seconds):
            messages = [Message(e.message.topic, e.message.partition, e.message.offset, e.message.value)
                        for e in events]
            result = await loop.run_in_executor(None, pipeline.process, messages)
            for d in result.dead:
                await dead_letters.send(value=d["value"], headers={
                    "reason": d["reason"].encode(), "topic": d["topic"].encode(),
                    "partition": str(d["partition"]).encode(), "offset": str(d["offset"]).encode()})
            for e in result.lineage:  # keyed by customer id on a compacted topic
                await lineage.send(key=e.customer_id.encode(), value=json.dumps({
                    "event": e.event, "customer_id": e.customer_id, "from_ids": list(e.from_ids),
                    "to_ids": list(e.to_ids), "at_ms": e.at_ms, "cause": e.cause}).encode())
            for e in result.segment_events:
                await segment_events.send(key=e["customer_id"].encode(), value=json.dumps(
                    {"segment": e["segment"], "customer_id": e["customer_id"], "event": e["event"],
                     "at_ms": e["written_at"]}).encode())
            if result.dead or result.lineage or result.segment_events:
                await app.producer.flush()  # delivered before the batch is acked
            log.info("batch: %d events, %d contacts, %d orders, %d dead letters",
                     result.events, result.contacts, result.orders, len(result.dead))

    return app


def prepare_topics(settings: Settings, bootstrap: str) -> None:
    stream = settings.stream
    ensure_topics(bootstrap, settings.input_topics + [stream.dead_letter_topic, stream.lineage_topic,
                                                      stream.segment_events_topic],
                  stream.partitions, compacted=[stream.lineage_topic])


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warn") -> None:
    """Prepare topics, lake and views, restore state, then run until a signal stops it."""
    prepare_topics(settings, bootstrap)
    pipeline = Pipeline(settings)
    create_views(settings.warehouse, settings.lake, settings.engine.attributes, **settings.view_options)
    app = build_app(settings, bootstrap, pipeline)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
