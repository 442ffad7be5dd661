"""`unify rebuild`: replay every source topic from its first offset into a new version of
the dimension, then switch the views to it in one step.

The replay is not held to the live path's per-batch cost: events go through the core in
large chunks, the orders go through a second process (`streams.order_replay`: they carry no
customer id, so they need the partition only at the end), and the customers, links,
explanations and features are written once, as the final state.

What the replaced version knew carries over: customer ids (the same records keep their
ids; see `unify.clusters.carry_over`), erasures (their tombstones are kept, so a replayed
history cannot bring an erased person back) and the history logs, which a replay cannot
recreate (lineage, customer versions, erasures, segment events, model metrics). A worker
running meanwhile keeps the old version fresh; at the switch it moves to the new version
and replays what that version has not seen yet.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

from deltalake import DeltaTable, write_deltalake

from sinks import versions
from sinks.delta import TABLE_PROPERTIES, DeltaSink
from sinks.lake import remove_tree, uri
from sinks.restore import has_rows, read_state
from sinks.segments import SegmentTracker
from sinks.warehouse import connect, create_views
from streams.order_replay import OrderReplay
from streams.pipeline import Decoder, Message, settle_gc, tune_gc
from streams.settings import Settings
from streams.codec import encode_lineage
from streams.status import end_offsets
from streams.topics import advance_group, produce_all, producer, read_range
from unify.cdm import Change, Erasure, Override
from unify.clusters import id_number
from unify.errors import InvalidRecord
from unify.resolver import CustomerRow, Output, Resolver
from unify.spec import SALES_ORDER

HISTORY = ("lineage", "customers_log", "erasures_log", "segment_events_log", "model_metrics_log")


class Replay:
    """The core and sink of one rebuild: `add` chunks of messages, then `finish`."""

    def __init__(self, settings: Settings, new: Path, old: Path):
        engine = settings.engine
        self.settings = settings
        self.decoder = Decoder(settings)
        self.resolver = Resolver(engine.match, engine.survivorship, engine.attributes)
        _, links = read_state(old, engine.attributes)
        self.previous: dict[str, set] = defaultdict(set)
        for row in links:
            rid = (row.source, row.source_key)
            if row.deleted:  # erased or deleted: a replayed older version stays a no-op
                self.resolver.tombstones[rid] = (row.position, row.event_ms)
            else:
                self.previous[row.customer_id].add(rid)
        self.next_id, self.old_customers, self.done_erasures = _old_ids(old, engine.attributes)
        _copy_history(old, new)
        self.sink = DeltaSink(new, engine.attributes)  # its batches follow the copied ones
        self.overrides: list[Override] = []
        self.erasures: list[Erasure] = []
        self.events = 0
        self.dead_letters: list[dict] = []
        tune_gc()

    def add(self, messages: list[Message]) -> None:
        for m in messages:
            self.events += 1
            try:
                item = self.decoder.decode(m)
            except InvalidRecord as exc:
                # written with the final state, after the order process's batches
                self.dead_letters.append(self.decoder.dead_letter(m, exc))
                continue
            if isinstance(item, Change):
                self.resolver.apply(item)
            elif isinstance(item, Override):
                self.overrides.append(item)
                self.resolver.override(item.left, item.right, item.kind, item.at_ms)
            elif isinstance(item, Erasure):  # its customer id means something only at the end
                self.erasures.append(item)
        settle_gc()

    def finish(self, offsets: dict[tuple[str, int], int], orders: OrderReplay, part: int) -> list:
        """Carry ids over, apply the erasures, write the final state; returns the lineage.
        `orders` has written the orders; it folds them over the final partition while this
        process writes the links and explanations, then trains the churn model on the
        fold's examples; then it sends the feature rows in parts, each written with its
        customers' profiles. Nothing of the final state is held whole: it is written `part`
        rows of each kind at a time."""
        resolver, now = self.resolver, int(time.time() * 1000)
        # the membership of the copied segment history goes into the rows written below
        segments = SegmentTracker(self.sink, **self.settings.view_options)
        lineage = resolver.carry_ids_over(self.previous, self.next_id, now) if self.previous else []
        erased = [(e, resolver.erase(e.customer_id, e.at_ms)) for e in self.erasures
                  if (e.customer_id, e.at_ms) not in self.done_erasures]
        orders.enrich(resolver.ids, part)
        gone = sorted(set(self.previous) - set(resolver.ids.members))
        for i, rows in enumerate(resolver.snapshot(part)):
            if i == 0:
                lineage = rows.lineage = lineage + rows.lineage
                rows.customers = [resolver.profile(cid) for cid in gone if cid in self.old_customers]
                self.sink.add(rows, [], self.dead_letters, {}, self.overrides, erasures=erased)
            else:
                self.sink.add(rows, [], [], {})
            self.sink.flush()
        orders.train_churn()
        self.sink.purge(records=[], customers=gone, erased=[r for _, rs in erased for r in rs])
        for features in orders.feature_rows():  # the dimension's rows: features with the golden profile
            profiles = [resolver.profile(row["customer_id"]) for row in features]
            for row, profile in zip(features, profiles):
                row["profile"] = profile
            changed = Output(customers=[p for p in profiles if not self._unchanged(p)])
            self.sink.add(changed, [], [], {}, features=features)
            self.sink.flush()
        # last, with the offsets: the checkpoint says the version is complete
        self.sink.add(Output(), [], [], {tp: (end, 0) for tp, end in offsets.items()}, metrics=orders.metrics())
        self.sink.flush()
        segments.update()
        return lineage

    def _unchanged(self, row: CustomerRow) -> bool:
        """The replaced version's current row of this customer says the same: writing it
        again would add an empty version to the history."""
        old = self.old_customers.get(row.customer_id)
        return old is not None and old == _comparable(row)


def _comparable(row: CustomerRow) -> tuple:
    attributes = tuple(sorted((k, v) for k, v in row.attributes.items() if v is not None))
    return (attributes, tuple(sorted(row.winners.items())), row.source_count, tuple(row.sources),
            row.updated_ms or None, row.first_ms or None)


def _old_ids(old: Path, attributes: tuple[str, ...]) -> tuple[int, dict[str, tuple], set]:
    """The next unused id number, the current customer rows and the applied erasures of the
    replaced version."""
    con = connect()
    try:
        seen = [1]
        customers: dict[str, tuple] = {}
        if has_rows(old / "customers_log"):
            table = f"delta_scan('{uri(old / 'customers_log')}')"
            (top,) = con.execute(f"SELECT max(customer_id) FROM {table}").fetchone()
            seen.append(id_number(top) + 1 if top else 1)
            cols = ", ".join(f'"{a}"' for a in attributes)
            for r in con.execute(f"""
                    SELECT customer_id, winners, source_count, sources, epoch_ms(updated_at),
                           epoch_ms(first_seen_at), {cols}
                    FROM {table} QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY batch DESC) = 1
                    AND NOT deleted""").fetchall():
                values = tuple(sorted((a, v) for a, v in zip(attributes, r[6:]) if v is not None))
                customers[r[0]] = (values, tuple(sorted(json.loads(r[1]).items())), r[2], tuple(r[3]), r[4], r[5])
        if has_rows(old / "lineage"):
            (top,) = con.execute(f"""SELECT max(c) FROM (SELECT unnest(to_ids || from_ids || [customer_id]) AS c
                                     FROM delta_scan('{uri(old / 'lineage')}'))""").fetchone()
            seen.append(id_number(top) + 1 if top else 1)
        erasures = set()
        if has_rows(old / "erasures_log"):
            erasures = set(con.execute(f"""SELECT customer_id, epoch_ms("at")
                                           FROM delta_scan('{uri(old / 'erasures_log')}')""").fetchall())
        return max(seen), customers, erasures
    finally:
        con.close()


def _copy_history(old: Path, new: Path) -> None:
    for name in HISTORY:
        if has_rows(old / name):
            table = DeltaTable(str(old / name))
            write_deltalake(str(new / name), table.to_pyarrow_table(), mode="append",
                            configuration=TABLE_PROPERTIES)


def rebuild(settings: Settings, bootstrap: str, on_progress: Callable[[int, int], None] | None = None,
            chunk: int = 50_000, part: int = 20_000) -> dict:
    """Replay the topics into a new version and switch to it; returns a summary. `chunk`:
    events read at a time; `part`: rows of each kind written at a time at the end."""
    started = time.perf_counter()
    root, old = settings.lake, settings.current_lake
    ends = {tp: end for tp, end in end_offsets(bootstrap, settings.input_topics).items() if end > 0}
    total = sum(ends.values())
    new = versions.next_version(root)
    ordered = {s.topic for s in settings.engine.sources if s.kind == SALES_ORDER}
    orders = None
    try:
        orders = OrderReplay(settings, new, bootstrap)  # the process starts while the replay is set up
        replay = Replay(settings, new, old)
        orders.replay({tp: end for tp, end in ends.items() if tp[0] in ordered}, chunk)
        for records in read_range(bootstrap, {}, {tp: end for tp, end in ends.items() if tp[0] not in ordered}, chunk):
            replay.add([Message(*r) for r in records])
            orders.check()
            if on_progress:
                on_progress(replay.events + orders.events, total)
        order_dead, next_batch = orders.replayed()
        replay.events += orders.events
        replay.sink.batch = max(replay.sink.batch, next_batch)  # the final state comes last
        replay_seconds = time.perf_counter() - started
        lineage = replay.finish(ends, orders, part)
        create_views(settings.warehouse, new, settings.engine.attributes, **settings.view_options)
        versions.switch(root, new)
    except BaseException:
        try:
            if orders is not None:
                orders.stop()
        finally:
            with contextlib.suppress(OSError):
                remove_tree(new)
        raise
    orders.stop()
    if lineage:
        produce_all(producer(bootstrap), [(settings.stream.lineage_topic, *encode_lineage(e)) for e in lineage])
    # the workers' group starts where the new version is, if it is behind (it never read the
    # topics): else the first worker forwards every event again, for the writer to skip
    skipped = advance_group(bootstrap, settings.stream.app_id, ends)
    seconds = time.perf_counter() - started
    return {"events": replay.events, "dead_letters": len(replay.dead_letters) + order_dead,
            "source_records": len(replay.resolver), "customers": len(replay.resolver.ids.members),
            "id_changes": [e for e in lineage if e.cause == "rebuild"],
            "replay_seconds": round(replay_seconds, 2), "seconds": round(seconds, 2),
            "events_per_second": round(replay.events / seconds) if seconds else None,
            "previous": str(old), "version": str(new), "group_moved_past": skipped}
