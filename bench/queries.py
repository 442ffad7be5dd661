"""View latency from a reader process: point lookups by id and by e-mail (200 runs each, over
50 keys drawn from the distinct values), a segment count and a full aggregation (50 runs
each, or as many as the second argument says), by DuckDB on the warehouse file, as any
DuckDB client reads it; and the lookups again through `unify serve` with psycopg, as BI
tools and dashboards read them.
`python -m bench.queries CONFIG [RUNS]` prints JSON."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from bench.pipeline import _percentiles
from sinks.warehouse import connect
from streams.broker import free_port
from streams.settings import load

LOOKUPS = {
    "point_lookup_by_id": "SELECT * FROM dim_customer WHERE customer_id = {}",
    "point_lookup_by_email": "SELECT * FROM dim_customer WHERE emailAddress1 = {}",
}
AGGREGATES = {
    "segment_count": "SELECT count(*) FROM customer_segments WHERE segment = 'lapsed'",
    "full_aggregation": "SELECT value_band, count(*), sum(total_spend) FROM dim_customer GROUP BY 1",
}


def _timed(run: Callable[[int], object], times: int) -> dict:
    elapsed = []
    for i in range(times):
        started = time.perf_counter()
        run(i)
        elapsed.append((time.perf_counter() - started) * 1000)
    return _percentiles(elapsed)


def _measure(execute: Callable[[str, list], list], placeholder: str, runs: int, lookups: int,
             prefix: str = "", aggregates: bool = True) -> dict:
    ids = [r[0] for r in execute("SELECT customer_id FROM dim_customer USING SAMPLE 50 ROWS", [])]
    # each distinct e-mail equally likely: sampling rows would favour a placeholder that
    # many customers share (`test@example.com`, 181 rows at 100k), which is not a lookup
    emails = [r[0] for r in execute(
        "SELECT * FROM (SELECT DISTINCT emailAddress1 FROM dim_customer WHERE emailAddress1 IS NOT NULL) "
        "USING SAMPLE 50 ROWS", [])]
    out = {}
    for (name, sql), keys in zip(LOOKUPS.items(), (ids, emails)):
        query = sql.format(placeholder)
        out[f"{prefix}{name}_ms"] = _timed(lambda i: execute(query, [keys[i % len(keys)]]), lookups)
    for name, sql in AGGREGATES.items() if aggregates else ():
        out[f"{prefix}{name}_ms"] = _timed(lambda i: execute(sql, []), runs)
    return out


def query_latency(config: Path, runs: int = 50, lookups: int = 200) -> dict:
    settings = load(config)
    con = connect(settings.warehouse, read_only=True)
    try:
        out = _measure(lambda sql, params: con.execute(sql, params).fetchall(), "?", runs, lookups)
        out["customers"] = con.execute("SELECT count(*) FROM dim_customer").fetchone()[0]
    finally:
        con.close()
    with _served(config, settings.warehouse) as pg:
        # lookups only: an aggregation's time is DuckDB's either way
        out |= _measure(lambda sql, params: pg.execute(sql, params).fetchall(), "%s", runs, lookups, "served_",
                        aggregates=False)
    return out


@contextlib.contextmanager
def _served(config: Path, warehouse: Path) -> Iterator[psycopg.Connection]:
    """A psycopg connection to `unify serve` on the warehouse, in a process of its own."""
    password, port = secrets.token_hex(8), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "serve", "-c", str(config), "--port", str(port),
         "--dashboard-port", str(free_port()), "--warehouse", str(warehouse)],
        env={**os.environ, "UNIFY_SERVE_PASSWORD": password}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                pg = psycopg.connect(host="127.0.0.1", port=port, user="unify", password=password, dbname="unify",
                                     autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("unify serve did not start") from None
                time.sleep(0.2)
        with pg:
            yield pg
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    print(json.dumps(query_latency(Path(sys.argv[1]), *map(int, sys.argv[2:3]))))
