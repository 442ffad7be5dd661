"""DuckDB types as PostgreSQL types: the OID a client decodes a column by, and parameters back.

Scalars get their natural PostgreSQL type, a list of scalars becomes a PostgreSQL array,
and anything more nested (structs, maps, unions, lists of lists) travels as json text,
which every client can decode.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from pg_mimic import types as pg
from pg_mimic.arrays import ARRAY_OID, ELEMENT_OID

# DuckDBPyType.id -> PostgreSQL OID. Unsigned and huge integers widen so no value overflows.
_SCALAR_OIDS = {
    "boolean": pg.BOOL,
    "tinyint": pg.INT2, "utinyint": pg.INT2, "smallint": pg.INT2,
    "usmallint": pg.INT4, "integer": pg.INT4,
    "uinteger": pg.INT8, "bigint": pg.INT8,
    "ubigint": pg.NUMERIC, "hugeint": pg.NUMERIC, "uhugeint": pg.NUMERIC, "bignum": pg.NUMERIC, "decimal": pg.NUMERIC,
    "float": pg.FLOAT4, "double": pg.FLOAT8,
    "varchar": pg.TEXT, "enum": pg.TEXT, "bit": pg.TEXT, "time with time zone": pg.TEXT,
    "blob": pg.BYTEA,
    "date": pg.DATE, "time": pg.TIME,
    "timestamp": pg.TIMESTAMP, "timestamp_s": pg.TIMESTAMP, "timestamp_ms": pg.TIMESTAMP, "timestamp_ns": pg.TIMESTAMP,
    "timestamp with time zone": pg.TIMESTAMPTZ,
    "interval": pg.INTERVAL,
    "uuid": pg.UUID,
}

# PostgreSQL OID -> (typname, the name format_type() and information_schema show).
PG_TYPE_NAMES = {
    pg.BOOL: ("bool", "boolean"),
    pg.INT2: ("int2", "smallint"),
    pg.INT4: ("int4", "integer"),
    pg.INT8: ("int8", "bigint"),
    pg.NUMERIC: ("numeric", "numeric"),
    pg.FLOAT4: ("float4", "real"),
    pg.FLOAT8: ("float8", "double precision"),
    pg.TEXT: ("text", "text"),
    pg.BYTEA: ("bytea", "bytea"),
    pg.DATE: ("date", "date"),
    pg.TIME: ("time", "time without time zone"),
    pg.TIMESTAMP: ("timestamp", "timestamp without time zone"),
    pg.TIMESTAMPTZ: ("timestamptz", "timestamp with time zone"),
    pg.INTERVAL: ("interval", "interval"),
    pg.UUID: ("uuid", "uuid"),
    pg.JSON: ("json", "json"),
}


@dataclass(frozen=True)
class PgColumnType:
    """How one DuckDB column is presented: its OID and the conversion its values need."""

    oid: int
    convert: Callable[[Any], Any] | None = None

    @property
    def is_array(self) -> bool:
        """A PostgreSQL array of a scalar type."""
        return self.oid in ELEMENT_OID

    @property
    def typname(self) -> str:
        """pg_type's name for it (int8, _text)."""
        element = ELEMENT_OID.get(self.oid)
        return "_" + PG_TYPE_NAMES[element][0] if element else PG_TYPE_NAMES[self.oid][0]

    @property
    def display_name(self) -> str:
        """The name format_type() gives it (bigint, text[])."""
        element = ELEMENT_OID.get(self.oid)
        return PG_TYPE_NAMES[element][1] + "[]" if element else PG_TYPE_NAMES[self.oid][1]


def _as_json(value: Any) -> str:
    return json.dumps(value, default=str)


def _as_text(value: Any) -> str:
    return str(value)


def pg_type(duck_type: Any) -> PgColumnType:
    """The PostgreSQL presentation of a DuckDBPyType."""
    if str(duck_type) == "JSON":
        return PgColumnType(pg.JSON)
    kind = duck_type.id
    if kind in _SCALAR_OIDS:
        oid = _SCALAR_OIDS[kind]
        return PgColumnType(oid, _as_text if oid == pg.TEXT and kind != "varchar" else None)
    if kind in ("list", "array"):
        element = pg_type(duck_type.children[0][1])
        if element.convert is None and element.oid in ARRAY_OID:
            return PgColumnType(ARRAY_OID[element.oid])
    return PgColumnType(pg.JSON, _as_json)


def _timestamptz(text: str) -> datetime:
    """Binary timestamptz arrives as UTC without an offset; an offset in text is kept."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bytea(text: str) -> bytes:
    return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()


_PARAM_PARSERS: dict[int, Callable[[str], Any]] = {
    pg.BOOL: lambda text: text.lower() in ("t", "true", "1", "on", "yes", "y"),
    pg.INT2: int, pg.INT4: int, pg.INT8: int, pg.OID: int,
    pg.FLOAT4: float, pg.FLOAT8: float,
    pg.NUMERIC: Decimal,
    pg.DATE: date.fromisoformat,
    pg.TIME: time.fromisoformat,
    pg.TIMESTAMP: datetime.fromisoformat,
    pg.TIMESTAMPTZ: _timestamptz,
    pg.UUID: uuid.UUID,
    pg.BYTEA: _bytea,
}


def parameter_value(oid: int | None, value: Any) -> Any:
    """A bind parameter (text, or a list of texts for an array) as the Python value DuckDB binds.

    Typed values matter: DuckDB will not add a string to a number, so `$1 + 1` needs an int.
    """
    if value is None or oid is None:
        return value
    if isinstance(value, list):
        element = ELEMENT_OID.get(oid)
        return [parameter_value(element, item) for item in value]
    parse = _PARAM_PARSERS.get(oid)
    return parse(value) if parse else value
