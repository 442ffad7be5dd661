"""Segment membership changes as events: who entered and who left each segment.

Membership is the config's SQL predicates over `dim_customer`; the tracker compares it
with the last membership it recorded and appends `entered`/`left` rows to the
`segment_events_log` Delta table, which a marketing tool can read (or consume from the
segment-events topic the worker publishes them to). The `segments` column of `dim_customer`
reads the recorded membership, so it is as fresh as the last update.
"""
from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from sinks.tables import SEGMENT_EVENTS
from sinks.views import membership_sql
from sinks.warehouse import connect, define_views


class SegmentTracker:
    def __init__(self, lake: Path, attributes: tuple[str, ...], measures: dict, segments: dict,
                 half_life_days: float = 90.0):
        self.lake, self.attributes = Path(lake), attributes
        self.measures, self.segments, self.half_life_days = measures, segments, half_life_days
        self.table = self.lake / "segment_events_log"  # created by the DeltaSink
        self.members = self._restore()

    def _restore(self) -> set[tuple[str, str]]:
        con = connect()
        try:
            return set(con.execute(f"""
                SELECT segment, customer_id FROM delta_scan('{self.table.resolve()}')
                QUALIFY row_number() OVER (PARTITION BY segment, customer_id ORDER BY batch DESC, written_at DESC) = 1
                AND event = 'entered'""").fetchall())
        finally:
            con.close()

    def update(self, batch: int) -> list[dict]:
        """Record and return the membership changes since the last update."""
        if not self.segments:
            return []
        con = connect()
        try:
            define_views(con, self.lake, self.attributes, temporary=True, measures=self.measures,
                         segments=self.segments, half_life_days=self.half_life_days)
            current = set(con.execute(membership_sql(self.segments)).fetchall())
        finally:
            con.close()
        now = int(time.time() * 1000)
        rows = [{"batch": batch, "written_at": now, "segment": s, "customer_id": c, "event": "entered"}
                for s, c in sorted(current - self.members)]
        rows += [{"batch": batch, "written_at": now, "segment": s, "customer_id": c, "event": "left"}
                 for s, c in sorted(self.members - current)]
        if rows:
            write_deltalake(str(self.table), pa.Table.from_pylist(rows, schema=SEGMENT_EVENTS), mode="append")
        self.members = current
        return rows
