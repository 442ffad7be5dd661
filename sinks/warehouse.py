"""The DuckDB warehouse: a database file holding only views over the lake's Delta tables.

Views read the change logs through `delta_scan`, so every query sees the latest committed
Delta snapshot, never a half-written batch. The database is (re)written by the worker at
start-up and opened read-only by everything else.
"""
from __future__ import annotations

import glob
import time
import sysconfig
from pathlib import Path

import duckdb

from sinks.lake import duckdb_secret, location, uri
from sinks.view_docs import column_doc, view_doc
from sinks.views import membership_sql, view_sql
from unify.errors import UnifyError


class WarehouseError(UnifyError):
    """The warehouse cannot be opened or queried."""


def extension(name: str) -> str | None:
    """Path of a DuckDB extension shipped by its duckdb-ext-<name> wheel (works offline)."""
    found = glob.glob(f"{sysconfig.get_paths()['purelib']}/duckdb_ext/extensions/v{duckdb.__version__}/*/{name}.duckdb_extension")
    return found[0] if found else None


def _load_extensions(con) -> None:
    """Delta always; httpfs with the object store's credentials when AWS variables are set."""
    delta = extension("delta")
    if delta is None:
        raise WarehouseError(f"DuckDB delta extension for duckdb {duckdb.__version__} not found; reinstall the project (pip install -e .)")
    con.execute(f"LOAD '{delta}'")
    secret = duckdb_secret()
    if secret and (httpfs := extension("httpfs")):
        con.execute(f"LOAD '{httpfs}'")
        con.execute(secret)


def connect(path: Path | str = ":memory:", read_only: bool = False,
            wait_seconds: float = 10.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (or an in-memory database). Everything holds the file only for a
    moment (readers per query, the views' writer per switch), so a lock held by another
    process is waited for, up to `wait_seconds`."""
    if read_only and not Path(path).exists():
        raise WarehouseError(f"{path}: no warehouse yet; start the worker (unify run) or run unify resolve first")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config={"allow_unsigned_extensions": "true"})
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc) or time.monotonic() > deadline:
                raise WarehouseError(f"{path}: cannot open the warehouse ({str(exc).splitlines()[0]})") from None
            time.sleep(0.02)
    _load_extensions(con)
    return con


def define_views(con, lake: Path, attributes: tuple[str, ...], as_of_batch: int | None = None,
                 temporary: bool = False, measures: dict | None = None, segments: dict | None = None,
                 half_life_days: float = 90.0) -> list[str]:
    """Define every view on a connection (the warehouse file, or an in-memory one)."""
    views = view_sql(lake, attributes, as_of_batch, measures, segments, half_life_days)
    kind = "TEMP VIEW" if temporary else "VIEW"
    for name, sql in views.items():
        try:
            con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")
        except duckdb.IOException as exc:  # the lake, not the config
            raise WarehouseError(f"view {name}: cannot read the lake ({str(exc).splitlines()[0]})") from None
        except duckdb.Error as exc:
            where = ("measures or segments" if name == "dim_customer" and (measures or segments)
                     else f"view {name}")
            raise WarehouseError(f"{where}: {str(exc).splitlines()[0]}; fix the SQL in the config") from None
    if segments:  # the predicates run only in the segment tracker: check they bind now
        try:
            con.execute(f"DESCRIBE {membership_sql(segments)}")
        except duckdb.Error as exc:
            raise WarehouseError(f"measures or segments: {str(exc).splitlines()[0]}; fix the SQL in the config") from None
    return list(views)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_views(path: Path, lake: Path, attributes: tuple[str, ...],
                 measures: dict | None = None, segments: dict | None = None,
                 half_life_days: float = 90.0, wait_seconds: float = 30.0) -> list[str]:
    """(Re)create every view with its documentation, in one transaction, so readers see the
    old set or the new one. Holds the file only while it writes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = connect(path, wait_seconds=wait_seconds)
    try:
        con.execute("BEGIN")
        names = define_views(con, lake, attributes, measures=measures, segments=segments,
                             half_life_days=half_life_days)
        for name in names:
            con.execute(f"COMMENT ON VIEW {name} IS {_literal(view_doc(name, segments))}")
            for (column,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [name]).fetchall():
                doc = column_doc(name, column, measures)
                if doc:
                    con.execute(f'COMMENT ON COLUMN {name}."{column}" IS {_literal(doc)}')
        con.execute("COMMIT")
        return names
    finally:
        con.close()


def connect_as_of(lake: Path, attributes: tuple[str, ...], timestamp: str, measures: dict | None = None,
                  segments: dict | None = None, half_life_days: float = 90.0) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose views show the dimension as it was at `timestamp`."""
    con = connect()
    logs = [f"SELECT batch, written_at FROM delta_scan('{uri(location(lake) / t)}')"
            for t in ("checkpoints", "customer_links_log", "customers_log")]
    try:
        (batch,) = con.execute(f"SELECT max(batch) FROM ({' UNION ALL '.join(logs)}) WHERE written_at <= ?::TIMESTAMPTZ",
                               [timestamp]).fetchone()
    except duckdb.Error as exc:
        raise WarehouseError(f"--as-of {timestamp!r}: {str(exc).splitlines()[0]}") from None
    if batch is None:
        raise WarehouseError(f"--as-of {timestamp}: the lake has no commit at or before that time")
    define_views(con, lake, attributes, as_of_batch=batch, temporary=True, measures=measures,
                 segments=segments, half_life_days=half_life_days)
    return con
