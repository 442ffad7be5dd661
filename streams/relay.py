"""The relay topic's record format: a run of source messages, with their coordinates, in one
Kafka record.

Every worker forwards what it consumes from its share of the source partitions to the relay
topic, which has one partition, so whichever worker holds it is the lake's single writer
(see streams.worker). A record keeps each message's topic, partition, offset and exact bytes,
so the writer's dead letters and its offsets in the lake name the source, not the relay.

Layout: a version byte, a 4-byte big-endian header length, the header (JSON: the topics, then
one `[topic index, partition, offset, length]` per message, length -1 for a tombstone), and
the values back to back.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from streams.pipeline import Message

VERSION = b"\x01"
# under Kafka's default 1 MB record limit; one larger message still travels alone (the
# relay topic takes records as large as the largest event, see streams.worker)
MAX_BYTES = 512 * 1024
HEADER_BYTES = 48  # at most, per message: its entry in the header


def max_record_bytes(max_event_bytes: int) -> int:
    """The largest relay record: a run of messages, or one event as large as the sources
    may carry (larger ones are dead-lettered, with their bytes), with room for the header."""
    return max(MAX_BYTES, max_event_bytes) + 64 * 1024


def pack(messages: Iterable[Message], max_bytes: int = MAX_BYTES) -> Iterator[bytes]:
    """The messages as relay records of at most `max_bytes` each (a larger message alone in
    one), in order. Anything with a topic, partition, offset and value will do (Faust's own
    messages, which the worker forwards as they are)."""
    run: list[Message] = []
    size = 0
    for m in messages:
        n = HEADER_BYTES + (len(m.value) if m.value is not None else 0)
        if run and size + n > max_bytes:
            yield _record(run)
            run, size = [], 0
        run.append(m)
        size += n
    if run:
        yield _record(run)


def _record(messages: list[Message]) -> bytes:
    topics = {t: i for i, t in enumerate(dict.fromkeys(m.topic for m in messages))}
    head = orjson.dumps([list(topics), [[topics[m.topic], m.partition, m.offset,
                                         -1 if m.value is None else len(m.value)] for m in messages]])
    return b"".join([VERSION, len(head).to_bytes(4, "big"), head,
                     *(m.value for m in messages if m.value is not None)])


def _header(record: bytes) -> tuple[list, int]:
    """The record's header and where its values start."""
    if record[:1] != VERSION:
        raise ValueError(f"not a relay record of version {VERSION[0]} (starts with {record[:1]!r})")
    end = 5 + int.from_bytes(record[1:5], "big")
    return orjson.loads(record[5:end]), end


def unpack(record: bytes) -> list[Message]:
    (topics, rows), end = _header(record)
    out = []
    for topic, partition, offset, length in rows:
        value = None
        if length >= 0:
            value, end = record[end:end + length], end + length
        out.append(Message(topics[topic], partition, offset, value))
    return out


def batches(records: Iterable[tuple[int, bytes]], batch_size: int) -> Iterator[tuple[list[bytes], int]]:
    """Relay records, as (offset, record) in order, gathered whole into batches of at most
    `batch_size` messages (a record is never split); each with the relay offset after it.

    The records stay packed, counted from their headers: the pipeline process unpacks them,
    which leaves the worker's interpreter to Faust."""
    batch: list[bytes] = []
    size, after = 0, None
    for offset, record in records:
        (_, rows), _ = _header(record)
        n = len(rows)
        if batch and size + n > batch_size:
            yield batch, after
            batch, size = [], 0
        batch.append(record)
        size += n
        after = offset + 1
    if after is not None:
        yield batch, after
