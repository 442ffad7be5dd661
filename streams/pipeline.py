"""One micro-batch of raw source messages through the core, ready for the sink.

The live worker, `unify resolve` (files) and replays all call `Pipeline.process`, so every
path runs the same code. Bad input becomes a dead-letter entry; it never stops the batch.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sinks.delta import DeltaSink
from sinks.restore import read_orders, restore_resolver
from sinks.segments import SegmentTracker
from streams.codec import SourceCodec, decode_override
from streams.enrich_stage import EnrichStage
from streams.settings import Settings
from unify.cdm import Change, Erasure, OrderChange
from unify.errors import InvalidRecord
from unify.resolver import Resolver


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class BatchResult:
    events: int
    contacts: int
    orders: int
    dead: list[dict]
    lineage: list
    segment_events: list[dict]


def tune_gc() -> None:
    """The engine keeps millions of small, long-lived objects: freeze what exists and collect
    less often, or the cyclic collector rescans them all (about a fifth of the time at 100k
    records)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


class Pipeline:
    def __init__(self, settings: Settings, lake: Path | None = None):
        self.settings = settings
        engine = settings.engine
        self.codecs = {s.topic: SourceCodec(s, settings.stream.max_event_bytes) for s in engine.sources}
        self.resolver = Resolver(engine.match, engine.survivorship, engine.attributes)
        self.sink = DeltaSink(lake or settings.lake, engine.attributes)
        self.enrich = EnrichStage(settings.enrich.half_life_days, settings.enrich.churn_window_days)
        restore_resolver(self.resolver, self.sink.lake, engine.attributes)
        for change in read_orders(self.sink.lake):
            self.enrich.apply_order(change, self.resolver)
        self.enrich.settle(self.resolver)  # the restored features are already in the lake
        self.segments = SegmentTracker(self.sink.lake, engine.attributes, **settings.view_options)
        self._segments_at = time.monotonic()
        tune_gc()

    def process(self, messages: Iterable[Message], record_offsets: bool = True) -> BatchResult:
        orders: dict[tuple[str, str], OrderChange] = {}
        overrides = []
        erasures = []
        dead: list[dict] = []
        offsets: dict[tuple[str, int], tuple[int, int]] = {}
        contacts = events = 0
        for m in messages:
            events += 1
            tp = (m.topic, m.partition)
            seen = offsets.get(tp, (0, 0))
            offsets[tp] = (max(seen[0], m.offset + 1), seen[1] + 1)
            codec = self.codecs.get(m.topic)
            try:
                if m.topic == self.settings.stream.overrides_topic:
                    command = decode_override(m.value, self.settings.stream.max_event_bytes)
                    if isinstance(command, Erasure):
                        erasures.append((command, self.resolver.erase(command.customer_id, command.at_ms)))
                    elif command is not None:
                        overrides.append(command)
                        self.resolver.override(command.left, command.right, command.kind, command.at_ms)
                    continue
                if codec is None:
                    raise InvalidRecord(f"unknown source topic {m.topic!r}; add it to sources in the config")
                change = codec.decode(m.value)
            except InvalidRecord as exc:
                dead.append({"topic": m.topic, "partition": m.partition, "offset": m.offset,
                             "reason": exc.reason, "value": m.value})
                continue
            if change is None:
                continue
            if isinstance(change, Change):
                contacts += 1
                self.resolver.apply(change)
            elif self.enrich.is_newer(change):  # replays and stale versions write nothing
                self.enrich.apply_order(change, self.resolver)
                orders[(change.source, change.key)] = change
        output = self.resolver.drain()
        self.enrich.apply_lineage(output.lineage, self.resolver)
        features = self.enrich.rows({c.customer_id for c in output.customers}, self.resolver)
        metrics = self.enrich.metrics_row() if orders else None
        self.sink.add(output, list(orders.values()), dead, offsets if record_offsets else {},
                      overrides, features, metrics, erasures)
        batch = self.sink.flush()
        # personal data goes from the logs' history too, not only from the current views
        self.sink.purge(records=[(l.source, l.source_key) for l in output.links if l.deleted],
                        customers=[e.customer_id for e in output.lineage if e.event == "deleted"],
                        erased=[rid for _, records in erasures for rid in records])
        segment_events = []
        if time.monotonic() - self._segments_at >= self.settings.stream.segments_every_seconds:
            segment_events = self.update_segments(batch)
        return BatchResult(events, contacts, len(orders), dead, output.lineage, segment_events)

    def update_segments(self, batch: int | None = None) -> list[dict]:
        """Segment membership changes since the last update (an SQL pass over the dimension)."""
        self._segments_at = time.monotonic()
        return self.segments.update(self.sink.batch - 1 if batch is None else batch)
