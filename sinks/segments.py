"""Segment membership: who is in each segment, as events and in every customer's current row.

Membership is the config's SQL predicates over `dim_customer`. Each update compares it with
the membership last recorded, appends `entered`/`left` rows to `segment_events_log` (which a
marketing tool can read, or consume from the segment-events topic the worker publishes them
to), and writes a new current row for every customer whose segments changed. The current
row carries the `segments` list, so a lookup in `dim_customer` reads one table; the sink
puts the recorded membership into every row it writes between updates.
"""
from __future__ import annotations

import time

import pyarrow as pa

from sinks.delta import DeltaSink
from sinks.lake import uri
from sinks.views import current_sql, membership_sql
from sinks.warehouse import connect, define_views


class SegmentTracker:
    def __init__(self, sink: DeltaSink, measures: dict, segments: dict, half_life_days: float = 90.0):
        self.sink = sink
        self.measures, self.segments, self.half_life_days = measures, segments, half_life_days
        self.table = sink.lake / "segment_events_log"  # created by the DeltaSink
        sink.segments = self._restore()
        self._con = None  # with the views defined once: defining them took 3/4 of a pass

    def _views(self):
        if self._con is None:
            self._con = connect()
            define_views(self._con, self.sink.lake, self.sink.attributes, temporary=True, measures=self.measures,
                         segments=self.segments, half_life_days=self.half_life_days)
        return self._con

    def _restore(self) -> dict[str, tuple[str, ...]]:
        con = connect()
        try:
            return _interned(con.execute(f"""
                SELECT customer_id, list(segment ORDER BY segment) FROM (
                    SELECT * FROM delta_scan('{uri(self.table)}')
                    QUALIFY row_number() OVER (PARTITION BY segment, customer_id ORDER BY batch DESC, written_at DESC) = 1)
                WHERE event = 'entered' GROUP BY customer_id""").fetchall())
        finally:
            con.close()

    def update(self) -> list[dict]:
        """Record and return the membership changes since the last update."""
        if not self.segments:
            return []
        b, at = self.sink.batch, int(time.time() * 1000)
        con = self._views()
        now = _interned(con.execute(membership_sql(self.segments)).fetchall())
        before = self.sink.segments
        changed = sorted(c for c in now.keys() | before.keys() if now.get(c, ()) != before.get(c, ()))
        if not changed:
            return []
        con.register("changed", pa.table({
            "customer_id": changed,
            "segments": pa.array([list(now.get(c, ())) for c in changed], pa.list_(pa.string()))}))
        try:
            rows = con.execute(f"""
                SELECT p.* REPLACE (c.segments AS segments, {b}::BIGINT AS batch,
                                    epoch_ms({at}) AS written_at, NULL::BOOLEAN AS compacted)
                FROM ({current_sql(self.sink.lake, 'customer_features_log')}) p JOIN changed c USING (customer_id)
                WHERE NOT p.deleted""").fetch_arrow_table()
        finally:
            con.unregister("changed")
        events = []
        for c in changed:
            old, new = set(before.get(c, ())), set(now.get(c, ()))
            events += [{"batch": b, "written_at": at, "segment": s, "customer_id": c, "event": "entered"}
                       for s in sorted(new - old)]
            events += [{"batch": b, "written_at": at, "segment": s, "customer_id": c, "event": "left"}
                       for s in sorted(old - new)]
        self.sink.write_segments(events, rows)
        self.sink.segments = now
        return events


def _interned(rows) -> dict[str, tuple[str, ...]]:
    """customer -> its segments, one shared tuple per combination (there are few)."""
    combos: dict[tuple[str, ...], tuple[str, ...]] = {}
    return {c: combos.setdefault(tuple(s), tuple(s)) for c, s in rows}
