"""The DuckDB warehouse: a database file holding only views over the lake's Delta tables.

Views read the change logs through `delta_scan`, so every query sees the latest committed
Delta snapshot, never a half-written batch. The database is (re)written by the worker at
start-up and opened read-only by everything else.
"""
from __future__ import annotations

import glob
import sysconfig
from pathlib import Path

import duckdb

from unify.errors import UnifyError


class WarehouseError(UnifyError):
    """The warehouse cannot be opened or queried."""


def delta_extension() -> str:
    """Path of the delta extension shipped by the duckdb-ext-delta wheel (works offline)."""
    pattern = f"{sysconfig.get_paths()['purelib']}/duckdb_ext/extensions/v{duckdb.__version__}/*/delta.duckdb_extension"
    found = glob.glob(pattern)
    if not found:
        raise WarehouseError(f"DuckDB delta extension for duckdb {duckdb.__version__} not found; reinstall the project (pip install -e .)")
    return found[0]


def connect(path: Path | str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if read_only and not Path(path).exists():
        raise WarehouseError(f"{path}: no warehouse yet; start the worker (unify run) or run unify resolve first")
    try:
        con = duckdb.connect(str(path), read_only=read_only, config={"allow_unsigned_extensions": "true"})
    except duckdb.IOException as exc:
        raise WarehouseError(f"{path}: cannot open the warehouse ({str(exc).splitlines()[0]})") from None
    con.execute(f"LOAD '{delta_extension()}'")
    return con


def _latest(table: str, keys: str, order: str = "batch DESC") -> str:
    return (f"SELECT * FROM delta_scan('{table}') "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1")


def view_sql(lake: Path, attributes: tuple[str, ...]) -> dict[str, str]:
    t = {name: str((Path(lake) / name).resolve()) for name in (
        "customer_links_log", "customers_log", "sales_orders_log", "lineage", "dead_letters",
        "checkpoints", "match_explanations_log", "generic_keys_log", "overrides_log",
        "customer_features_log", "model_metrics_log")}
    attrs = ", ".join(f'"{a}"' for a in attributes)
    return {
        "customer_links": f"""
            SELECT source, source_key, customer_id, rule, score, matched_source, matched_key,
                   event_at AS updated_at, first_at AS first_seen_at, {attrs}
            FROM ({_latest(t['customer_links_log'], 'source, source_key')}) WHERE NOT deleted""",
        "sales_orders": f"""
            SELECT o.source, o.order_key, o.customer_source, o.customer_key, l.customer_id,
                   o.ordered_at, o.total_amount, o.currency, o.store_id, o.channel, o.lines
            FROM ({_latest(t['sales_orders_log'], 'source, order_key', 'position DESC, batch DESC')}) o
            LEFT JOIN customer_links l ON l.source = o.customer_source AND l.source_key = o.customer_key
            WHERE NOT o.deleted""",
        "customer_features": f"""
            SELECT f.customer_id, f.as_of, f.orders, f.total_spend, f.average_order_value,
                   f.monetary_value, f.first_purchase_at, f.last_purchase_at, f.recency_days,
                   f.tenure_days, f.orders_by_channel, f.orders_by_store, f.category_spend,
                   f.brand_spend, f.top_brands, f.top_categories
            FROM ({_latest(t['customer_features_log'], 'customer_id')}) f
            JOIN ({_latest(t['customers_log'], 'customer_id')}) c USING (customer_id)
            WHERE NOT c.deleted""",
        "customer_scores": f"""
            SELECT f.customer_id, f.as_of, f.churn_score, f.predicted_value, f.alive_probability,
                   f.value_band, f.total_spend AS historical_value
            FROM ({_latest(t['customer_features_log'], 'customer_id')}) f
            JOIN ({_latest(t['customers_log'], 'customer_id')}) c USING (customer_id)
            WHERE NOT c.deleted""",
        "customer_brand_affinity": """
            SELECT customer_id, b.rank AS rank, b.brand.name AS brand, b.brand.score AS score,
                   b.brand.level AS level
            FROM customer_features,
                 LATERAL (SELECT unnest(top_brands) AS brand,
                                 generate_subscripts(top_brands, 1) AS rank) b""",
        "customer_category_affinity": """
            SELECT customer_id, c.rank AS rank, c.category.name AS category,
                   c.category.score AS score, c.category.level AS level
            FROM customer_features,
                 LATERAL (SELECT unnest(top_categories) AS category,
                                 generate_subscripts(top_categories, 1) AS rank) c""",
        "model_metrics": f"""
            SELECT batch, written_at, as_of, labels, positive_rate, roc_auc, log_loss,
                   expected_calibration_error, calibration, drift_detected, drifts, pending
            FROM delta_scan('{t['model_metrics_log']}') ORDER BY batch""",
        "dim_customer": f"""
            WITH current AS ({_latest(t['customers_log'], 'customer_id')})
            SELECT c.customer_id, {", ".join(f'c."{a}"' for a in attributes)},
                   c.source_count, c.sources, c.winners, c.first_seen_at, c.updated_at,
                   coalesce(f.orders, 0) AS order_count,
                   coalesce(f.total_spend, 0) AS total_spend,
                   f.average_order_value, f.first_purchase_at, f.last_purchase_at,
                   f.recency_days, f.monetary_value,
                   f.top_brands[1].name AS top_brand, f.top_categories[1].name AS top_category,
                   s.churn_score, s.predicted_value, s.value_band
            FROM current c
            LEFT JOIN customer_features f USING (customer_id)
            LEFT JOIN customer_scores s USING (customer_id)
            WHERE NOT c.deleted""",
        "customer_lineage": f"""
            SELECT event, customer_id, from_ids, to_ids, "at", cause, batch
            FROM ({_latest(t['lineage'], 'event, customer_id, from_ids, to_ids, "at", cause', 'batch')})
            ORDER BY batch, seq""",
        "match_explanations": f"""
            SELECT l.customer_id, e.left_source, e.left_key, e.right_source, e.right_key,
                   e.rule, e.level, e.score, e.conditions, e.written_at AS linked_at
            FROM ({_latest(t['match_explanations_log'], 'left_source, left_key, right_source, right_key')}) e
            JOIN customer_links l ON l.source = e.left_source AND l.source_key = e.left_key
            WHERE NOT e.deleted""",
        "generic_keys": f"""
            SELECT attributes, value, records, written_at AS since
            FROM ({_latest(t['generic_keys_log'], 'block_key')}) WHERE generic""",
        "match_overrides": f"""
            SELECT kind, left_source, left_key, right_source, right_key, "at", reason
            FROM ({_latest(t['overrides_log'], 'left_source, left_key, right_source, right_key', '"at" DESC, batch DESC')})
            WHERE kind <> 'clear'""",
        "dead_letters": f"""
            SELECT topic, "partition", "offset", reason, value, written_at
            FROM ({_latest(t['dead_letters'], 'topic, "partition", "offset"', 'batch')})""",
        "ingest_checkpoints": f"""
            SELECT topic, "partition", max(next_offset) AS next_offset, sum(events) AS events,
                   max(written_at) AS committed_at, max(batch) AS batch
            FROM delta_scan('{t['checkpoints']}') GROUP BY topic, "partition" """,
    }


def create_views(path: Path, lake: Path, attributes: tuple[str, ...]) -> list[str]:
    """(Re)create every view; returns their names. Holds the file only while it writes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        views = view_sql(lake, attributes)
        for name, sql in views.items():
            con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        return list(views)
    finally:
        con.close()
