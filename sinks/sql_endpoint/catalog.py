"""pg_catalog and information_schema, as psql and BI tools read them before they query.

DuckDB's own pg_catalog names DuckDB types and a `main` schema, and cannot parse psql's
catalog SQL, so both catalogs are emulated: their tables are built from the served views
and queries over them run in pg_mimic's catalog executor (sqlglot).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pg_mimic import Portal, ResultColumn, Statement, StaticStatement
from pg_mimic.catalog import pg_type_by_oid
from pg_mimic.catalog_data import PG_CATALOG_SCHEMA
from pg_mimic.catalog_rewrite import rewrite_for_executor
from pg_mimic.middleware import MiddlewareContext
from pg_mimic.types import TEXT
from sqlglot import exp
from sqlglot.executor import execute as sqlglot_execute

from sinks.sql_endpoint.engine import SCHEMA

if TYPE_CHECKING:
    from pg_mimic.connection import Connection

    from sinks.sql_endpoint.engine import Engine

log = logging.getLogger(__name__)


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
        self.sql = "SELECT"  # pg_mimic's command tag is the statement's first word
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
        """The query's columns and rows with `params` bound; no rows where the executor falls short."""
        views = _view_oids(self._connection)
        expr = _with_view_definitions(_with_parameters(self._expr.copy(), params), views,
                                      self._connection.session.engine)
        try:
            result = sqlglot_execute(rewrite_for_executor(self._connection, expr), schema=_SCHEMA,
                                     tables=_catalog(self._connection, views), dialect="postgres")
        except Exception as exc:  # the executor covers common catalog SQL, not all of it
            log.debug("catalog query answered with no rows (%s): %s", exc, expr.sql(dialect="postgres"))
            return [ResultColumn(s.alias_or_name or f"column{i}", TEXT) for i, s in enumerate(expr.selects, 1)], []
        rows = [tuple(row) for row in result.rows]
        kinds = [type(value) for value in rows[0]] if rows else [str] * len(result.columns)
        return [ResultColumn.for_type(name, kind) for name, kind in zip(result.columns, kinds)], rows


def _with_parameters(expr: exp.Query, params: list[Any]) -> exp.Query:
    """$n replaced by the n-th bound value as a literal, NULL where none is bound."""
    for parameter in list(expr.find_all(exp.Parameter)):
        index = int(parameter.name) - 1 if parameter.name.isdigit() else -1
        value = params[index] if 0 <= index < len(params) else None
        parameter.replace(exp.null() if value is None else exp.Literal.string(str(value)))
    return expr


def _with_view_definitions(expr: exp.Query, views: dict[int, str], engine: Engine) -> exp.Query:
    """pg_get_viewdef(oid) replaced by the view's query, which pg_mimic alone would answer with ''."""
    for call in list(expr.find_all(exp.Anonymous)):
        if call.name.lower() == "pg_get_viewdef":
            oid = call.find(exp.Literal)
            view = views.get(int(oid.this), "") if oid is not None and str(oid.this).isdigit() else ""
            (call.parent if isinstance(call.parent, exp.Dot) else call).replace(
                exp.Literal.string(engine.definition(view)))
    return expr


def _asks_catalog(expr: exp.Query) -> bool:
    """Reads a catalog table, or calls a pg_catalog function (psql's `SELECT pg_catalog.pg_get_viewdef(...)`)."""
    for table in expr.find_all(exp.Table):
        db = (table.db or "").lower()
        if db in ("pg_catalog", "information_schema") or (not db and table.name.lower().startswith("pg_")):
            return True
    return any(isinstance(dot.this, exp.Identifier) and dot.this.name.lower() == "pg_catalog"
               for dot in expr.find_all(exp.Dot))


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
_SCHEMA = {"pg_catalog": {**PG_CATALOG_SCHEMA["pg_catalog"], **_EXTRA_PG_CATALOG},
           "information_schema": _INFORMATION_SCHEMA}
_ZEROS = {"INT": 0, "BOOLEAN": False, "TEXT": ""}
_PUBLIC_OID, _CATALOG_OID, _INFORMATION_SCHEMA_OID, _OWNER_OID, _FIRST_USER_OID = 2200, 11, 13000, 10, 16384


def _row(db: str, table: str, **values: Any) -> dict:
    """A row of `table` with every declared column: pg_catalog's default to zero values, the others to NULL."""
    return {column: values.get(column, _ZEROS[kind] if db == "pg_catalog" else None)
            for column, kind in _SCHEMA[db][table].items()}


def _view_oids(connection: Connection) -> dict[int, str]:
    views = dict.fromkeys(column.view for column in connection.session.engine.columns)
    return {_FIRST_USER_OID + i: view for i, view in enumerate(views)}


def _catalog(connection: Connection, view_oids: dict[int, str]) -> dict:
    """The catalog tables' rows, from the views' columns as DuckDB has bound them."""
    database, owner, engine = connection.database, connection.username, connection.session.engine
    columns = engine.columns
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
    pg_catalog["pg_am"] = [_row("pg_catalog", "pg_am", oid=2, amname="heap", amhandler="heap_tableam_handler",
                                amtype="t")]
    pg_catalog["pg_database"] = [_row("pg_catalog", "pg_database", oid=1, datname=database, datdba=_OWNER_OID,
                                      encoding=6, datcollate="C", datctype="C", datlocprovider="c", datacl=None,
                                      daticulocale=None, datallowconn=True)]

    def info(table: str, **values: Any) -> dict:
        return _row("information_schema", table, table_catalog=database, table_schema=SCHEMA, **values)

    information_schema = {
        "schemata": [_row("information_schema", "schemata", catalog_name=database, schema_name=name,
                          schema_owner=owner) for name in (SCHEMA, "pg_catalog", "information_schema")],
        "tables": [info("tables", table_name=view, table_type="VIEW", is_insertable_into="NO", is_typed="NO")
                   for view in views],
        "views": [info("views", table_name=view, view_definition=engine.definition(view), check_option="NONE",
                       is_updatable="NO", is_insertable_into="NO") for view in views],
        "columns": [info("columns", table_name=c.view, column_name=c.name, ordinal_position=c.position,
                         is_nullable="YES", data_type="ARRAY" if c.type.is_array else c.type.display_name,
                         udt_catalog=database, udt_schema="pg_catalog", udt_name=c.type.typname, is_updatable="NO")
                    for c in columns],
    }
    return {"pg_catalog": pg_catalog, "information_schema": information_schema}
