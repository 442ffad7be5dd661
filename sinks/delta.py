"""Delta Lake sink: one micro-batch in, one commit per table out, offsets committed last.

Quix-style contract: `add` buffers, `flush` writes. The checkpoints table is written last in
each flush and carries, per topic-partition, the next offset to read both as a row and as a
Delta application transaction (`unify:<topic>:<partition>`), so the lake itself says how far
the stream has been applied. Rows are idempotent: a replayed batch rewrites the same
current state, which views read as the latest row per key.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from sinks.lake import location
from sinks.tables import COMPACTABLE, schemas
from unify.cdm import OrderChange
from unify.resolver import Output


# What a restart restores state from (orders, then links) is committed after everything
# derived from it, in this order; the checkpoint comes last of all.
_WRITTEN_LAST = ("sales_orders_log", "customer_links_log")


def _text(value) -> str | None:
    return None if value is None else str(value)


def _sql(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def txn_app_id(topic: str, partition: int) -> str:
    return f"unify:{topic}:{partition}"


def read_checkpoints(lake: Path) -> dict[tuple[str, int], tuple[int, int, object]]:
    """Per topic-partition: (next offset, events applied, last commit time) from the lake.

    The next offset is the latest commit's, not the highest ever: after the broker was
    replaced (the embedded one keeps nothing) offsets start again from zero.
    """
    path = location(lake) / "checkpoints"
    if not (path / "_delta_log").exists():
        return {}
    table = DeltaTable(str(path)).to_pyarrow_table(
        columns=["batch", "topic", "partition", "next_offset", "events", "written_at"])
    out: dict[tuple[str, int], tuple[int, int, object]] = {}
    for row in sorted(table.to_pylist(), key=lambda r: r["batch"]):
        tp = (row["topic"], row["partition"])
        _, events, at = out.get(tp, (0, 0, None))
        out[tp] = (row["next_offset"], events + row["events"],
                   max(at, row["written_at"]) if at else row["written_at"])
    return out


def dead_letter_counts(lake: Path) -> dict[tuple[str, int], int]:
    """Rejected events per topic-partition (each offset once, however often it was replayed)."""
    path = location(lake) / "dead_letters"
    if not (path / "_delta_log").exists():
        return {}
    table = DeltaTable(str(path)).to_pyarrow_table(columns=["topic", "partition", "offset"])
    out: dict[tuple[str, int], int] = {}
    for topic, partition, _ in set(zip(*(table[c].to_pylist() for c in ("topic", "partition", "offset")))):
        out[(topic, partition)] = out.get((topic, partition), 0) + 1
    return out


# File statistics (kept in the Delta log for good) only on `batch`: min/max values of names
# or e-mails there would outlive an erasure. A Delta log checkpoint every 10 commits, not the
# default 100: every query replays the commits since the last one, about 0.5 ms each per
# table it reads, and each batch is a commit.
TABLE_PROPERTIES = {"delta.dataSkippingStatsColumns": "batch", "delta.checkpointInterval": "10"}


def ensure_table(path: Path, schema: pa.Schema) -> None:
    """Create the table, or add the schema's missing columns and properties to it."""
    if not (path / "_delta_log").exists():
        DeltaTable.create(str(path), schema=schema, mode="ignore", configuration=TABLE_PROPERTIES)
        return
    table = DeltaTable(str(path))
    properties = table.metadata().configuration
    if any(properties.get(k) != v for k, v in TABLE_PROPERTIES.items()):  # a lake from before
        table.alter.set_table_properties(TABLE_PROPERTIES)
    existing = table.schema().to_arrow()
    missing = [f for f in schema if f.name not in pa.schema(existing).names]
    if missing:  # a new attribute in the config: add nullable columns, no rewrite
        empty = pa.Table.from_pylist([], schema=schema)
        write_deltalake(str(path), empty, mode="append", schema_mode="merge")


class DeltaSink:
    def __init__(self, lake: Path, attributes: tuple[str, ...]):
        self.lake = location(lake)
        self.attributes = attributes
        self.schemas = schemas(attributes)
        self.lake.mkdir(parents=True, exist_ok=True)
        for name, schema in self.schemas.items():
            self._ensure(name, schema)
        self.batch = self._last_batch() + 1
        self._rows: dict[str, list[dict]] = {name: [] for name in self.schemas}
        self._offsets: dict[tuple[str, int], tuple[int, int]] = {}
        self._tables: dict[str, DeltaTable] = {}
        # customer -> the segments it is in, as the segment tracker last recorded them
        self.segments: dict[str, tuple[str, ...]] = {}
        self.appended: Counter[str] = Counter()  # files appended per log, for `compaction.merge_log`
        self.current_rows = 0  # rows appended to the current-state logs, for the compactor

    def _ensure(self, name: str, schema: pa.Schema) -> None:
        ensure_table(self.lake / name, schema)

    def _last_batch(self) -> int:
        """The highest batch in any log, from the Delta files' statistics (no data read)."""
        last = 0
        for name in self.schemas:
            actions = pa.table(DeltaTable(str(self.lake / name)).get_add_actions(flatten=True))
            if actions.num_rows and "max.batch" in actions.column_names:
                last = max(last, pc.max(actions["max.batch"]).as_py() or 0)
        return last

    def add(self, output: Output, orders: list[OrderChange], dead: list[dict],
            offsets: dict[tuple[str, int], tuple[int, int]], overrides: list = (),
            features: list[dict] = (), metrics: dict | None = None, erasures: list = ()) -> None:
        now = int(time.time() * 1000)
        b = self.batch
        profiles: dict[int, dict] = {}  # a profile goes to two logs: its columns are built once

        def profile(c) -> dict:
            columns = profiles.get(id(c))
            if columns is None:
                columns = profiles[id(c)] = self._profile(c)
            return columns

        for link in output.links:
            self._rows["customer_links_log"].append({
                "batch": b, "written_at": now, "source": link.source, "source_key": link.source_key,
                "customer_id": link.customer_id, "rule": link.rule, "score": link.score,
                "matched_source": link.matched_source, "matched_key": link.matched_key,
                "deleted": link.deleted, "position": link.position, "event_at": link.event_ms,
                "first_at": link.first_ms, **{a: link.attributes.get(a) for a in self.attributes},
            })
        for c in output.customers:
            self._rows["customers_log"].append({"batch": b, "written_at": now, **profile(c)})
        for i, e in enumerate(output.lineage):
            self._rows["lineage"].append({
                "batch": b, "seq": i, "event": e.event, "customer_id": e.customer_id,
                "from_ids": list(e.from_ids), "to_ids": list(e.to_ids), "at": e.at_ms, "cause": e.cause,
            })
        for o in orders:
            d = o.order
            self._rows["sales_orders_log"].append({
                "batch": b, "written_at": now, "source": o.source, "order_key": o.key,
                "customer_source": d.get("customerSource"), "customer_key": d.get("customerRef"),
                "deleted": o.op == "delete", "position": o.position, "ordered_at": d.get("orderedMs"),
                "total_amount": d.get("totalAmount"), "currency": d.get("currency"),
                "store_id": d.get("storeId"), "channel": d.get("channel"), "lines": d.get("lines"),
            })
        for x in output.explanations:
            self._rows["match_explanations_log"].append({
                "batch": b, "written_at": now, "left_source": x.left[0], "left_key": x.left[1],
                "right_source": x.right[0], "right_key": x.right[1], "rule": x.rule,
                "level": x.level, "score": x.score, "deleted": x.deleted,
                "conditions": [{"attribute": c.attribute, "compare": c.compare,
                                "left": _text(c.left), "right": _text(c.right),
                                "score": c.score, "threshold": c.threshold} for c in x.conditions],
            })
        for g in output.generic_keys:
            self._rows["generic_keys_log"].append({
                "batch": b, "written_at": now, "block_key": g.key, "attributes": g.attributes,
                "value": g.values, "records": g.records, "generic": g.generic})
        for o in overrides:
            self._rows["overrides_log"].append({
                "batch": b, "written_at": now, "kind": o.kind, "left_source": o.left[0],
                "left_key": o.left[1], "right_source": o.right[0], "right_key": o.right[1],
                "at": o.at_ms, "reason": o.reason})
        for f in features:  # with its profile: the dimension's one row per customer
            row = dict(f)
            columns = profile(row.pop("profile"))
            self._rows["customer_features_log"].append({"batch": b, "written_at": now, **row, **columns,
                                                        "segments": self.segments.get(columns["customer_id"], ())})
        for c in output.customers:
            if c.deleted:
                self._rows["customer_features_log"].append(
                    {"batch": b, "written_at": now, "customer_id": c.customer_id, "deleted": True})
        if metrics is not None:
            self._rows["model_metrics_log"].append({"batch": b, "written_at": now, **metrics})
        for erasure, records in erasures:  # recorded without personal data
            self._rows["erasures_log"].append({
                "batch": b, "written_at": now, "customer_id": erasure.customer_id,
                "records": len(records), "at": erasure.at_ms, "reason": erasure.reason})
        for d in dead:
            self._rows["dead_letters"].append({"batch": b, "written_at": now, **d})
        for tp, (next_offset, events) in offsets.items():
            prev = self._offsets.get(tp, (0, 0))
            self._offsets[tp] = (max(prev[0], next_offset), prev[1] + events)

    def _profile(self, c) -> dict:
        return {"customer_id": c.customer_id, "deleted": c.deleted, "source_count": c.source_count,
                "sources": list(c.sources), "winners": json.dumps(c.winners, sort_keys=True),
                "updated_at": c.updated_ms or None, "first_seen_at": c.first_ms or None,
                **{a: c.attributes.get(a) for a in self.attributes}}

    def flush(self) -> int:
        """Write every buffered table, then the orders and links, then the checkpoint.

        Orders and links are what a restart restores its state from, so they are committed
        after everything derived from them: a crash before them replays the batch into the
        same rows (views read the logs idempotently); a crash after them leaves nothing
        derived unwritten. Returns the batch number written.
        """
        written = self.batch
        last = {name: i + 1 for i, name in enumerate(_WRITTEN_LAST)}
        for name in sorted(self._rows, key=lambda n: last.get(n, 0)):
            if self._rows[name] and name != "checkpoints":
                self._append(name, self._rows[name])
        if self._offsets:
            now = int(time.time() * 1000)
            rows = [{"batch": written, "written_at": now, "topic": t, "partition": p,
                     "next_offset": off, "events": n} for (t, p), (off, n) in sorted(self._offsets.items())]
            txns = [Transaction(txn_app_id(t, p), off, now) for (t, p), (off, _) in self._offsets.items()]
            self._append("checkpoints", rows, CommitProperties(app_transactions=txns))
        self._rows = {name: [] for name in self.schemas}
        self._offsets = {}
        self.batch += 1
        return written

    def write_segments(self, events: list[dict], rows: pa.Table) -> None:
        """A membership update, as its own batch: the current rows of the customers whose
        segments changed, then the events (which a restart restores the membership from)."""
        schema = self.schemas["customer_features_log"]
        if rows.num_rows:
            self._write("customer_features_log", rows.select(schema.names).cast(schema))
        self._append("segment_events_log", events)
        self.batch += 1

    def purge(self, records: list[tuple[str, str]], customers: list[str], erased: list[tuple[str, str]]) -> None:
        """Delete the personal data of deleted records and customers from the logs' history.

        Their tombstone rows stay (they carry no attributes); older versions, explanations
        with their values, golden-profile versions and features go. Files are removed from
        disk by `unify compact --vacuum`.
        """
        if records:
            refs = " OR ".join(f"(source = {_sql(s)} AND source_key = {_sql(k)})" for s, k in records)
            self._delete("customer_links_log", f"NOT deleted AND ({refs})")
            sides = " OR ".join(f"({side}_source = {_sql(s)} AND {side}_key = {_sql(k)})"
                                for s, k in records for side in ("left", "right"))
            self._delete("match_explanations_log", f"NOT deleted AND ({sides})")
        if customers:
            ids = ", ".join(_sql(c) for c in customers)
            for name in ("customers_log", "customer_features_log"):
                self._delete(name, f"customer_id IN ({ids})")
        if erased:  # versions of other customers whose golden values came from these records
            won = " OR ".join(f"winners LIKE {_sql('%' + json.dumps(f'{s}/{k}') + '%')}" for s, k in erased)
            for name in ("customers_log", "customer_features_log"):
                self._delete(name, won)

    def table(self, name: str) -> DeltaTable:
        """A log, up to date: a table held open reads only the commits since its last use (a
        compaction may have made some), where opening it by path reads its whole log again,
        which made each append 2–3 times as slow after a few hundred commits."""
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = DeltaTable(str(self.lake / name))
        else:
            table.update_incremental()
        return table

    def _delete(self, name: str, predicate: str) -> None:
        self._committed(lambda: self.table(name).delete(predicate))

    @staticmethod
    def _committed(commit, attempts: int = 5) -> None:
        """Run a commit again when it conflicts with one the compactor made meanwhile (it
        rewrites the logs in a process of its own); a failed commit left nothing behind."""
        for attempt in range(attempts):
            try:
                commit()
                return
            except CommitFailedError:
                if attempt == attempts - 1:
                    raise

    def _append(self, name: str, rows: list[dict], commit: CommitProperties | None = None) -> None:
        self._write(name, pa.Table.from_pylist(rows, schema=self.schemas[name]), commit)

    def _write(self, name: str, table: pa.Table, commit: CommitProperties | None = None) -> None:
        self._committed(lambda: write_deltalake(self.table(name), table, mode="append", commit_properties=commit))
        self.appended[name] += 1
        if name in COMPACTABLE:
            self.current_rows += table.num_rows
