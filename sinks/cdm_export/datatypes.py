"""DuckDB column types as model.json dataTypes, and the SQL that writes each one as CSV text.

Only the dataTypes that the model.json documentation lists are used (the published schema
also allows `date` and `time`, but older readers reject them). Values are written in the
formats the documentation gives for a model without culture-specific formats: ISO 8601
timestamps and "." as the decimal separator, which DuckDB's own text forms already use.
"""
from __future__ import annotations

from dataclasses import dataclass

from duckdb.sqltypes import DuckDBPyType

INT64 = frozenset({"tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint", "uinteger"})
# Wider than int64: a reader parsing them as int64 would overflow.
WIDE_INTEGERS = frozenset({"ubigint", "hugeint", "uhugeint"})
DOUBLE = frozenset({"float", "double"})
NAIVE_TIMESTAMPS = frozenset({"timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns", "date"})
NESTED = frozenset({"list", "array", "struct", "map", "union"})


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    source_type: str  # the DuckDB type, kept as an annotation for readers that want it
    data_type: str
    select: str  # SQL expression rendering the value as the CSV text
    json_encoded: bool = False


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def cdm_column(name: str, duckdb_type: DuckDBPyType) -> Column:
    kind, ref = duckdb_type.id, quote_identifier(name)

    def column(data_type: str, select: str = ref, json_encoded: bool = False) -> Column:
        return Column(name, str(duckdb_type), data_type, f"{select} AS {ref}", json_encoded)

    if kind == "boolean":
        return column("boolean")
    if kind in INT64:
        return column("int64")
    if kind in WIDE_INTEGERS or kind == "decimal":
        return column("decimal")
    if kind in DOUBLE:
        return column("double")
    if kind == "timestamp with time zone":
        # In UTC whatever the session's TimeZone, with the offset spelled out.
        return column("dateTimeOffset", f"strftime(timezone('UTC', {ref}), '%Y-%m-%dT%H:%M:%S.%f+00:00')")
    if kind in NAIVE_TIMESTAMPS:
        return column("dateTime", f"strftime(CAST({ref} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%f')")
    if kind == "uuid":
        return column("guid")
    if kind in NESTED:
        return column("string", f"CAST(to_json({ref}) AS VARCHAR)", json_encoded=True)
    if kind == "blob":
        return column("string", f"base64({ref})")
    return column("string", f"CAST({ref} AS VARCHAR)")
