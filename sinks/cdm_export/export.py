"""Export the warehouse's customer views as a CDM folder: model.json plus one CSV per view.

Attributes come from the views themselves, so a column added to a view (an attribute added
to the config, say) is exported without touching this code; view and column comments, when
the warehouse has them, become the descriptions.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from sinks.cdm_export.datatypes import cdm_column, quote_identifier
from sinks.cdm_export.folder import partition_files, partition_uri, remove_stale, replace_model
from sinks.cdm_export.model import ExportedEntity, model_document
from sinks.warehouse import connect
from unify.errors import UnifyError

DEFAULT_VIEWS = ("dim_customer", "customer_links", "sales_orders", "customer_brand_affinity",
                 "customer_scores", "customer_lineage")
ENTITY_NAMES = {"dim_customer": "UnifiedCustomer"}
CSV_OPTIONS = "FORMAT csv, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"'"


class CdmExportError(UnifyError):
    """The requested views cannot be exported."""


def entity_name(view: str) -> str:
    return ENTITY_NAMES.get(view) or "".join(part.capitalize() for part in view.split("_"))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _check_views(con: duckdb.DuckDBPyConnection, warehouse: Path, views: Sequence[str]) -> None:
    available = {name for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
    ).fetchall()}
    missing = [v for v in views if v not in available]
    if missing:
        raise CdmExportError(f"{warehouse}: no view {', '.join(missing)}; "
                             f"the warehouse has {', '.join(sorted(available)) or 'no views'}")


def _comments(con: duckdb.DuckDBPyConnection, view: str) -> tuple[str | None, dict[str, str]]:
    scope = "database_name = current_database() AND schema_name = current_schema()"
    (view_comment,) = con.execute(
        f"SELECT comment FROM duckdb_views() WHERE view_name = ? AND {scope}", [view]).fetchone()
    column_comments = dict(con.execute(
        f"SELECT column_name, comment FROM duckdb_columns() "
        f"WHERE table_name = ? AND comment IS NOT NULL AND {scope}", [view]).fetchall())
    return view_comment, column_comments


def _write_entity(con: duckdb.DuckDBPyConnection, view: str, path: Path) -> ExportedEntity:
    source = quote_identifier(view)
    relation = con.sql(f"SELECT * FROM {source}")
    columns = tuple(cdm_column(n, t) for n, t in zip(relation.columns, relation.types))
    path.parent.mkdir(exist_ok=True)
    (rows,) = con.execute(f"COPY (SELECT {', '.join(c.select for c in columns)} FROM {source}) "
                          f"TO {_literal(str(path))} ({CSV_OPTIONS})").fetchone()
    description, column_descriptions = _comments(con, view)
    return ExportedEntity(entity_name(view), view, description, columns, column_descriptions,
                          partition_uri(path), rows)


def export_cdm(warehouse: Path, out_dir: Path, views: Sequence[str] | None = None) -> dict:
    """Write (or replace) the CDM folder `out_dir`; returns what was written."""
    views = tuple(dict.fromkeys(DEFAULT_VIEWS if views is None else views))
    if not views:
        raise CdmExportError("no views to export")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    modified = datetime.now(UTC)
    export_id = modified.strftime("%Y%m%dT%H%M%S%fZ")
    files = [out_dir / entity_name(v) / f"{entity_name(v)}-{export_id}.csv" for v in views]
    con = connect(warehouse, read_only=True)
    try:
        _check_views(con, warehouse, views)
        entities = [_write_entity(con, view, path) for view, path in zip(views, files)]
    except BaseException:
        for path in files:
            path.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    previous = partition_files(out_dir)
    model = replace_model(out_dir, model_document(entities, modified, export_id))
    remove_stale(out_dir, keep=set(files), previous=previous, entity_dirs={p.parent for p in files})
    return {
        "model": str(model),
        "export_id": export_id,
        "entities": [{"entity": e.name, "view": e.view, "rows": e.rows, "file": str(path)}
                     for e, path in zip(entities, files)],
        "rows": sum(e.rows for e in entities),
        "files": [str(p) for p in files],
    }
