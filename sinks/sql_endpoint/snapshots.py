"""Delta snapshots the endpoint keeps attached between queries.

A view's `delta_scan` replays its table's Delta log each time a query binds it: about 4 ms a
table, and a point lookup in `dim_customer` binds three. The endpoint instead attaches each
table of a local lake pinned to its latest commit, and checks before a query whether a newer
commit has appeared (one `stat` of the next log entry); only then does it attach again. So
a query still reads the latest commit, and a dimension at rest is read without replaying any
log. A lake on an object store keeps `delta_scan`: there the check would be a request.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import duckdb

from sinks.lake import is_remote

# A scan as DuckDB renders it in a stored view.
SCAN = re.compile(r"delta_scan\('((?:[^']|'')*)'(?:, \(pushdown_filters = '(\w+)'\))?\)")


def _version(log: Path, known: int) -> int:
    """The newest commit of a Delta log, counting up from one known to exist."""
    while (log / f"{known + 1:020d}.json").exists():
        known += 1
    return known


def _first_version(log: Path) -> int | None:
    try:
        versions = [int(p.name[:20]) for p in log.iterdir() if p.name.endswith(".json") and p.name[:20].isdigit()]
    except OSError:
        return None
    return _version(log, max(versions)) if versions else None


class Snapshots:
    """Table path -> the name of a catalog attached at its latest commit. Not thread-safe:
    the engine calls it under its lock."""

    def __init__(self, db: duckdb.DuckDBPyConnection):
        self._db = db
        self._pinned: dict[str, tuple[str, int, str | None]] = {}  # table -> (catalog, version, pushdown)
        self._retired: dict[str, str] = {}  # table -> the catalog before, which a query may still be binding
        self._names = (f"_lake_{n}" for n in itertools.count())

    def bind(self, sql: str) -> str:
        """`sql` with each scan of a local table read from its pinned snapshot."""
        def pinned(scan: re.Match) -> str:
            table = scan.group(1).replace("''", "'")
            if table not in self._pinned and not is_remote(table):
                version = _first_version(Path(table) / "_delta_log")
                if version is not None:  # else not a table yet, and the scan says so
                    self._attach(table, version, scan.group(2))
            return self._pinned[table][0] if table in self._pinned else scan.group(0)
        return SCAN.sub(pinned, sql)

    def renew(self, tables: set[str]) -> set[str]:
        """Attach again those of `tables` with a newer commit than their snapshot; returns them."""
        renewed = set()
        for table in tables & self._pinned.keys():
            name, version, pushdown = self._pinned[table]
            latest = _version(Path(table) / "_delta_log", version)
            if latest != version:
                old = self._retired.pop(table, None)
                if old is not None:
                    self._db.execute(f"DETACH DATABASE IF EXISTS {old}")
                self._attach(table, latest, pushdown)
                self._retired[table] = name
                renewed.add(table)
        return renewed

    def retain(self, tables: set[str]) -> None:
        """Detach the snapshots of tables no view reads any more (a rebuild's old version)."""
        for table in self._pinned.keys() - tables:
            for name in (self._pinned.pop(table)[0], self._retired.pop(table, None)):
                if name is not None:
                    self._db.execute(f"DETACH DATABASE IF EXISTS {name}")

    def _attach(self, table: str, version: int, pushdown: str | None) -> None:
        """Pin `table` at its latest commit (`version` or, if one has just landed, later)."""
        name = next(self._names)
        options = "TYPE delta, PIN_SNAPSHOT" + (f", PUSHDOWN_FILTERS '{pushdown}'" if pushdown else "")
        literal = "'" + table.replace("'", "''") + "'"
        self._db.execute(f"ATTACH {literal} AS {name} ({options})")
        self._pinned[table] = (name, version, pushdown)
