"""`unify compact`: rewrite the change logs down to their current rows, merge small files,
and (with vacuum) delete the files no longer referenced.

Only rows up to the batch committed when compaction starts are rewritten (`replaceWhere
batch <= N`), so a worker appending at the same time loses nothing. A log a worker deletes
from meanwhile (a purge of deleted records) is left for the next compaction. The rewritten
rows are marked `compacted`, which lets the views read them without a window (see
`views._current`).
History logs (customer versions, lineage, dead letters, metrics, checkpoints) keep every row;
their files are only merged.
Time travel (`--as-of`) before a compaction sees the compacted state.
"""
from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError

from sinks import versions
from sinks.delta import ensure_table
from sinks.lake import location, uri
from sinks.tables import COMPACTABLE
from sinks.warehouse import connect

TAIL_BYTES = 16 * 1024 * 1024  # files merged by `merge_log` stay below this


def writer_properties(keys: str) -> WriterProperties:
    """Compacted rows are sorted by key in row groups small enough for a point lookup to skip
    the rest; statistics only where a filter uses them, which keeps the footer every query
    reads small (and no other values in it)."""
    indexed = {k.strip() for k in keys.split(",")} | {"batch", "compacted", "deleted", "customer_id"}
    return WriterProperties(max_row_group_size=8192,
                            default_column_properties=ColumnProperties(statistics_enabled="NONE"),
                            column_properties={c: ColumnProperties(statistics_enabled="CHUNK") for c in indexed})


def compact(root: Path, vacuum: bool = False, retention_hours: int = 168) -> dict:
    """Compact the current version of the lake at `root`; with vacuum, also delete the
    versions a rebuild superseded."""
    lake = versions.current(root)
    report = {}
    con = connect()
    try:
        _purge_erased(con, lake)
        for table_dir in sorted(p for p in lake.iterdir() if (p / "_delta_log").exists()):
            started = time.perf_counter()
            try:
                report[table_dir.name] = _compact_log(con, table_dir, vacuum, retention_hours)
            except CommitFailedError:  # a worker purged rows of it meanwhile: the next compaction
                report[table_dir.name] = {"rows_before": None, "rows_after": None, "files": None,
                                          "files_vacuumed": 0}
            report[table_dir.name]["seconds"] = round(time.perf_counter() - started, 2)
    finally:
        con.close()
    if vacuum:
        for path in versions.remove_superseded(root):
            report[f"superseded {path.name}"] = {"rows_before": None, "rows_after": 0, "files": 0,
                                                  "files_vacuumed": None, "seconds": 0}
    return report


def _compact_log(con, table_dir: Path, vacuum: bool, retention_hours: int) -> dict:
    name = table_dir.name
    table = DeltaTable(str(table_dir))
    before = _rows(table)
    if name in COMPACTABLE and before:
        keys, order = COMPACTABLE[name]
        schema = pa.schema(table.schema().to_arrow())
        if "compacted" not in schema.names:  # a lake from before the flag
            ensure_table(table_dir, schema.append(pa.field("compacted", pa.bool_())))
            table = DeltaTable(str(table_dir))
        (upto,) = con.execute(f"SELECT max(batch) FROM delta_scan('{uri(table_dir)}')").fetchone()
        current = con.execute(f"""
            SELECT * REPLACE (true AS compacted) FROM delta_scan('{uri(table_dir)}') WHERE batch <= {upto}
            QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1
            ORDER BY {keys}""").arrow()  # sorted: row-group statistics skip the rest
        schema = table.schema().to_arrow()
        write_deltalake(str(table_dir), pa.table(current).cast(pa.schema(schema)), mode="overwrite",
                        predicate=f"batch <= {upto}", writer_properties=writer_properties(keys))
        table = DeltaTable(str(table_dir))
    table.optimize.compact(writer_properties=writer_properties(COMPACTABLE.get(name, ("batch",))[0]))
    removed = 0
    if vacuum:
        removed = len(table.vacuum(retention_hours=int(retention_hours), dry_run=False,
                                   enforce_retention_duration=False))
    table.create_checkpoint()  # last (a vacuum commits too): readers replay one file
    after = DeltaTable(str(table_dir))
    return {"rows_before": before, "rows_after": _rows(after), "files": len(after.file_uris()),
            "files_vacuumed": removed}


def merge_small_files(lake: Path, min_files: int = 16) -> int:
    """Merge the small files of every log with at least `min_files` files (see
    `merge_log`). Returns the files merged away."""
    merged = 0
    for table_dir in sorted(p for p in location(lake).iterdir() if (p / "_delta_log").exists()):
        table = DeltaTable(str(table_dir))
        if len(table.file_uris()) >= min_files:
            merged += merge_log(table, table_dir.name)
    return merged


def merge_log(table: DeltaTable, name: str) -> int:
    """Merge a log's small files into a few, rows unchanged; returns the files merged away.

    A batch appends one file per log it writes, and a reader opens every file of a log: 300
    batches after a compaction, a point lookup took 500 ms, and 110 ms with the same rows
    merged. Only files under `TAIL_BYTES` are merged, so compacted rows stay as they are.
    """
    try:
        metrics = table.optimize.compact(target_size=TAIL_BYTES,
                                         writer_properties=writer_properties(COMPACTABLE.get(name, ("batch",))[0]))
    except CommitFailedError:  # `unify compact` rewrote the log meanwhile: nothing to merge
        return 0
    return metrics["numFilesRemoved"] - metrics["numFilesAdded"]


def _purge_erased(con, lake: Path) -> None:
    """Erased customers' history again, in case a crash came between an erasure and its purge."""
    erasures = lake / "erasures_log"
    if not (erasures / "_delta_log").exists() or not DeltaTable(str(erasures)).file_uris():
        return
    ids = [r[0] for r in con.execute(f"SELECT DISTINCT customer_id FROM delta_scan('{uri(erasures)}')").fetchall()]
    if ids:
        listed = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
        for name in ("customers_log", "customer_features_log"):
            if (lake / name / "_delta_log").exists():
                DeltaTable(str(lake / name)).delete(f"customer_id IN ({listed})")


def _rows(table: DeltaTable) -> int:
    actions = pa.table(table.get_add_actions(flatten=True))
    return int(sum(actions["num_records"].to_pylist())) if actions.num_rows else 0
