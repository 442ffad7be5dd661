"""`unify compact`: rewrite the change logs down to their current rows, merge small files,
and (with vacuum) delete the files no longer referenced.

Only rows up to the batch committed when compaction starts are rewritten (`replaceWhere
batch <= N`), so a worker appending at the same time loses nothing; `compactions` records N,
which lets the views read the compacted rows without a window (see `views._current`).
History logs (customer versions, lineage, dead letters, metrics, checkpoints) keep every row;
their files are only merged.
Time travel (`--as-of`) before a compaction sees the compacted state.
"""
from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake

from sinks import versions
from sinks.delta import ensure_table
from sinks.tables import COMPACTIONS
from sinks.warehouse import connect

# the compacted rows are sorted by key: small row groups let a point lookup skip the rest
SMALL_ROW_GROUPS = WriterProperties(max_row_group_size=8192)

# log -> (key columns, order of the row that counts): the latest-per-key rule of the views
CURRENT_STATE = {
    "customer_links_log": ("source, source_key", "batch DESC"),
    "sales_orders_log": ("source, order_key", "position DESC, batch DESC"),
    "customer_features_log": ("customer_id", "batch DESC"),
    "match_explanations_log": ("left_source, left_key, right_source, right_key", "batch DESC"),
    "generic_keys_log": ("block_key", "batch DESC"),
    "overrides_log": ("left_source, left_key, right_source, right_key", '"at" DESC, batch DESC'),
}



def compact(root: Path, vacuum: bool = False, retention_hours: int = 168) -> dict:
    """Compact the current version of the lake at `root`; with vacuum, also delete the
    versions a rebuild superseded."""
    lake = versions.current(root)
    report = {}
    con = connect()
    ensure_table(lake / "compactions", COMPACTIONS)
    try:
        _purge_erased(con, lake)
        # the compactions table last: the others append to it
        for table_dir in sorted((p for p in lake.iterdir() if (p / "_delta_log").exists()),
                                key=lambda p: (p.name == "compactions", p.name)):
            name = table_dir.name
            started = time.perf_counter()
            table = DeltaTable(str(table_dir))
            before = _rows(table)
            if name in CURRENT_STATE and before:
                keys, order = CURRENT_STATE[name]
                (upto,) = con.execute(f"SELECT max(batch) FROM delta_scan('{table_dir.resolve()}')").fetchone()
                current = con.execute(f"""
                    SELECT * FROM delta_scan('{table_dir.resolve()}') WHERE batch <= {upto}
                    QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1
                    ORDER BY {keys}""").arrow()  # sorted: row-group statistics skip the rest
                schema = table.schema().to_arrow()
                write_deltalake(str(table_dir), pa.table(current).cast(pa.schema(schema)), mode="overwrite",
                                predicate=f"batch <= {upto}", writer_properties=SMALL_ROW_GROUPS)
                # recorded after the rewrite: until then views still read the rows as a tail
                write_deltalake(str(lake / "compactions"), pa.Table.from_pylist(
                    [{"batch": upto, "written_at": int(time.time() * 1000), "log": name}],
                    schema=COMPACTIONS), mode="append")
                table = DeltaTable(str(table_dir))
            table.optimize.compact(writer_properties=SMALL_ROW_GROUPS)
            table.create_checkpoint()  # readers replay one file, not every commit
            removed = 0
            if vacuum:
                removed = len(table.vacuum(retention_hours=int(retention_hours), dry_run=False,
                                           enforce_retention_duration=False))
            report[name] = {"rows_before": before, "rows_after": _rows(DeltaTable(str(table_dir))),
                            "files": len(DeltaTable(str(table_dir)).file_uris()),
                            "files_vacuumed": removed, "seconds": round(time.perf_counter() - started, 2)}
    finally:
        con.close()
    if vacuum:
        for path in versions.remove_superseded(root):
            report[f"superseded {path.name}"] = {"rows_before": None, "rows_after": 0, "files": 0,
                                                  "files_vacuumed": None, "seconds": 0}
    return report


def _purge_erased(con, lake: Path) -> None:
    """Erased customers' history again, in case a crash came between an erasure and its purge."""
    erasures = lake / "erasures_log"
    if not (erasures / "_delta_log").exists() or not DeltaTable(str(erasures)).file_uris():
        return
    ids = [r[0] for r in con.execute(f"SELECT DISTINCT customer_id FROM delta_scan('{erasures.resolve()}')").fetchall()]
    if ids:
        listed = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
        for name in ("customers_log", "customer_features_log"):
            if (lake / name / "_delta_log").exists():
                DeltaTable(str(lake / name)).delete(f"customer_id IN ({listed})")


def _rows(table: DeltaTable) -> int:
    actions = pa.table(table.get_add_actions(flatten=True))
    return int(sum(actions["num_records"].to_pylist())) if actions.num_rows else 0
