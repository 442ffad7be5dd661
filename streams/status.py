"""How far the lake is behind the source topics: per topic-partition lag and last commit."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from sinks.delta import read_checkpoints
from streams.broker import BrokerError, outage_file, writer_outage_file


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end_offset: int
    committed: int
    committed_at: object

    @property
    def lag(self) -> int:
        # a commit past the end comes from another broker (or a recreated topic): none of
        # this broker's records is known to be in the lake yet
        return self.end_offset - self.committed if self.committed <= self.end_offset else self.end_offset


def end_offsets(bootstrap: str, topics: list[str], timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """Offset after the last record of each partition.

    The reported high watermark is only the starting point: some Kafka-compatible brokers
    (the embedded one among them) report it per record batch, not per record, so the last
    batch is read to find its last offset. On Apache Kafka this reads one record.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unify-status",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 50,
                         "log_level": 0})  # an unreachable broker is reported once, below
    try:
        try:
            meta = consumer.list_topics(timeout=timeout)
        except Exception as exc:
            raise BrokerError(f"cannot reach the broker at {bootstrap} ({exc})") from None
        ends: dict[tuple[str, int], int] = {}
        for topic in topics:
            t = meta.topics.get(topic)
            if t is None or t.error is not None:
                ends[(topic, 0)] = 0
                continue
            for p in t.partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                ends[(topic, p)] = max(high, 0)
        tail = [TopicPartition(t, p, end - 1) for (t, p), end in ends.items() if end > 0]
        if tail:
            consumer.assign(tail)
            pending = {(tp.topic, tp.partition) for tp in tail}  # not read from yet
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                batch = consumer.consume(100_000, 0.2)
                if not batch and not pending:
                    break
                for m in batch:
                    if m.error() is None:
                        tp = (m.topic(), m.partition())
                        pending.discard(tp)
                        ends[tp] = max(ends[tp], m.offset() + 1)
        return ends
    finally:
        consumer.close()


def outage_note(settings) -> str:
    """What is known without the broker: whether the worker sees the outage, and how far the
    lake is committed."""
    path = outage_file(settings.lake)
    worker = (f"the worker has found it unreachable since "
              f"{time.strftime('%H:%M:%S', time.localtime(json.loads(path.read_text())['since']))} "
              "and keeps retrying" if path.exists() else "no worker reports an outage")
    stamps = [at for _, _, at in read_checkpoints(settings.current_lake).values() if at is not None]
    return f"{worker}; the lake is committed up to {max(stamps) if stamps else 'nothing yet'}"


def writer_note(settings) -> str | None:
    """What the worker says while it cannot write the lake, or None."""
    path = writer_outage_file(settings.lake)
    if not path.exists():
        return None
    outage = json.loads(path.read_text())
    return (f"the worker has failed to write the lake since "
            f"{time.strftime('%H:%M:%S', time.localtime(outage['since']))} ({outage['reason']}) and keeps retrying")


def lag_report(bootstrap: str, topics: list[str], lake: Path) -> list[PartitionLag]:
    done = read_checkpoints(lake)  # before the broker: see `unify status`
    ends = end_offsets(bootstrap, topics)
    return [PartitionLag(t, p, end, done.get((t, p), (0, 0, None))[0], done.get((t, p), (0, 0, None))[2])
            for (t, p), end in sorted(ends.items())]


def wait_until_caught_up(bootstrap: str, topics: list[str], lake: Path, timeout: float,
                         on_progress=None, poll: float = 0.5) -> list[PartitionLag]:
    """Block until every source partition's end offset is committed to the lake."""
    deadline = time.monotonic() + timeout
    while True:
        report = lag_report(bootstrap, topics, lake)
        if on_progress:
            on_progress(report)
        if all(r.lag == 0 for r in report):
            return report
        if time.monotonic() > deadline:
            behind = sum(r.lag for r in report)
            raise BrokerError(f"still {behind} events behind after {timeout:.0f} s; is the worker running (unify run)?")
        time.sleep(poll)
