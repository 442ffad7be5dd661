"""The model.json document that describes a CDM folder (Microsoft's model.json format, version 1.0).

One LocalEntity per exported view, each with one CSV partition. The CSV settings are spelled
out even where they equal the format's defaults, so no reader has to guess them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sinks.cdm_export.datatypes import Column

MODEL_NAME = "UnifiedCustomers"
APPLICATION = "customer-unify"
# Values are culture-invariant (ISO 8601, "." decimals); en-US parses them the same way, and
# saying so keeps readers that fall back to the machine's culture from misreading numbers.
CULTURE = "en-US"
MAX_DESCRIPTION = 4000  # the schema's limit

CSV_FORMAT = {
    "$type": "CsvFormatSettings",
    # No header row, as Power BI dataflows write their partitions: model.json gives the order.
    "columnHeaders": False,
    "delimiter": ",",
    # Fields holding a delimiter, quote or line break are quoted; quotes inside are doubled.
    "quoteStyle": "QuoteStyle.Csv",
    "csvStyle": "CsvStyle.QuoteAlways",
    "encoding": "UTF-8",
}

DIMENSION_VIEW = "dim_customer"
# Lineage keeps the ids of merged-away customers, which the dimension no longer holds.
NOT_KEYED_ON_DIMENSION = frozenset({DIMENSION_VIEW, "customer_lineage"})
CUSTOMER_KEY = "customer_id"


@dataclass(frozen=True, slots=True)
class ExportedEntity:
    name: str
    view: str
    description: str | None
    columns: tuple[Column, ...]
    column_descriptions: dict[str, str]
    location: str  # URI of the CSV partition
    rows: int


def _text(value: str) -> str:
    return value[:MAX_DESCRIPTION]


def _attribute(column: Column, description: str | None) -> dict:
    annotations = [{"name": "unify:sourceType", "value": column.source_type}]
    if column.json_encoded:
        annotations.append({"name": "unify:encoding", "value": "json"})
    attribute = {"name": column.name, "dataType": column.data_type, "annotations": annotations}
    if description:
        attribute["description"] = _text(description)
    return attribute


def _entity(entity: ExportedEntity, refreshed: str, partition: str) -> dict:
    description = " ".join(filter(None, [entity.description, f"Warehouse view: {entity.view}."]))
    return {
        "$type": "LocalEntity",
        "name": entity.name,
        "description": _text(description),
        "annotations": [{"name": "unify:view", "value": entity.view},
                        {"name": "unify:rows", "value": str(entity.rows)}],
        "attributes": [_attribute(c, entity.column_descriptions.get(c.name)) for c in entity.columns],
        "partitions": [{"name": partition, "refreshTime": refreshed, "location": entity.location,
                        "fileFormatSettings": CSV_FORMAT}],
    }


def _relationships(entities: list[ExportedEntity]) -> list[dict]:
    """Every exported view keyed on a current customer points at the dimension."""
    dimension = next((e for e in entities if e.view == DIMENSION_VIEW), None)
    if dimension is None:
        return []
    return [{"$type": "SingleKeyRelationship",
             "fromAttribute": {"entityName": e.name, "attributeName": CUSTOMER_KEY},
             "toAttribute": {"entityName": dimension.name, "attributeName": CUSTOMER_KEY}}
            for e in entities
            if e.view not in NOT_KEYED_ON_DIMENSION and any(c.name == CUSTOMER_KEY for c in e.columns)]


def model_document(entities: list[ExportedEntity], modified: datetime, export_id: str) -> dict:
    refreshed = modified.isoformat(timespec="milliseconds")
    return {
        "name": MODEL_NAME,
        "description": "The unified customer dimension and the views around it, exported by customer-unify.",
        "version": "1.0",
        "application": APPLICATION,
        "culture": CULTURE,
        "modifiedTime": refreshed,
        "annotations": [{"name": "unify:exportId", "value": export_id}],
        "entities": [_entity(e, refreshed, f"{e.name}-{export_id}") for e in entities],
        "relationships": _relationships(entities),
    }
