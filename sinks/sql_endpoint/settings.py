"""What clients ask of the session itself: settings, version() and function column names.

Client settings (application_name, DateStyle, ...) are kept per connection and never reach
DuckDB, whose own configuration is refused.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import duckdb
from pg_mimic import ResultColumn, Statement, StaticStatement
from pg_mimic.middleware import MiddlewareContext
from pg_mimic.types import TEXT
from sqlglot import exp

from sinks.sql_endpoint.engine import SCHEMA
from sinks.sql_endpoint.guard import ReadOnlyError

if TYPE_CHECKING:
    from pg_mimic.connection import Connection

SERVER_VERSION = "15.0"
VERSION = f"PostgreSQL {SERVER_VERSION} (unify serve on DuckDB {duckdb.__version__})"

# What PostgreSQL clients read or set per session, with the values a new session starts with.
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

_SET = re.compile(r"^SET\s+(?:SESSION\s+|LOCAL\s+|GLOBAL\s+)?(TIME\s+ZONE|[\w.]+)\s*(?:TO|=|\s)\s*(.+?)\s*;?$",
                  re.IGNORECASE | re.DOTALL)
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
