"""The Faust worker: source topics -> relay topic -> Pipeline (core + Delta sink).

Workers with the same app id form one consumer group. Each takes its share of the source
partitions in micro-batches (`take_events`) and forwards them to the relay topic, which has
one partition, read by a group of its own: the worker that holds it is the lake's single
writer (`Writer`), with the Pipeline in a child process (see streams.pipeline_process).
Adding a worker spreads the consuming; the relay partition moves to another worker when its
worker goes, and that worker restores the state from the lake first.

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
import threading
import time

import faust
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from faust.transport.drivers import aiokafka as faust_kafka

from sinks.warehouse import create_views
from streams.broker import outage_file, reachable, runtime_dir, writer_outage_file
from streams.compactor import Compactor
from streams.pipeline_process import PipelineProcess, lake_offsets
from streams.relay import batches, max_record_bytes, pack
from streams.settings import Settings
from unify.errors import first_line
from streams.topics import committed_offsets, ensure_topics

log = logging.getLogger("unify.worker")


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


RELAY_BUFFER = 64  # relay records (each up to relay.MAX_BYTES) the writer takes at most at once
WRITER_WAIT_SECONDS = 0.02  # what a light load waits before the writer takes a batch
# The relay's fetch wait is shorter than the source topics' (FETCH_MAX_WAIT_MS): every event
# passes this second hop, and the embedded broker holds a fetch for its whole wait. Idle,
# it costs a few dozen empty fetches a second.
WRITER_FETCH_WAIT_MS = 25


class Writer:
    """The lake's single writer, on a thread of its own: a consumer of the relay topic in the
    group `<app_id>.writer`, which gives the topic's one partition to one worker. That worker
    starts a PipelineProcess (restoring the state from the lake), hands it everything the
    relay holds each time it finishes a batch, and commits the relay offset once the batch is
    in the lake. When the partition moves to another worker, the pipeline closes: the other
    worker writes meanwhile, and this one's state goes stale.

    Its consumer is its own, apart from Faust's, so that relay records never queue behind
    source events."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.settings, self.bootstrap = settings, bootstrap
        self.relay = TopicPartition(settings.relay_topic, 0)
        self.pipeline: PipelineProcess | None = None
        self.compactor: Compactor | None = None  # with the pipeline
        self._done = 0  # the relay offset below which the lake has every record
        self._failure: Exception | None = None  # of a start in the assignment callback
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and leave the group."""
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        stream = self.settings.stream
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"{stream.app_id}.writer",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",  # a joining worker leaves it be
            "session.timeout.ms": int(stream.session_timeout * 1000), "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 3_600_000,  # a restore from a large lake takes minutes
            "fetch.wait.max.ms": WRITER_FETCH_WAIT_MS, "queued.max.messages.kbytes": 16_384})
        try:
            consumer.subscribe([self.relay.topic], on_assign=self._assigned, on_revoke=self._revoked,
                               on_lost=self._revoked)
            while not self._stopping.is_set():
                polled = consumer.consume(RELAY_BUFFER, WRITER_WAIT_SECONDS)
                try:
                    if self._failure is not None:
                        raise self._failure
                    records = self.unseen([(m.offset(), m.value()) for m in polled if m.error() is None])
                    for packed, after in batches(records, stream.batch_size):
                        result = self.pipeline.submit(packed, (self.relay.topic, 0, after),
                                                      merge=not self.compactor.busy).result()
                        consumer.commit(offsets=[TopicPartition(self.relay.topic, 0, after)], asynchronous=False)
                        self.compactor.written(result.current_rows)
                        log.info("batch: %d events, %d contacts, %d orders, %d dead letters",
                                 result.events, result.contacts, result.orders, result.dead_letters)
                    # a full buffer means a backlog, which compaction would only slow down
                    if self.compactor is not None and self.compactor.due(caught_up=len(polled) < RELAY_BUFFER):
                        self.compactor.start()
                except Exception as exc:  # the lake unreachable, the pipeline process killed
                    self._recover(consumer, exc)
            consumer.close()  # leaves the group, so the partition moves at once
        except Exception:  # the broker client itself failed: a restart recovers
            log.exception("the writer failed; stopping the worker")
            os._exit(1)
        finally:
            self._close()

    def _recover(self, consumer: Consumer, failure: Exception) -> None:
        """Start over from the lake, as a restarted worker would, without stopping this one:
        a new pipeline restores the state the lake holds and takes the relay again from the
        last committed batch. Retried with backoff while the lake stays out of reach; said
        once in the log when it fails and once when it is back."""
        log.warning("the pipeline failed (%s); restarting it from the lake", first_line(failure))
        outage = writer_outage_file(self.settings.lake)  # for `unify status`
        outage.parent.mkdir(parents=True, exist_ok=True)
        outage.write_text(json.dumps({"since": time.time(), "reason": first_line(failure)}))
        since, delay = time.monotonic(), 1.0
        try:
            while not self._stopping.is_set():
                self._close()
                self._failure = None
                try:
                    committed = consumer.committed([self.relay], timeout=10)[0].offset
                    consumer.seek(TopicPartition(self.relay.topic, 0, committed if committed >= 0 else OFFSET_BEGINNING))
                    self._start(consumer)
                    log.warning("the pipeline is back after %.0f s", time.monotonic() - since)
                    return
                except Exception as exc:
                    log.info("the lake is still failing (%s); retrying in %.0f s", first_line(exc), delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 30.0)
        finally:
            outage.unlink(missing_ok=True)

    def unseen(self, records: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """The relay records, as (offset, record), less those the lake already has: only
        the first ones after a start can be."""
        if not self._done:
            return records
        kept = [(offset, record) for offset, record in records if offset >= self._done]
        if kept:
            self._done = 0
        return kept

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions or self.pipeline is not None:
            return
        try:
            self._start(consumer)
        except Exception as exc:  # raised from the consumer's poll, it would stop the worker
            self._failure = exc

    def _start(self, consumer: Consumer) -> None:
        settings = self.settings
        pipeline = PipelineProcess(settings, self.bootstrap)
        try:
            relay_at = consumer.committed([self.relay], timeout=10)[0].offset
            # The writer commits a relay offset once its batch is in the lake, so the next one
            # starts at or below the lake's relay offset, and skips up to it. With no offset
            # committed the broker is a new one, whose relay starts again from zero.
            self._done = lake_offsets(settings.current_lake, [self.relay.topic]).get(
                (self.relay.topic, 0), 0) if relay_at >= 0 else 0
            # Events the group has taken are in the relay or the lake, unless the relay lost
            # them (its retention passed, or the topic was replaced): then read them again.
            low, high = consumer.get_watermark_offsets(self.relay, timeout=10)
            lost = not low <= max(relay_at, 0) < high
            caught_up = pipeline.catch_up(committed_offsets(self.bootstrap, settings.stream.app_id, settings.input_topics)
                                          if lost else {})  # restores the state first
            if caught_up:
                log.warning("the lake was behind the consumer group: caught up %d events", caught_up)
            create_views(settings.warehouse, settings.current_lake, settings.engine.attributes, **settings.view_options)
        except BaseException:
            pipeline.close()
            raise
        self.pipeline = pipeline
        self.compactor = Compactor(settings.lake, settings.stream)
        log.warning("this worker writes the lake %s", settings.lake)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and self.pipeline is not None:
            self._close()
            if not self._stopping.is_set():
                log.warning("another worker writes the lake now")

    def _close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        if self.compactor is not None:
            self.compactor.close()
            self.compactor = None


def build_app(settings: Settings, bootstrap: str) -> faust.App:
    stream = settings.stream
    datadir = runtime_dir(settings.lake) / "faust"  # not the working directory
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        stream.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(datadir),
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
        producer_max_request_size=max_record_bytes(settings.stream.max_event_bytes),
    )
    app.transport = _Transport(app.conf.broker_consumer, app)
    sources = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")
    relay = app.topic(settings.relay_topic, key_serializer="raw", value_serializer="raw", partitions=1)
    watch = BrokerWatch(settings.lake, bootstrap)

    @app.timer(interval=2.0)
    async def watch_broker():
        await asyncio.get_running_loop().run_in_executor(None, watch.check)

    @app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs):
        if revoked:
            log.warning("rebalancing: a worker joined or left the group")

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs):
        log.warning("assigned %s", ", ".join(f"{t}[{p}]" for t, p in sorted(assigned)) or "nothing")

    @app.agent(sources, concurrency=1, name="forward")
    async def forward(events_stream):
        async for events in events_stream.take_events(stream.batch_size, within=stream.batch_seconds):
            sent = [await relay.send(value=record) for record in pack(e.message for e in events)]
            await asyncio.gather(*sent)  # acked only once the relay holds them

    return app


def prepare_topics(settings: Settings, bootstrap: str) -> None:
    stream = settings.stream
    ensure_topics(bootstrap, settings.input_topics + [stream.dead_letter_topic, stream.lineage_topic,
                                                      stream.segment_events_topic],
                  stream.partitions, compacted=[stream.lineage_topic])
    ensure_topics(bootstrap, [settings.relay_topic], 1, config={"max.message.bytes": str(max_record_bytes(settings.stream.max_event_bytes))})


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warn") -> None:
    """Prepare the topics, then run until a signal stops the worker."""
    prepare_topics(settings, bootstrap)
    writer = Writer(settings, bootstrap)
    writer.start()
    try:
        faust.Worker(build_app(settings, bootstrap), loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        writer.stop()  # the batch in hand is committed to the lake
