"""Topic administration and publishing with confluent-kafka."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.broker import BrokerError


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int = 1,
                  compacted: Iterable[str] = (), config: dict[str, str] | None = None) -> None:
    """Create the topics that do not exist yet, with `config` (and compaction for those in
    `compacted`)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    compacted = set(compacted)
    wanted = [NewTopic(t, partitions, 1, config={**(config or {}), **({"cleanup.policy": "compact"} if t in compacted else {})})
              for t in dict.fromkeys(topics)]
    for topic, future in admin.create_topics(wanted, request_timeout=15).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {topic}: {exc.args[0].str()}") from None


def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topics if t in meta.topics for p in meta.topics[t].partitions]
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10) if tp.offset >= 0}
    finally:
        consumer.close()


def advance_group(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> int:
    """Commit `offsets` for a consumer group on the partitions where it is behind them (where
    it never read, at zero); returns how far it moved. Members the group has meanwhile read
    on from their own positions (Kafka refuses such a commit; either way nothing is lost,
    as the caller's offsets are those of records it has)."""
    try:
        committed = committed_offsets(bootstrap, group, sorted({t for t, _ in offsets}))
        behind = {tp: offset for tp, offset in offsets.items() if committed.get(tp, 0) < offset}
        if behind:
            consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
            try:
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in behind.items()], asynchronous=False)
            finally:
                consumer.close()
        return sum(offset - committed.get(tp, 0) for tp, offset in behind.items())
    except KafkaException:
        return 0


def read_range(bootstrap: str, start: dict[tuple[str, int], int], end: dict[tuple[str, int], int],
               chunk: int = 50_000, stall_seconds: float = 60.0) -> Iterator[list[tuple[str, int, int, bytes | None]]]:
    """(topic, partition, offset, value) of every record from `start` (inclusive) to `end`
    (exclusive) per topic-partition, in chunks; no consumer group, nothing committed."""
    wanted = {tp: (start.get(tp, 0), stop) for tp, stop in end.items() if stop > start.get(tp, 0)}
    if not wanted:
        return
    # Once its read-ahead queue is full, librdkafka waits `fetch.queue.backoff.ms` (1 s by
    # default) before fetching again: a reader that empties it faster idles the rest.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unify-replay",
                         "enable.auto.commit": False, "fetch.max.bytes": 64 * 1024 * 1024,
                         "fetch.queue.backoff.ms": 100})
    try:
        consumer.assign([TopicPartition(t, p, lo) for (t, p), (lo, _) in wanted.items()])
        open_ = set(wanted)
        quiet_since = time.monotonic()
        while open_:
            out = []
            for m in consumer.consume(chunk, 1.0):
                tp = (m.topic(), m.partition())
                if m.error() is not None or tp not in open_:
                    continue
                lo, stop = wanted[tp]
                if lo <= m.offset() < stop:
                    out.append((tp[0], tp[1], m.offset(), m.value()))
                if m.offset() + 1 >= stop:
                    open_.discard(tp)
                    consumer.pause([TopicPartition(*tp)])
            if out:
                quiet_since = time.monotonic()
                yield out
            elif time.monotonic() - quiet_since > stall_seconds:
                missing = ", ".join(f"{t}[{p}]" for t, p in sorted(open_))
                raise BrokerError(f"no records from {missing} for {stall_seconds:.0f} s; is the broker up?")
    finally:
        consumer.close()


def producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
                     "compression.type": "lz4", "batch.num.messages": 10000})


def produce_all(prod: Producer, messages: Iterable[tuple], on_sent=None, every: int = 2000) -> int:
    """Publish (topic, key, value) or (topic, key, value, headers) tuples; returns the count.
    Waits for every delivery."""
    errors: list[str] = []

    def delivered(err, msg):
        if err is not None:
            errors.append(err.str())

    n = 0
    for topic, key, value, *headers in messages:
        while True:
            try:
                prod.produce(topic, value=value, key=key, headers=headers[0] if headers else None,
                             on_delivery=delivered)
                break
            except BufferError:
                prod.poll(0.1)
        n += 1
        if n % every == 0:
            prod.poll(0)
            if on_sent:
                on_sent(every)
    if prod.flush(60) > 0:
        raise BrokerError("timed out delivering to the broker")
    if errors:
        raise BrokerError(f"delivery failed: {errors[0]}")
    if on_sent:
        on_sent(n % every)
    return n


def jsonl_values(path: Path, key_columns: tuple[str, ...]) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Lines of a JSONL file of envelopes as Kafka (key, value); blank lines are tombstones."""
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            yield envelope_key(line, key_columns), (line or None)


def envelope_key(raw: bytes, key_columns: tuple[str, ...]) -> bytes | None:
    """Kafka key = the source key, so all versions of a record share a partition."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("payload"), dict):
        doc = doc["payload"]
    return row_key(doc, key_columns) if isinstance(doc, dict) else None


def row_key(envelope: dict, key_columns: tuple[str, ...]) -> bytes | None:
    row = envelope.get("after") or envelope.get("before")
    if not isinstance(row, dict):
        return None
    return "|".join(str(row.get(c)) for c in key_columns).encode()
