"""Arrow schemas of the lake's Delta tables (append-only change logs).

Every row carries `batch`, the writer's commit sequence: the current state of a key is its
row with the highest batch, which views select. Attribute columns come from the config, so
adding an attribute adds a nullable column (schema merge), never a rewrite.
"""
from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("ms", tz="UTC")
LINE = pa.struct([("product", pa.string()), ("brand", pa.string()), ("category", pa.string()),
                  ("quantity", pa.float64()), ("price", pa.float64())])


def links_schema(attributes) -> pa.Schema:
    return pa.schema([
        ("batch", pa.int64()), ("written_at", TS), ("source", pa.string()),
        ("source_key", pa.string()), ("customer_id", pa.string()), ("rule", pa.string()),
        ("score", pa.float64()), ("matched_source", pa.string()), ("matched_key", pa.string()),
        ("deleted", pa.bool_()), ("position", pa.int64()), ("event_at", TS), ("first_at", TS),
        *((a, pa.string()) for a in attributes),
    ])


def customers_schema(attributes) -> pa.Schema:
    return pa.schema([
        ("batch", pa.int64()), ("written_at", TS), ("customer_id", pa.string()),
        ("deleted", pa.bool_()), ("source_count", pa.int32()), ("sources", pa.list_(pa.string())),
        ("winners", pa.string()), ("updated_at", TS), ("first_seen_at", TS),
        *((a, pa.string()) for a in attributes),
    ])


ORDERS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("source", pa.string()), ("order_key", pa.string()),
    ("customer_source", pa.string()), ("customer_key", pa.string()), ("deleted", pa.bool_()),
    ("position", pa.int64()), ("ordered_at", TS), ("total_amount", pa.float64()),
    ("currency", pa.string()), ("store_id", pa.string()), ("channel", pa.string()),
    ("lines", pa.list_(LINE)),
])

LINEAGE = pa.schema([
    ("batch", pa.int64()), ("seq", pa.int32()), ("event", pa.string()), ("customer_id", pa.string()),
    ("from_ids", pa.list_(pa.string())), ("to_ids", pa.list_(pa.string())), ("at", TS),
    ("cause", pa.string()),
])

DEAD_LETTERS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("topic", pa.string()), ("partition", pa.int32()),
    ("offset", pa.int64()), ("reason", pa.string()), ("value", pa.binary()),
])

CONDITION = pa.struct([("attribute", pa.string()), ("compare", pa.string()), ("left", pa.string()),
                       ("right", pa.string()), ("score", pa.float64()), ("threshold", pa.float64())])

EXPLANATIONS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("left_source", pa.string()), ("left_key", pa.string()),
    ("right_source", pa.string()), ("right_key", pa.string()), ("rule", pa.string()),
    ("level", pa.float64()), ("score", pa.float64()), ("conditions", pa.list_(CONDITION)),
    ("deleted", pa.bool_()),
])

GENERIC_KEYS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("block_key", pa.string()), ("attributes", pa.string()),
    ("value", pa.string()), ("records", pa.int64()), ("generic", pa.bool_()),
])

OVERRIDES = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("kind", pa.string()), ("left_source", pa.string()),
    ("left_key", pa.string()), ("right_source", pa.string()), ("right_key", pa.string()),
    ("at", TS), ("reason", pa.string()),
])

AFFINITY = pa.struct([("name", pa.string()), ("score", pa.float64()), ("level", pa.string())])
PURCHASE = pa.struct([("at", TS), ("cents", pa.int64())])

FEATURES = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("customer_id", pa.string()), ("as_of", TS),
    ("orders", pa.int64()), ("total_spend", pa.float64()), ("average_order_value", pa.float64()),
    ("monetary_value", pa.float64()), ("first_purchase_at", TS), ("last_purchase_at", TS),
    ("recency_days", pa.float64()), ("tenure_days", pa.float64()),
    ("orders_by_channel", pa.string()), ("orders_by_store", pa.string()),
    ("category_spend", pa.string()), ("brand_spend", pa.string()),
    ("top_brands", pa.list_(AFFINITY)), ("top_categories", pa.list_(AFFINITY)),
    ("churn_score", pa.float64()), ("predicted_value", pa.float64()),
    ("alive_probability", pa.float64()), ("value_band", pa.string()),
])


def profiles_schema(attributes) -> pa.Schema:
    """A customer's current row: golden profile, features and scores together, so that the
    dimension reads one table. Features are as of the customer's latest purchase (`as_of`);
    `recent_purchases` holds its purchases of the 90 days before, for windowed spend;
    `segments` the segments it was in at the last membership update."""
    return pa.schema([*customers_schema(attributes),
                      *(f for f in FEATURES if f.name not in ("batch", "written_at", "customer_id")),
                      ("recent_purchases", pa.list_(PURCHASE)), ("segments", pa.list_(pa.string()))])


MODEL_METRICS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("as_of", TS), ("labels", pa.int64()),
    ("positive_rate", pa.float64()), ("roc_auc", pa.float64()), ("log_loss", pa.float64()),
    ("expected_calibration_error", pa.float64()), ("calibration", pa.string()),
    ("drift_detected", pa.bool_()), ("drifts", pa.int64()), ("pending", pa.int64()),
])

SEGMENT_EVENTS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("segment", pa.string()), ("customer_id", pa.string()),
    ("event", pa.string()),
])

ERASURES = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("customer_id", pa.string()), ("records", pa.int64()),
    ("at", TS), ("reason", pa.string()),
])

CHECKPOINTS = pa.schema([
    ("batch", pa.int64()), ("written_at", TS), ("topic", pa.string()), ("partition", pa.int32()),
    ("next_offset", pa.int64()), ("events", pa.int64()),
])


# Current-state logs -> (key columns, order of the row that counts): their current state is
# the first row per key. `unify compact` rewrites their rows up to a batch to those rows and
# marks them `compacted`, which lets views read them without a window.
COMPACTABLE = {
    "customer_links_log": ("source, source_key", "batch DESC"),
    "sales_orders_log": ("source, order_key", "position DESC, batch DESC"),
    "customer_features_log": ("customer_id", "batch DESC"),
    "match_explanations_log": ("left_source, left_key, right_source, right_key", "batch DESC"),
    "generic_keys_log": ("block_key", "batch DESC"),
    "overrides_log": ("left_source, left_key, right_source, right_key", '"at" DESC, batch DESC'),
}


def schemas(attributes) -> dict[str, pa.Schema]:
    tables = _schemas(attributes)
    return {name: schema.append(pa.field("compacted", pa.bool_())) if name in COMPACTABLE else schema
            for name, schema in tables.items()}


def _schemas(attributes) -> dict[str, pa.Schema]:
    return {
        "customer_links_log": links_schema(attributes),
        "customers_log": customers_schema(attributes),
        "sales_orders_log": ORDERS,
        "lineage": LINEAGE,
        "match_explanations_log": EXPLANATIONS,
        "generic_keys_log": GENERIC_KEYS,
        "overrides_log": OVERRIDES,
        "customer_features_log": profiles_schema(attributes),
        "model_metrics_log": MODEL_METRICS,
        "segment_events_log": SEGMENT_EVENTS,
        "erasures_log": ERASURES,
        "dead_letters": DEAD_LETTERS,
        "checkpoints": CHECKPOINTS,
    }
