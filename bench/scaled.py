"""View latency at ten times the customers of a rebuilt lake, without a rebuild ten times
as long: the lake's current customer rows repeated under new ids and e-mails, written as
compaction writes them (sorted by id, in the same row groups); the other logs as they are.
Only the views over the customers' rows (`dim_customer` and those built on it) grow."""
from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import yaml
from deltalake import DeltaTable, write_deltalake

from bench.pipeline import query_latency
from sinks import versions
from sinks.compaction import writer_properties
from sinks.lake import uri
from sinks.tables import COMPACTABLE
from sinks.warehouse import connect, create_views
from streams.settings import load

TABLE = "customer_features_log"  # the current rows of dim_customer, customer_features, customer_scores


def scaled_queries(config: Path, workdir: Path, factor: int = 10, log=print) -> dict:
    settings = load(config)
    if workdir.exists():
        shutil.rmtree(workdir)
    lake = workdir / "lake"
    shutil.copytree(versions.current(settings.lake), lake)
    table = lake / TABLE
    con = connect()
    try:
        rows = con.execute(f"""
            SELECT f.* REPLACE (
                if(k = 0, customer_id, customer_id || '-' || k) AS customer_id,
                if(k = 0, emailAddress1, k || '.' || emailAddress1) AS emailAddress1)
            FROM delta_scan('{uri(table)}') AS f, range({factor}) AS r(k)
            ORDER BY customer_id""").arrow()
    finally:
        con.close()
    schema = pa.schema(DeltaTable(str(table)).schema().to_arrow())
    write_deltalake(str(table), pa.table(rows).cast(schema), mode="overwrite",
                    writer_properties=writer_properties(COMPACTABLE[TABLE][0]))
    DeltaTable(str(table)).create_checkpoint()
    data = settings.with_overrides(lake=lake).dump()
    scaled_config = workdir / "unify.yaml"
    scaled_config.write_text(yaml.safe_dump(data, sort_keys=False))
    scaled = load(scaled_config)
    create_views(scaled.warehouse, scaled.current_lake, scaled.engine.attributes, **scaled.view_options)
    queries = query_latency(scaled_config, runs=5)  # an aggregation takes over a second here
    log(f"  queries at {queries['customers']:,} customers (scaled {factor} x): " + ", ".join(
        f"{k} p99 {v['p99']} ms" for k, v in queries.items() if isinstance(v, dict)))
    return {"factor": factor, "customers": queries["customers"], "queries_compacted": queries}
