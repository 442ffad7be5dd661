"""The numbers behind each panel of the page: one function per panel, a cursor in, plain data out.

Times leave as epoch milliseconds (UTC) so the page formats them in the viewer's zone and no
query depends on DuckDB's session time zone (the engine's settings are locked). The panels
return aggregates only, never a customer's personal data.
"""
from __future__ import annotations

import math
import time

import duckdb

from sinks.dashboard.timeline import timeline

CHURN_BINS = 10
AT_RISK = 0.5  # churn score from which a customer counts as at risk
TOP_BRANDS = 10
SEGMENT_VIEWS = ("segments", "customer_segments")  # the first one present is shown
# Column names a segments view may use for a segment's size when it has one row per segment.
_SEGMENT_SIZES = ("customers", "customer_count", "size", "members")


def _one(cursor: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    return cursor.execute(sql, params or []).fetchone()


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity; an undefined metric is shown as missing."""
    return value if value is not None and math.isfinite(value) else None


def summary(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Headline numbers."""
    customers, = _one(cursor, "SELECT count(*) FROM dim_customer")
    records, linked, latest_record = _one(
        cursor, "SELECT count(*), count(rule), epoch_ms(max(updated_at)) FROM customer_links")
    merges, splits, latest_change = _one(
        cursor, "SELECT count(*) FILTER (event = 'merged'), count(*) FILTER (event = 'split'), "
                "epoch_ms(max(\"at\")) FROM customer_lineage")
    dead_letters, = _one(cursor, "SELECT count(*) FROM dead_letters")
    model = _one(cursor, "SELECT roc_auc, labels FROM model_metrics ORDER BY batch DESC LIMIT 1")
    event_times = [t for t in (latest_record, latest_change) if t is not None]
    return {
        "customers": customers,
        "source_records": records,
        "linked_records": linked,
        "match_rate": linked / records if records else None,
        "records_per_customer": records / customers if customers else None,
        "merges": merges,
        "splits": splits,
        "dead_letters": dead_letters,
        "latest_event_at": max(event_times) if event_times else None,
        "model_roc_auc": _number(model[0]) if model else None,
        "model_labels": model[1] if model else 0,
    }


def sources(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Per source: records, how many are linked to at least one other record, and the share."""
    rows = cursor.execute("SELECT source, count(*), count(rule) FROM customer_links "
                          "GROUP BY source ORDER BY source").fetchall()
    return {"sources": [{"source": source, "records": records, "linked": linked,
                         "match_rate": linked / records} for source, records, linked in rows]}


def ingest(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Events applied per topic and the wall-clock time of the last Delta commit."""
    rows = cursor.execute(
        "SELECT topic, count(*), sum(next_offset), sum(events), epoch_ms(max(committed_at)) "
        "FROM ingest_checkpoints GROUP BY topic ORDER BY topic").fetchall()
    topics = [{"topic": topic, "partitions": partitions, "next_offset": offsets, "events": events,
               "committed_at": committed} for topic, partitions, offsets, events, committed in rows]
    commits = [t["committed_at"] for t in topics if t["committed_at"] is not None]
    return {"topics": topics, "events": sum(t["events"] for t in topics),
            "last_commit_at": max(commits) if commits else None,
            "now": int(time.time() * 1000)}  # the page ages the commit by the server's clock


def churn(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Histogram of churn scores in equal bins over [0, 1]; unscored customers counted apart."""
    counts = dict(cursor.execute(
        f"SELECT least(floor(churn_score * {CHURN_BINS}), {CHURN_BINS - 1})::INT, count(*) "
        "FROM dim_customer WHERE churn_score IS NOT NULL GROUP BY 1").fetchall())
    unscored, at_risk = _one(cursor, "SELECT count(*) FILTER (churn_score IS NULL), "
                                     "count(*) FILTER (churn_score >= ?) FROM dim_customer", [AT_RISK])
    return {"bins": [{"from": i / CHURN_BINS, "to": (i + 1) / CHURN_BINS, "customers": counts.get(i, 0)}
                     for i in range(CHURN_BINS)],
            "unscored": unscored, "at_risk": at_risk, "at_risk_from": AT_RISK}


def brands(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Brands by total affinity over all customers, with how many customers hold each one."""
    rows = cursor.execute(
        "SELECT brand, sum(score), count(DISTINCT customer_id), count(*) FILTER (rank = 1) "
        "FROM customer_brand_affinity WHERE brand IS NOT NULL "
        "GROUP BY brand ORDER BY 2 DESC, brand LIMIT ?", [TOP_BRANDS]).fetchall()
    return {"brands": [{"brand": brand, "affinity": _number(affinity), "customers": customers,
                        "top_for": top_for} for brand, affinity, customers, top_for in rows]}


def segments(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Segment sizes, when the warehouse has a segments view with a `segment` column and rows.

    Either one row per segment with its size (a column named like `customers` or `size`), or
    one row per member, counted (distinct `customer_id` when there is one).
    """
    columns = dict(cursor.execute(
        "SELECT table_name, list(column_name) FROM duckdb_columns() WHERE schema_name = current_schema() "
        "AND table_name IN (SELECT unnest(?)) GROUP BY table_name", [list(SEGMENT_VIEWS)]).fetchall())
    view = next((name for name in SEGMENT_VIEWS if "segment" in columns.get(name, ())), None)
    if view is None:
        return {"available": False, "segments": []}
    size = next((f'sum("{c}")' for c in _SEGMENT_SIZES if c in columns[view]),
                "count(DISTINCT customer_id)" if "customer_id" in columns[view] else "count(*)")
    rows = cursor.execute(f'SELECT segment::VARCHAR, {size} FROM "{view}" '
                          "GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST").fetchall()
    return {"available": bool(rows), "segments": [{"segment": name, "customers": int(count or 0)}
                                                  for name, count in rows]}


PANELS = {"summary": summary, "timeline": timeline, "sources": sources, "ingest": ingest,
          "churn": churn, "brands": brands, "segments": segments}
