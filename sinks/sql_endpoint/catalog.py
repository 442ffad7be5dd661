"""What PostgreSQL clients ask before they query: settings, version() and the catalog.

DuckDB's own pg_catalog names DuckDB types and a `main` schema, and cannot parse psql's
catalog SQL, so both catalogs are emulated: pg_catalog and information_schema tables are
built from the served views and answered by pg_mimic's catalog executor (sqlglot).
"""
from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import duckdb
from pg_mimic import Portal, ResultColumn, Statement, StaticStatement
from pg_mimic.catalog import pg_type_by_oid
from pg_mimic.catalog_data import PG_CATALOG_SCHEMA
from pg_mimic.catalog_rewrite import rewrite_for_executor
from pg_mimic.middleware import (
    MiddlewareContext,
    asyncpg_typeinfo,
    session_functions,
    transaction_control,
)
from pg_mimic.types import TEXT
from sqlglot import exp
from sqlglot.executor import execute as sqlglot_execute

from sinks.sql_endpoint.engine import SCHEMA
from sinks.sql_endpoint.guard import ReadOnlyError

if TYPE_CHECKING:
    from pg_mimic.connection import Connection

log = logging.getLogger(__name__)
# sqlglot warns about every DuckDB-only statement it cannot parse; DuckDB's parser decides.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

SERVER_VERSION = "15.0"
VERSION = f"PostgreSQL {SERVER_VERSION} (unify serve on DuckDB {duckdb.__version__})"

# The settings PostgreSQL clients read or set per session; SET of these is kept per
# connection and never reaches DuckDB.
CLIENT_SETTINGS = {
    "server_version": SERVER_VERSION, "server_encoding": "UTF8", "client_encoding": "UTF8",
    "datestyle": "ISO, MDY", "intervalstyle": "postgres", "timezone": "UTC", "integer_datetimes": "on",
    "standard_conforming_strings": "on", "search_path": f'"$user", {SCHEMA}', "application_name": "",
    "extra_float_digits": "1", "bytea_output": "hex", "client_min_messages": "notice",
    "statement_timeout": "0", "lock_timeout": "0", "idle_in_transaction_session_timeout": "0",
    "default_transaction_isolation": "read committed", "transaction_isolation": "read committed",
    "transaction isolation level": "read committed",
    "default_transaction_read_only": "on", "transaction_read_only": "on",
    "max_identifier_length": "63", "is_superuser": "off", "jit": "off",
    "lc_collate": "C", "lc_ctype": "C", "lc_messages": "C", "lc_monetary": "C", "lc_numeric": "C", "lc_time": "C",
}

_SET = re.compile(r"^SET\s+(?:SESSION\s+|LOCAL\s+|GLOBAL\s+)?(TIME\s+ZONE|[\w.]+)\s*(?:TO|=|\s)\s*(.+?)\s*;?$", re.IGNORECASE | re.DOTALL)
_SET_TRANSACTION = re.compile(r"^SET\s+(?:SESSION\s+CHARACTERISTICS\s+AS\s+)?TRANSACTION\b", re.IGNORECASE)
_RESET = re.compile(r"^RESET\s+([\w.]+)\s*;?$", re.IGNORECASE)
_RESET_ALL = re.compile(r"^RESET\s+ALL\s*;?$", re.IGNORECASE)
_SHOW = re.compile(r"^SHOW\s+(.+?)\s*;?$", re.IGNORECASE | re.DOTALL)
_VERSION = re.compile(r"^SELECT\s+(?:pg_catalog\s*\.\s*)?version\s*\(\s*\)\s*;?$", re.IGNORECASE)


async def settings(ctx: MiddlewareContext) -> Statement | None:
    """SET/RESET/SHOW of client settings, kept per connection; SET of DuckDB's is refused."""
    if _SET_TRANSACTION.match(ctx.sql):
        return StaticStatement("SET", None, [])
    if match := _SET.match(ctx.sql):
        name, value = _setting_name("SET", match.group(1)), match.group(2).strip().strip("'\"")
        return StaticStatement("SET", None, [], lambda: ctx.connection.session_vars.__setitem__(name, value))
    if _RESET_ALL.match(ctx.sql):
        return StaticStatement("RESET", None, [], lambda: ctx.connection.session_vars.update(CLIENT_SETTINGS))
    if match := _RESET.match(ctx.sql):
        name = _setting_name("RESET", match.group(1))
        return StaticStatement("RESET", None, [], lambda: _reset(ctx.connection, name))
    match = _SHOW.match(ctx.sql)
    if match and (name := " ".join(match.group(1).strip('"').lower().split())) in ctx.connection.session_vars:
        return StaticStatement("SHOW", [ResultColumn(name, TEXT)], [(ctx.connection.session_vars[name],)])
    return None  # SHOW TABLES and the like are DuckDB's


def _setting_name(verb: str, raw: str) -> str:
    """A client setting's name; anything else would be DuckDB configuration."""
    name = "timezone" if raw.lower().replace(" ", "") == "timezone" else raw.lower()
    if name in CLIENT_SETTINGS or "." in name:
        return name
    raise ReadOnlyError(f"{verb} {name}")


def _reset(connection: Connection, name: str) -> None:
    if name in CLIENT_SETTINGS:
        connection.session_vars[name] = CLIENT_SETTINGS[name]
    else:
        connection.session_vars.pop(name, None)


async def function_column_names(ctx: MiddlewareContext) -> Statement | None:
    """Name an unaliased function column after the function, as PostgreSQL does (not after its value)."""
    select = ctx.select_without_tables()
    for projection in select.expressions if select is not None else ():
        if isinstance(projection, exp.Func):
            name = projection.name if isinstance(projection, exp.Anonymous) else projection.sql_name()
            projection.replace(exp.alias_(projection.copy(), name.lower()))
    return None


async def version(ctx: MiddlewareContext) -> Statement | None:
    """version() in PostgreSQL's shape: drivers such as SQLAlchemy parse it."""
    if _VERSION.match(ctx.sql):
        return StaticStatement("SELECT", [ResultColumn("version", TEXT)], [(VERSION,)])
    return None


async def catalog(ctx: MiddlewareContext) -> Statement | None:
    """Queries over pg_catalog or information_schema, answered from the served views."""
    expr = ctx.expression
    if not isinstance(expr, exp.Query) or not _asks_catalog(expr):
        return None
    for table in expr.find_all(exp.Table):
        if not table.db and table.name.lower().startswith("pg_"):
            table.set("db", exp.to_identifier("pg_catalog"))
    return CatalogStatement(ctx.connection, expr, ctx.param_oids)


class CatalogStatement(Statement):
    """A catalog query, evaluated when its parameters are bound (Npgsql and psycopg send some)."""

    def __init__(self, connection: Connection, expr: exp.Query, param_oids: list[int | None]):
        self.sql = "SELECT"
        self.param_oids = param_oids
        self._connection = connection
        self._expr = expr
        self._parameters = sorted({int(p.name) for p in expr.find_all(exp.Parameter) if p.name.isdigit()})
        self._columns: list[ResultColumn] | None = None

    async def describe(self) -> list[ResultColumn] | None:
        if self._columns is None:
            self._columns = self._evaluate([None] * len(self._parameters))[0]
        return self._columns

    def bind(self, params: list[Any]) -> Portal:
        columns, rows = self._evaluate(params)
        self._columns = self._columns or columns
        return StaticStatement("SELECT", columns, rows).bind([])

    def _evaluate(self, params: list[Any]) -> tuple[list[ResultColumn], list[tuple]]:
        expr = self._expr.copy()
        for parameter in list(expr.find_all(exp.Parameter)):
            index = int(parameter.name) - 1 if parameter.name.isdigit() else len(params)
            value = params[index] if index < len(params) else None
            parameter.replace(exp.null() if value is None else exp.Literal.string(str(value)))
        views = _view_oids(self._connection)
        for call in list(expr.find_all(exp.Anonymous)):
            if call.name.lower() == "pg_get_viewdef":
                oid = call.find(exp.Literal)
                view = views.get(int(oid.this), "") if oid is not None and str(oid.this).isdigit() else ""
                definition = exp.Literal.string(self._connection.session.engine.definition(view))
                (call.parent if isinstance(call.parent, exp.Dot) else call).replace(definition)
        try:
            result = sqlglot_execute(rewrite_for_executor(self._connection, expr), schema=_SCHEMA,
                                     tables=_catalog(self._connection, views), dialect="postgres")
        except Exception as exc:  # the executor covers common catalog SQL, not all of it
            log.debug("catalog query answered with no rows (%s): %s", exc, expr.sql(dialect="postgres"))
            return [ResultColumn(s.alias_or_name or f"column{i}", TEXT) for i, s in enumerate(expr.selects, 1)], []
        rows = [tuple(row) for row in result.rows]
        kinds = [type(value) for value in rows[0]] if rows else [str] * len(result.columns)
        return [ResultColumn.for_type(name, kind) for name, kind in zip(result.columns, kinds)], rows


def _asks_catalog(expr: exp.Query) -> bool:
    """Reads a catalog table, or calls a pg_catalog function (psql's `SELECT pg_catalog.pg_get_viewdef(...)`)."""
    for table in expr.find_all(exp.Table):
        db = (table.db or "").lower()
        if db in ("pg_catalog", "information_schema") or (not db and table.name.lower().startswith("pg_")):
            return True
    return any(isinstance(dot.this, exp.Identifier) and dot.this.name.lower() == "pg_catalog"
               for dot in expr.find_all(exp.Dot))


MIDDLEWARE = (transaction_control, settings, version, function_column_names, session_functions, asyncpg_typeinfo, catalog)

# Added to pg_mimic's pg_catalog shape: what psql's \d+ and \l and BI tools' listings also read.
_EXTRA_PG_CATALOG = {
    "pg_attribute": {**PG_CATALOG_SCHEMA["pg_catalog"]["pg_attribute"], "attstorage": "TEXT"},
    "pg_database": {"oid": "INT", "datname": "TEXT", "datdba": "INT", "encoding": "INT", "datcollate": "TEXT",
                    "datctype": "TEXT", "daticulocale": "TEXT", "datlocprovider": "TEXT", "datacl": "TEXT",
                    "datallowconn": "BOOLEAN", "datistemplate": "BOOLEAN"},
    "pg_description": {"objoid": "INT", "classoid": "INT", "objsubid": "INT", "description": "TEXT"},
}
_INFORMATION_SCHEMA = {
    "schemata": {"catalog_name": "TEXT", "schema_name": "TEXT", "schema_owner": "TEXT"},
    "tables": {"table_catalog": "TEXT", "table_schema": "TEXT", "table_name": "TEXT", "table_type": "TEXT",
               "is_insertable_into": "TEXT", "is_typed": "TEXT"},
    "views": {"table_catalog": "TEXT", "table_schema": "TEXT", "table_name": "TEXT", "view_definition": "TEXT",
              "check_option": "TEXT", "is_updatable": "TEXT", "is_insertable_into": "TEXT"},
    "columns": {"table_catalog": "TEXT", "table_schema": "TEXT", "table_name": "TEXT", "column_name": "TEXT",
                "ordinal_position": "INT", "column_default": "TEXT", "is_nullable": "TEXT", "data_type": "TEXT",
                "character_maximum_length": "INT", "numeric_precision": "INT", "numeric_scale": "INT",
                "datetime_precision": "INT", "udt_catalog": "TEXT", "udt_schema": "TEXT", "udt_name": "TEXT",
                "is_updatable": "TEXT"},
}
_SCHEMA = {"pg_catalog": {**PG_CATALOG_SCHEMA["pg_catalog"], **_EXTRA_PG_CATALOG}, "information_schema": _INFORMATION_SCHEMA}
_DEFAULTS = {"INT": 0, "BOOLEAN": False, "TEXT": ""}
_PUBLIC_OID, _CATALOG_OID, _INFORMATION_SCHEMA_OID, _OWNER_OID, _FIRST_USER_OID = 2200, 11, 13000, 10, 16384


def _row(db: str, table: str, **values: Any) -> dict:
    """A row of `table` with every declared column, defaulted where `values` says nothing."""
    return {column: values.get(column, _DEFAULTS[kind]) for column, kind in _SCHEMA[db][table].items()}


def _view_oids(connection: Connection) -> dict[int, str]:
    views = dict.fromkeys(column.view for column in connection.session.engine.columns())
    return {_FIRST_USER_OID + i: view for i, view in enumerate(views)}


def _catalog(connection: Connection, view_oids: dict[int, str]) -> dict:
    """The catalog tables' rows, from the views' columns as DuckDB has bound them."""
    database, owner, engine = connection.database, connection.username, connection.session.engine
    columns = engine.columns()
    views = list(view_oids.values())
    oids = {view: oid for oid, view in view_oids.items()}
    pg_catalog = {table: [] for table in _SCHEMA["pg_catalog"]}
    pg_catalog["pg_namespace"] = [_row("pg_catalog", "pg_namespace", oid=oid, nspname=name, nspowner=_OWNER_OID)
                                  for oid, name in ((_PUBLIC_OID, SCHEMA), (_CATALOG_OID, "pg_catalog"),
                                                    (_INFORMATION_SCHEMA_OID, "information_schema"))]
    pg_catalog["pg_class"] = [_row("pg_catalog", "pg_class", oid=oids[view], relname=view, relnamespace=_PUBLIC_OID,
                                   relkind="v", relowner=_OWNER_OID, reltuples=-1, relpersistence="p",
                                   relreplident="n") for view in views]
    pg_catalog["pg_attribute"] = [_row("pg_catalog", "pg_attribute", attrelid=oids[c.view], attname=c.name,
                                       atttypid=c.type.oid, attnum=c.position, atttypmod=-1, attstattarget=-1,
                                       attstorage="x", attformattype=c.type.display_name) for c in columns]
    pg_catalog["pg_type"] = list(pg_type_by_oid().values())
    pg_catalog["pg_roles"] = [_row("pg_catalog", "pg_roles", oid=_OWNER_OID, rolname=owner)]
    pg_catalog["pg_am"] = [_row("pg_catalog", "pg_am", oid=2, amname="heap", amhandler="heap_tableam_handler", amtype="t")]
    pg_catalog["pg_database"] = [_row("pg_catalog", "pg_database", oid=1, datname=database, datdba=_OWNER_OID,
                                      encoding=6, datcollate="C", datctype="C", datlocprovider="c", datacl=None,
                                      daticulocale=None, datallowconn=True)]

    def info(table: str, **values: Any) -> dict:
        return _row("information_schema", table, table_catalog=database, table_schema=SCHEMA, **values)

    information_schema = {
        "schemata": [_row("information_schema", "schemata", catalog_name=database, schema_name=name, schema_owner=owner)
                     for name in (SCHEMA, "pg_catalog", "information_schema")],
        "tables": [info("tables", table_name=view, table_type="VIEW", is_insertable_into="NO", is_typed="NO")
                   for view in views],
        "views": [info("views", table_name=view, view_definition=engine.definition(view), check_option="NONE", is_updatable="NO",
                       is_insertable_into="NO") for view in views],
        "columns": [info("columns", table_name=c.view, column_name=c.name, ordinal_position=c.position,
                         column_default=None, is_nullable="YES",
                         data_type="ARRAY" if c.type.typname.startswith("_") else c.type.display_name,
                         character_maximum_length=None, numeric_precision=None, numeric_scale=None,
                         datetime_precision=None, udt_catalog=database, udt_schema="pg_catalog",
                         udt_name=c.type.typname, is_updatable="NO") for c in columns],
    }
    return {"pg_catalog": pg_catalog, "information_schema": information_schema}
