"""View latency from a reader process: point lookups by id and by e-mail (200 runs each, over
50 keys drawn from the distinct values), a segment count and a full aggregation (50 runs
each). `python -m bench.queries CONFIG` prints JSON."""
from __future__ import annotations

import json
import sys
import time

from bench.pipeline import _percentiles
from sinks.warehouse import connect
from streams.settings import Settings, load


def query_latency(settings: Settings, runs: int = 50, lookups: int = 200) -> dict:
    con = connect(settings.warehouse, read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT customer_id FROM dim_customer USING SAMPLE 50 ROWS").fetchall()]
        # each distinct e-mail equally likely: sampling rows would favour a placeholder that
        # many customers share (`test@example.com`, 181 rows at 100k), which is not a lookup
        emails = [r[0] for r in con.execute(
            "SELECT * FROM (SELECT DISTINCT emailAddress1 FROM dim_customer WHERE emailAddress1 IS NOT NULL) "
            "USING SAMPLE 50 ROWS").fetchall()]
        queries = {
            "point_lookup_by_id": lambda i: con.execute("SELECT * FROM dim_customer WHERE customer_id = ?", [ids[i % len(ids)]]).fetchall(),
            "point_lookup_by_email": lambda i: con.execute("SELECT * FROM dim_customer WHERE emailAddress1 = ?", [emails[i % len(emails)]]).fetchall(),
            "segment_count": lambda i: con.execute("SELECT count(*) FROM customer_segments WHERE segment = 'lapsed'").fetchall(),
            "full_aggregation": lambda i: con.execute("SELECT value_band, count(*), sum(total_spend) FROM dim_customer GROUP BY 1").fetchall(),
        }
        out = {}
        for name, run in queries.items():
            times = []
            for i in range(lookups if name.startswith("point_lookup") else runs):
                t = time.perf_counter()
                run(i)
                times.append((time.perf_counter() - t) * 1000)
            out[name + "_ms"] = _percentiles(times)
        out["customers"] = con.execute("SELECT count(*) FROM dim_customer").fetchone()[0]
        return out
    finally:
        con.close()


if __name__ == "__main__":
    print(json.dumps(query_latency(load(sys.argv[1]))))
