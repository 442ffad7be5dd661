"""The DuckDB the endpoint queries: an in-memory, locked-down copy of the warehouse's views.

The warehouse file is opened read-only only long enough to copy its view definitions (SQL
over `delta_scan`), never held: a reader's lock would stop the worker rewriting the file at
start-up. Definitions are re-read when a client connects. Before each query the tables its
views read are brought to their latest Delta commit (`Snapshots`), so the data is always the
latest commit without every query replaying the Delta logs.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sinks.lake import parent
from sinks.sql_endpoint.pgtypes import PgColumnType, pg_type
from sinks.sql_endpoint.snapshots import SCAN, Snapshots
from sinks.warehouse import WarehouseError, connect

log = logging.getLogger(__name__)

SCHEMA = "public"  # where PostgreSQL clients look for tables, so the views live there
_USE_SCHEMA = f"USE memory.{SCHEMA}"
# DuckDB renders a view's SQL in one normal form, so the prefix is reliable.
_CREATE_VIEW = "CREATE VIEW "


@dataclass(frozen=True)
class Column:
    view: str
    name: str
    position: int
    type: PgColumnType


def read_views(warehouse: Path) -> dict[str, str]:
    """View name -> its CREATE VIEW statement, as stored in the warehouse file."""
    try:
        con = connect(warehouse, read_only=True)
        try:
            return dict(con.execute(
                "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND database_name = current_database() "
                "ORDER BY view_oid").fetchall())
        finally:
            con.close()
    except duckdb.Error as exc:
        raise WarehouseError(f"{warehouse}: cannot read the views ({str(exc).splitlines()[0]})") from None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class Engine:
    """One in-memory DuckDB shared by every client; each query gets its own cursor."""

    def __init__(self, warehouse: Path):
        self.warehouse = Path(warehouse)
        self._lock = threading.Lock()
        self._views: dict[str, str] = {}
        self._reads: dict[str, set[str]] = {}  # view (lower case) -> the tables it reads, through other views too
        self._named = re.compile("$^")  # any view's name in a query
        self._columns: list[Column] = []
        views = read_views(self.warehouse)
        self._db = connect(":memory:")
        self._db.execute(f"CREATE SCHEMA {SCHEMA}")
        self._snapshots = Snapshots(self._db)
        self._apply(views)
        self._lock_down(views)

    def _lock_down(self, views: dict[str, str]) -> None:
        """Files outside the lake unreadable, no extension loading, settings frozen."""
        tables = [table for sql in views.values() for table, _ in _scans(sql)]
        allowed = ", ".join(_literal(lake) for lake in sorted({parent(table) for table in tables}))
        for statement in (f"SET allowed_directories = [{allowed}]",
                          "SET enable_external_access = false",
                          "SET autoinstall_known_extensions = false",
                          "SET autoload_known_extensions = false",
                          "SET GLOBAL parquet_metadata_cache = true",  # Delta's files never change
                          "SET lock_configuration = true"):
            self._db.execute(statement)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one client, resolving names in the views' schema."""
        cursor = self._db.cursor()
        cursor.execute(_USE_SCHEMA)
        return cursor

    def refresh(self) -> None:
        """Pick up views the worker re-created; keeps the current ones if the file is busy."""
        try:
            views = read_views(self.warehouse)
        except WarehouseError as exc:
            log.warning("keeping the current views: %s", exc)
            return
        with self._lock:
            if views != self._views:
                self._apply(views)

    def renew(self, sql: str | None = None) -> None:
        """Bring the tables that `sql` reads through the views (all, without `sql`) to their
        latest commit before it runs."""
        names = self._reads.keys() if sql is None else {name.lower() for name in self._named.findall(sql)}
        tables = set().union(*(self._reads.get(name, ()) for name in names))
        if not tables:
            return
        with self._lock:
            renewed = self._snapshots.renew(tables)
            if renewed:
                cursor = self.cursor()
                try:
                    for view in self._views.values():
                        if any(table in renewed for table, _ in _scans(view)):
                            cursor.execute(self._created(view))
                finally:
                    cursor.close()

    @property
    def columns(self) -> list[Column]:
        """Every view column with its PostgreSQL type, for the catalog (read without touching DuckDB)."""
        return self._columns

    def definition(self, view: str) -> str:
        """The query a view runs, as pg_get_viewdef shows it."""
        sql = self._views.get(view, "")
        return sql.split(" AS ", 1)[1] if " AS " in sql else ""

    def close(self) -> None:
        """Release the in-memory database."""
        self._db.close()

    def _apply(self, views: dict[str, str]) -> None:
        """Make the in-memory views match `views` (retrying those whose dependencies come later)."""
        cursor = self.cursor()
        try:
            for name in self._views.keys() - views.keys():
                cursor.execute(f"DROP VIEW IF EXISTS {_identifier(name)}")
            pending = {name: sql for name, sql in views.items() if self._views.get(name) != sql}
            errors: dict[str, str] = {}
            while pending:
                errors = {}
                for name, sql in pending.items():
                    try:
                        cursor.execute(self._created(sql))
                    except duckdb.Error as exc:
                        errors[name] = str(exc).splitlines()[0]
                if len(errors) == len(pending):
                    break
                pending = {name: views[name] for name in errors}
            for name, error in errors.items():
                log.warning("view %s is not served: %s", name, error)
            self._views = {name: sql for name, sql in views.items() if name not in errors}
            self._reads = tables_read(self._views)
            self._snapshots.retain(set().union(*self._reads.values()))
            self._named = re.compile(r"\b(" + "|".join(map(re.escape, sorted(self._views, key=len, reverse=True)))
                                     + r")\b", re.IGNORECASE)
            rows = cursor.execute(
                "SELECT table_name, column_name, column_index, data_type FROM duckdb_columns() "
                "WHERE database_name = 'memory' AND schema_name = ? ORDER BY table_name, column_index",
                [SCHEMA]).fetchall()
            self._columns = [Column(view, name, position, pg_type(cursor.type(data_type)))
                             for view, name, position, data_type in rows]
        finally:
            cursor.close()

    def _created(self, sql: str) -> str:
        """A stored CREATE VIEW as this engine runs it: replacing, on pinned snapshots."""
        return self._snapshots.bind(sql.replace(_CREATE_VIEW, "CREATE OR REPLACE VIEW ", 1))


def _scans(sql: str) -> list[tuple[str, str]]:
    return [(path.replace("''", "'"), pushdown) for path, pushdown in SCAN.findall(sql)]


def tables_read(views: dict[str, str]) -> dict[str, set[str]]:
    """View (in lower case) -> every table it reads, directly or through the other views it names."""
    direct = {name: {table for table, _ in _scans(sql)} for name, sql in views.items()}
    uses = {name: {other for other in views if other != name and re.search(rf"\b{re.escape(other)}\b", sql)}
            for name, sql in views.items()}
    reads: dict[str, set[str]] = {}

    def closure(name: str, seen: frozenset = frozenset()) -> set[str]:
        if name not in reads:
            tables = set(direct[name])
            for other in uses[name] - seen:
                tables |= closure(other, seen | {name})
            reads[name] = tables
        return reads[name]

    return {name.lower(): closure(name) for name in views}
