"""One client connection: its own DuckDB cursor, queries run on worker threads.

A statement's columns are only known once DuckDB has bound it, so the first Describe runs
the query and keeps the result for the Execute that follows: psql's simple queries and
psycopg's Bind/Describe/Execute each run the query once.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import duckdb
from pg_mimic import PgError, Portal, ResultColumn, Session, Statement
from pg_mimic.middleware import (
    asyncpg_typeinfo,
    resolve,
    session_functions,
    transaction_control,
)

from sinks.sql_endpoint.catalog import catalog
from sinks.sql_endpoint.engine import Engine
from sinks.sql_endpoint.guard import read_only_query
from sinks.sql_endpoint.pgtypes import PgColumnType, parameter_value, pg_type
from sinks.sql_endpoint.settings import (
    CLIENT_SETTINGS,
    function_column_names,
    settings,
    version,
)

# sqlglot warns about every DuckDB-only statement it cannot parse; DuckDB's parser decides.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Answered before DuckDB sees the statement, in this order; the rest of the chain is pg_mimic's.
MIDDLEWARE = (transaction_control, settings, version, function_column_names, session_functions, asyncpg_typeinfo,
              catalog)
_FETCH_ROWS = 2048
_HANG_UP_POLL_SECONDS = 0.5

# DuckDB error class -> SQLSTATE, so clients can tell a typo from a server fault.
_SQLSTATES = {
    duckdb.ParserException: "42601",
    duckdb.CatalogException: "42P01",
    duckdb.BinderException: "42703",
    duckdb.ConversionException: "22P02",
    duckdb.InvalidInputException: "22023",
    duckdb.PermissionException: "42501",
    duckdb.InterruptException: "57014",
    duckdb.OutOfMemoryException: "53200",
}


def _pg_error(exc: Exception) -> PgError:
    sqlstate = next((code for kind, code in _SQLSTATES.items() if isinstance(exc, kind)), "XX000")
    return PgError(sqlstate, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


class WarehouseSession(Session):
    """Catalog and session questions are answered by MIDDLEWARE; everything else by DuckDB."""

    middleware = MIDDLEWARE

    def __init__(self, engine: Engine, executor: Executor):
        self.engine = engine
        self._executor = executor
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._cursor_lock = threading.Lock()  # one DuckDB call at a time, even after a cancel
        self._current: DuckPortal | None = None

    async def init(self, connection: Any) -> None:
        await super().init(connection)
        connection.session_vars.update(CLIENT_SETTINGS)
        await asyncio.get_running_loop().run_in_executor(self._executor, self.engine.refresh)
        self._cursor = self.engine.cursor()

    async def close(self) -> None:
        if self._cursor is not None:
            self._cursor.interrupt()
            await self.run(self._cursor.close)

    async def prepare(self, sql: str, param_oids: list[int | None]) -> Statement:
        answered = await resolve(self._connection, sql, param_oids, self.middleware)
        if answered is not None:
            return answered
        statement = read_only_query(sql)
        return DuckStatement(self, statement.query, param_oids, len(statement.named_parameters))

    async def run(self, work: Callable[[], Any]) -> Any:
        """Run `work` on a worker thread against this session's cursor.

        A cancel request, or the client hanging up meanwhile, interrupts the query.
        """
        def locked() -> Any:
            with self._cursor_lock:
                return work()

        future = asyncio.get_running_loop().run_in_executor(self._executor, locked)
        try:
            while not future.done():
                await asyncio.wait({future}, timeout=_HANG_UP_POLL_SECONDS)
                if not future.done() and self._connection.stream.reader.at_eof():
                    self._cursor.interrupt()
            return future.result()
        except asyncio.CancelledError:
            self._cursor.interrupt()
            future.add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody awaits it now
            raise
        except duckdb.Error as exc:
            raise _pg_error(exc) from None

    async def start(self, portal: DuckPortal) -> None:
        """Hand the cursor to `portal`; a bound portal it leaves keeps its rows in memory."""
        previous, self._current = self._current, portal
        if previous is not None and previous is not portal:
            await previous.release()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This client's DuckDB connection."""
        return self._cursor


class DuckStatement(Statement):
    """A read-only statement for DuckDB, as the client parsed it."""

    def __init__(self, session: WarehouseSession, sql: str, param_oids: list[int | None], param_count: int):
        self.sql = sql
        self.param_oids = param_oids
        self.session = session
        self._param_count = param_count
        self._columns: list[ResultColumn] | None = None
        self._ahead: DuckPortal | None = None  # already run, for the Bind or Describe to come

    async def describe(self) -> list[ResultColumn] | None:
        if self._columns is None:
            portal, self._ahead = self._ahead or DuckPortal(self, [None] * self._param_count, bound=False), None
            await portal.start()
            self._columns = portal.columns
            if not portal.bound and not self._param_count:
                self._ahead = portal  # a simple query binds no parameters: its result is this one
            elif not portal.bound:
                portal.discard()  # run with NULLs only to learn the columns
        return self._columns

    def bind(self, params: list[Any]) -> Portal:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.reusable and not params:
            ahead.bound = True
            return ahead
        portal = DuckPortal(self, params, bound=True)
        if self._columns is None:
            self._ahead = portal
        return portal

    def typed_params(self, params: list[Any]) -> list[Any]:
        """Bound parameters as the Python values DuckDB binds, by the types the client declared."""
        oids = self.param_oids + [None] * (len(params) - len(self.param_oids))
        try:
            return [parameter_value(oid, value) for oid, value in zip(oids, params)]
        except ValueError as exc:
            raise PgError("22P02", f"invalid parameter: {exc}") from None


class DuckPortal(Portal):
    """One run of a statement: its result, fetched from the session's cursor as the client asks."""

    def __init__(self, statement: DuckStatement, params: list[Any], bound: bool):
        self.bound = bound
        self.columns: list[ResultColumn] = []
        self._params = params
        self._statement = statement
        self._types: list[PgColumnType] = []
        self._started = False
        self._discarded = False
        self._rows: list[tuple] = []  # fetched but not yet sent
        self._exhausted = False

    @property
    def reusable(self) -> bool:
        """Run ahead of a Bind that may still claim it."""
        return not self.bound and not self._discarded

    async def start(self) -> None:
        """Run the query, once; its columns are known from here on."""
        if self._started:
            return
        session = self._statement.session
        await session.start(self)
        values = self._statement.typed_params(self._params)
        sql = self._statement.sql

        def run() -> list:
            session.engine.renew(sql)
            return session.cursor().execute(sql, values).description

        description = await session.run(run) or []
        self._started = True
        self._exhausted = not description
        self._types = [pg_type(kind) for _name, kind, *_ in description]
        self.columns = [ResultColumn(column[0], kind.oid) for column, kind in zip(description, self._types)]

    def discard(self) -> None:
        """Never to be executed: its rows are of no use to anyone."""
        self._discarded = self._exhausted = True

    async def release(self) -> None:
        """Another query takes the cursor: keep what a bound portal has left, drop the rest."""
        if not self.bound:
            self.discard()
        elif self._started and not self._exhausted:
            self._rows += await self._fetch(None)
            self._exhausted = True

    async def execute(self, max_rows: int) -> tuple[list[tuple], bool]:
        await self.start()
        if max_rows <= 0:
            if not self._exhausted:
                self._rows += await self._fetch(None)
                self._exhausted = True
            rows, self._rows = self._rows, []
            return rows, False
        if len(self._rows) < max_rows and not self._exhausted:
            wanted = max(max_rows - len(self._rows), _FETCH_ROWS)
            fetched = await self._fetch(wanted)
            self._rows += fetched
            self._exhausted = len(fetched) < wanted
        rows, self._rows = self._rows[:max_rows], self._rows[max_rows:]
        return rows, bool(self._rows) or not self._exhausted

    async def _fetch(self, count: int | None) -> list[tuple]:
        cursor = self._statement.session.cursor()
        converters = [(i, kind.convert) for i, kind in enumerate(self._types) if kind.convert]

        def fetch() -> list[tuple]:
            rows = cursor.fetchall() if count is None else cursor.fetchmany(count)
            for i, convert in converters:
                rows = [row[:i] + (convert(row[i]) if row[i] is not None else None,) + row[i + 1:] for row in rows]
            return rows

        return await self._statement.session.run(fetch)
