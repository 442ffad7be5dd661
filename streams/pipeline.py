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

from sinks.compaction import merge_log, merge_small_files
from sinks.delta import DeltaSink
from sinks.held_orders_on_disk import HeldOrdersOnDisk
from sinks.restore import OrderChanges, restore_resolver, sorted_orders
from sinks.segments import SegmentTracker
from streams.churn_training import ChurnTrainer
from streams.codec import SourceCodec, decode_override
from streams.enrich_stage import EnrichStage
from streams.outbox import Outbox
from streams.settings import Settings
from unify.cdm import Change, Erasure, OrderChange, Override
from unify.errors import InvalidRecord
from unify.resolver import Resolver

# Orders from which a restore trains the churn model in a process of its own: below that,
# starting the process costs more than the training.
TRAIN_APART_FROM = 50_000


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class BatchResult:
    """What a batch did, in counts (its outputs went to the lake and the outbox)."""
    events: int
    contacts: int
    orders: int
    dead_letters: int
    current_rows: int = 0  # written to the current-state logs (what compaction rewrites)


def tune_gc() -> None:
    """The engine keeps millions of small, long-lived objects: freeze what exists, and leave
    the young ones to `settle_gc` after each batch, or the cyclic collector rescans them all
    (about a fifth of the time at 100k records). The threshold only guards a huge batch."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(1_000_000, 50, 1000)


def settle_gc() -> None:
    """After a batch: collect the cycles it left, then freeze what survived, so that later
    collections scan one batch's objects, not the engine's whole state (about a sixth of
    the time once a million records are known)."""
    gc.collect(1)
    gc.freeze()


class Decoder:
    """Raw message -> Change, OrderChange, Override, Erasure or None (a tombstone); raises
    InvalidRecord for anything malformed."""

    def __init__(self, settings: Settings):
        self.max_bytes = settings.stream.max_event_bytes
        self.overrides_topic = settings.stream.overrides_topic
        self.codecs = {s.topic: SourceCodec(s, self.max_bytes) for s in settings.engine.sources}

    def decode(self, m: Message):
        if m.topic == self.overrides_topic:
            return decode_override(m.value, self.max_bytes)
        codec = self.codecs.get(m.topic)
        if codec is None:
            raise InvalidRecord(f"unknown source topic {m.topic!r}; add it to sources in the config")
        return codec.decode(m.value)

    @staticmethod
    def dead_letter(m: Message, exc: InvalidRecord) -> dict:
        return {"topic": m.topic, "partition": m.partition, "offset": m.offset,
                "reason": exc.reason, "value": m.value}


class Pipeline:
    def __init__(self, settings: Settings, lake: Path | None = None, outbox: Outbox | None = None):
        self.settings, self.outbox = settings, outbox
        engine = settings.engine
        self.decoder = Decoder(settings)
        self.resolver = Resolver(engine.match, engine.survivorship, engine.attributes)
        self.sink = DeltaSink(lake or settings.current_lake, engine.attributes)
        # the orders on disk and the aggregates packed: as objects in memory they would be
        # most of a worker's memory
        self.enrich = EnrichStage(settings.enrich.half_life_days, settings.enrich.churn_window_days,
                                  orders=HeldOrdersOnDisk(), packed=True)
        with sorted_orders(self.sink.lake) as orders:  # sorted while the state is still small
            restore_resolver(self.resolver, self.sink.lake, engine.attributes)
            self._restore_activity(orders)
        self.enrich.settle(self.resolver.ids)  # the restored features are already in the lake
        self.segments = SegmentTracker(self.sink, **settings.view_options)
        self._segments_at = time.monotonic()
        if settings.stream.merge_after_files:
            merge_small_files(self.sink.lake, min_files=settings.stream.merge_after_files)
        tune_gc()

    def _restore_activity(self, orders: OrderChanges) -> None:
        """The ledger and the churn model from the lake's orders, in event-time order. From
        many orders the model trains in a process of its own meanwhile: the fold and the
        training take about as long each."""
        if len(orders) < TRAIN_APART_FROM:
            for change in orders:
                self.enrich.apply_order(change, self.resolver.ids)
            return
        enrichment = self.enrich.enrichment
        trainer = ChurnTrainer(enrichment.churn)
        enrichment.churn = trainer.feed
        try:
            for change in orders:
                self.enrich.apply_order(change, self.resolver.ids)
        except BaseException:
            trainer.stop()
            raise
        enrichment.churn = trainer.model()

    def process(self, messages: Iterable[Message], record_offsets: bool = True,
                relayed: tuple[str, int, int] | None = None, merge: bool = True) -> BatchResult:
        """One batch; `relayed` is the relay topic, partition and next offset it came to,
        recorded in the lake with the source offsets (see streams.worker). `merge=False`
        leaves small files alone (a compaction is rewriting the logs)."""
        rows_before = self.sink.current_rows
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
            try:
                change = self.decoder.decode(m)
            except InvalidRecord as exc:
                dead.append(self.decoder.dead_letter(m, exc))
                continue
            if change is None:
                continue
            if isinstance(change, Erasure):
                erasures.append((change, self.resolver.erase(change.customer_id, change.at_ms)))
            elif isinstance(change, Override):
                overrides.append(change)
                self.resolver.override(change.left, change.right, change.kind, change.at_ms)
            elif isinstance(change, Change):
                contacts += 1
                self.resolver.apply(change)
            elif self.enrich.is_newer(change):  # replays and stale versions write nothing
                self.enrich.apply_order(change, self.resolver.ids)
                orders[(change.source, change.key)] = change
        if relayed is not None:
            offsets[relayed[:2]] = (relayed[2], 0)
        output = self.resolver.drain()
        self.enrich.apply_lineage(output.lineage, self.resolver.ids)
        touched = {c.customer_id: c for c in output.customers}
        features = self.enrich.rows(touched, self.resolver.ids)
        for row in features:  # the dimension's row: features with the golden profile
            row["profile"] = touched.get(row["customer_id"]) or self.resolver.profile(row["customer_id"])
        metrics = self.enrich.metrics_row() if orders else None
        if self.outbox:
            self.outbox.send(dead=dead, lineage=output.lineage)
        self.sink.add(output, list(orders.values()), dead, offsets if record_offsets else {},
                      overrides, features, metrics, erasures)
        self.sink.flush()
        # personal data goes from the logs' history too, not only from the current views
        self.sink.purge(records=[(l.source, l.source_key) for l in output.links if l.deleted],
                        customers=[e.customer_id for e in output.lineage if e.event == "deleted"],
                        erased=[rid for _, records in erasures for rid in records])
        if time.monotonic() - self._segments_at >= self.settings.stream.segments_every_seconds:
            segment_events = self.update_segments()
            if self.outbox:
                self.outbox.send(segment_events=segment_events)
        if merge:
            self._merge_busiest_log()
        settle_gc()
        return BatchResult(events, contacts, len(orders), len(dead), self.sink.current_rows - rows_before)

    def _merge_busiest_log(self) -> None:
        """Merge the small files of the log that has had most appends, once it has had
        `stream.merge_after_files`: one log per batch, so no batch waits for them all."""
        after = self.settings.stream.merge_after_files
        log = max(self.sink.appended, key=self.sink.appended.get, default=None)
        if after and log is not None and self.sink.appended[log] >= after:
            merge_log(self.sink.table(log), log)
            self.sink.appended[log] = 0

    def update_segments(self) -> list[dict]:
        """Segment membership changes since the last update (an SQL pass over the dimension)."""
        self._segments_at = time.monotonic()
        return self.segments.update()
