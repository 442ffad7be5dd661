"""The read-only rule: only queries reach DuckDB, classified by DuckDB's own parser."""
from __future__ import annotations

import re

import duckdb
from pg_mimic import PgError

READ_ONLY_SQL_TRANSACTION = "25006"
SYNTAX_ERROR = "42601"
FEATURE_NOT_SUPPORTED = "0A000"

_QUERY = duckdb.StatementType.SELECT  # also DESCRIBE, SHOW, SUMMARIZE, FROM-first and read PRAGMAs
_EXPLAIN = duckdb.StatementType.EXPLAIN
_EXPLAIN_PREFIX = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?", re.IGNORECASE)
_VERB = re.compile(r"[A-Za-z]+")


class ReadOnlyError(PgError):
    """A statement that would change the warehouse, the files or the server's settings."""

    def __init__(self, verb: str):
        super().__init__(READ_ONLY_SQL_TRANSACTION, f"unify serve is read-only: {verb} is not allowed")


def read_only_query(sql: str) -> duckdb.Statement:
    """The one statement `sql` holds if it only reads; raises a PgError otherwise."""
    statements = _parse(sql)
    for statement in statements:
        target = _target(statement)
        if target.type != _QUERY:
            raise ReadOnlyError(_verb(target))
    if len(statements) != 1:
        raise PgError(FEATURE_NOT_SUPPORTED, "send one statement at a time")
    return statements[0]


def _target(statement: duckdb.Statement) -> duckdb.Statement:
    """What a statement runs: EXPLAIN's target (EXPLAIN ANALYZE executes it), else itself."""
    if statement.type != _EXPLAIN:
        return statement
    inner = _parse(_EXPLAIN_PREFIX.sub("", statement.query, count=1))
    return inner[0] if len(inner) == 1 else statement


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise PgError(SYNTAX_ERROR, str(exc).splitlines()[0]) from None


def _verb(statement: duckdb.Statement) -> str:
    """The statement's own leading keyword (INSTALL rather than DuckDB's LOAD type), else its type."""
    match = _VERB.match(statement.query.strip())
    verb = match.group(0).upper() if match else ""
    return verb if verb and verb not in ("WITH", "FROM") else statement.type.name
