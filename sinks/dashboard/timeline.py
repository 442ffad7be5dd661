"""Source records and customers over event time, with merges and splits per time bucket.

Event time (a record's first sighting, a lineage event's time at the source), not wall-clock
time: a replayed history draws the same curves the live stream did. Customers over time is the
running sum of lineage (created +1, deleted -1, a merge of n customers 1-n, a split into n n-1),
which ends at the current count; records are the current source records by first sighting.
"""
from __future__ import annotations

import duckdb

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# A window ends at the latest event time, not now: replayed history may be years old.
WINDOWS = {"all": None, "30d": 30 * DAY, "24h": DAY, "1h": HOUR}
WIDTHS = {MINUTE: "minute", 5 * MINUTE: "5 minutes", 15 * MINUTE: "15 minutes", HOUR: "hour",
          6 * HOUR: "6 hours", DAY: "day", 7 * DAY: "week", 30 * DAY: "30 days"}
MAX_BUCKETS = 120

_CHANGES = """
    SELECT epoch_ms(first_seen_at) AS t, 1 AS records, 0 AS customers, 0 AS merges, 0 AS splits
    FROM customer_links WHERE first_seen_at IS NOT NULL
    UNION ALL
    SELECT epoch_ms("at"), 0,
           CASE event WHEN 'created' THEN 1 WHEN 'deleted' THEN -1
                      WHEN 'merged' THEN 1 - len(from_ids) WHEN 'split' THEN len(to_ids) - 1 ELSE 0 END,
           (event = 'merged')::INT, (event = 'split')::INT
    FROM customer_lineage WHERE "at" IS NOT NULL"""


def bucket_width(span_ms: int) -> int:
    """The finest width (one minute at least) that cuts the span into at most MAX_BUCKETS.

    >>> bucket_width(HOUR) == MINUTE, bucket_width(DAY) == 15 * MINUTE, bucket_width(730 * DAY) == 7 * DAY
    (True, True, True)
    """
    return next((width for width in WIDTHS if span_ms <= width * MAX_BUCKETS), max(WIDTHS))


def timeline(cursor: duckdb.DuckDBPyConnection, window: str = "all") -> dict:
    """Buckets of `window` (a key of WINDOWS) with running totals and per-bucket merges and splits."""
    first, last = cursor.execute(f"SELECT min(t), max(t) FROM ({_CHANGES})").fetchone()
    if last is None:
        return {"window": window, "width": MINUTE, "unit": WIDTHS[MINUTE], "buckets": []}
    start = first if WINDOWS[window] is None else max(first, last - WINDOWS[window])
    width = bucket_width(last - start)
    origin = start // width * width
    rows = cursor.execute(
        f"""SELECT CASE WHEN t < $origin THEN -1 ELSE (t - $origin) // $width END AS bucket,
                   sum(records), sum(customers), sum(merges), sum(splits)
            FROM ({_CHANGES}) GROUP BY bucket""", {"origin": origin, "width": width}).fetchall()
    changes = {bucket: totals for bucket, *totals in rows}
    records, customers, _, _ = changes.pop(-1, (0, 0, 0, 0))  # everything before the window
    buckets = []
    for bucket in range((last - origin) // width + 1):
        added, net, merges, splits = changes.get(bucket, (0, 0, 0, 0))
        records, customers = records + added, customers + net
        buckets.append({"at": origin + bucket * width, "records": int(records), "customers": int(customers),
                        "merges": int(merges), "splits": int(splits)})
    return {"window": window, "width": width, "unit": WIDTHS[width], "buckets": buckets}
