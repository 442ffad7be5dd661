"""`export_cdm` on a real warehouse: a CDM folder that Microsoft's model.json schema accepts,
whose CSV partitions read back, with the format's own settings, as the views' rows."""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

import jsonschema
import pytest

import sinks.cdm_export
from sinks.cdm_export import DEFAULT_VIEWS, CdmExportError, export_cdm
from sinks.warehouse import connect
from streams.backfill import resolve_files
from streams.settings import load
from tests.conftest import EXAMPLE
from unify.synthetic import WorldSpec, write_jsonl

pytestmark = pytest.mark.integration

SCHEMA = json.loads((Path(sinks.cdm_export.__file__).parent / "model.schema.json").read_text())
AWKWARD_STREET = '12 "Old Mill" Road, Unit 3'
PARSE = {
    "string": str, "int64": int, "double": float, "decimal": Decimal, "guid": str,
    "boolean": {"true": True, "false": False}.__getitem__,
    "dateTimeOffset": datetime.fromisoformat, "dateTime": datetime.fromisoformat,
}


def _contact_with_awkward_address(path: Path) -> None:
    """A CRM contact whose street keeps a comma and double quotes through normalisation."""
    after = {"contact_id": "CRM-QUOTED", "given_name": "Quinn", "middle_name": None,
             "family_name": "Zebedee", "email": "quinn.zebedee@example.org", "mobile": None,
             "phone": None, "birthdate": "1990-02-03", "gender": "F", "street": AWKWARD_STREET,
             "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US",
             "loyalty_card": None}
    event = {"before": None, "after": after, "op": "r", "ts_ms": 1704067200000,
             "source": {"connector": "postgresql", "db": "crm", "table": "public.contacts",
                        "ts_ms": 1704067200000, "lsn": 10**9}}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cdm")
    settings = load(EXAMPLE).with_overrides(lake=tmp / "lake")
    write_jsonl(tmp / "world", WorldSpec(people=300, seed=3))
    _contact_with_awkward_address(tmp / "world" / "crm_contacts.jsonl")
    resolve_files(settings, [(s.name, tmp / "world" / f"{s.name}.jsonl") for s in settings.engine.sources])
    return settings.warehouse


@pytest.fixture(scope="module")
def exported(warehouse, tmp_path_factory) -> tuple[dict, dict]:
    summary = export_cdm(warehouse, tmp_path_factory.mktemp("cdm-folder"))
    return summary, json.loads(Path(summary["model"]).read_text(encoding="utf-8"))


def _view(warehouse: Path, view: str) -> tuple[list[tuple[str, str]], list[tuple]]:
    con = connect(warehouse, read_only=True)
    try:
        described = [(name, kind) for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall()]
        return described, con.execute(f"SELECT * FROM {view}").fetchall()
    finally:
        con.close()


def _path(location: str) -> Path:
    uri = urlparse(location)
    assert uri.scheme == "file", location
    return Path(unquote(uri.path))


def _read_partition(entity: dict) -> list[list[str]]:
    (partition,) = entity["partitions"]
    settings = partition["fileFormatSettings"]
    assert settings["columnHeaders"] is False and settings["quoteStyle"] == "QuoteStyle.Csv"
    with open(_path(partition["location"]), newline="", encoding=settings["encoding"]) as f:
        return list(csv.reader(f, delimiter=settings["delimiter"], quotechar='"', doublequote=True))


def _records(entity: dict) -> list[dict[str, str]]:
    names = [a["name"] for a in entity["attributes"]]
    return [dict(zip(names, row, strict=True)) for row in _read_partition(entity)]


def _parse(text: str, attribute: dict):
    """A CSV field as a model.json reader types it; nested values come back from their JSON."""
    if text == "":
        return None
    if {"name": "unify:encoding", "value": "json"} in attribute.get("annotations", []):
        return json.loads(text)
    return PARSE[attribute["dataType"]](text)


def _canonical(value) -> object:
    if value == "":  # a CSV field cannot tell an empty string from a null
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _entity(model: dict, view: str) -> dict:
    (entity,) = [e for e in model["entities"]
                 if {"name": "unify:view", "value": view} in e["annotations"]]
    return entity


def test_model_json_validates_against_the_published_schema(exported):
    summary, model = exported
    jsonschema.Draft7Validator(SCHEMA).validate(model)
    assert model["version"] == "1.0" and model["application"] and model["culture"]
    assert datetime.fromisoformat(model["modifiedTime"]).tzinfo is not None
    assert [e["name"] for e in model["entities"]] == [e["entity"] for e in summary["entities"]]
    assert _entity(model, "dim_customer")["name"] == "UnifiedCustomer"
    assert "dim_customer" in _entity(model, "dim_customer")["description"]
    assert {(r["fromAttribute"]["entityName"], r["toAttribute"]["entityName"])
            for r in model["relationships"]} == {
        (n, "UnifiedCustomer") for n in ("CustomerLinks", "SalesOrders", "CustomerBrandAffinity", "CustomerScores")}


def test_every_column_of_every_view_is_a_typed_attribute(warehouse, exported):
    _, model = exported
    for view in DEFAULT_VIEWS:
        described, _ = _view(warehouse, view)
        attributes = _entity(model, view)["attributes"]
        assert [a["name"] for a in attributes] == [name for name, _ in described], view
    types = {a["name"]: a["dataType"] for a in _entity(model, "dim_customer")["attributes"]}
    assert (types["customer_id"], types["source_count"], types["order_count"], types["total_spend"],
            types["first_seen_at"], types["sources"]) == (
        "string", "int64", "int64", "double", "dateTimeOffset", "string")


def test_partitions_read_back_as_the_views_rows(warehouse, exported):
    summary, model = exported
    for view, written in zip(DEFAULT_VIEWS, summary["entities"]):
        entity = _entity(model, view)
        _, expected = _view(warehouse, view)
        rows = _read_partition(entity)
        assert len(rows) == len(expected) == written["rows"] > 0, view
        attributes = entity["attributes"]
        parsed = Counter(tuple(_canonical(_parse(t, a)) for t, a in zip(row, attributes, strict=True))
                         for row in rows)
        assert parsed == Counter(tuple(map(_canonical, row)) for row in expected), view


def test_quotes_commas_and_nested_values_survive_the_csv(warehouse, exported):
    _, model = exported
    (quoted,) = [r for r in _records(_entity(model, "customer_links")) if r["source_key"] == "CRM-QUOTED"]
    assert quoted["address1_line1"] == AWKWARD_STREET.lower()
    (customer,) = [r for r in _records(_entity(model, "dim_customer")) if r["customer_id"] == quoted["customer_id"]]
    assert customer["address1_line1"] == AWKWARD_STREET.lower()
    assert json.loads(customer["sources"]) == ["crm_contacts"]

    order = _records(_entity(model, "sales_orders"))[0]
    con = connect(warehouse, read_only=True)
    try:
        (lines,) = con.execute("SELECT lines FROM sales_orders WHERE source = ? AND order_key = ?",
                               [order["source"], order["order_key"]]).fetchone()
    finally:
        con.close()
    assert lines and json.loads(order["lines"]) == lines


def test_a_second_export_replaces_the_folder_by_rename(warehouse, tmp_path):
    out = tmp_path / "cdm"
    first = export_cdm(warehouse, out)
    with open(out / "model.json", encoding="utf-8") as old_reader:
        second = export_cdm(warehouse, out)
        # A reader that opened model.json before still reads the old model whole: swapped, not rewritten.
        assert json.load(old_reader)["annotations"] == [{"name": "unify:exportId", "value": first["export_id"]}]
    model = json.loads((out / "model.json").read_text(encoding="utf-8"))
    locations = {_path(p["location"]) for e in model["entities"] for p in e["partitions"]}
    assert locations == {Path(f) for f in second["files"]}
    on_disk = {p for p in out.rglob("*") if p.is_file()}
    assert on_disk == locations | {out / "model.json"}
    assert not set(map(Path, first["files"])) & on_disk

    export_cdm(warehouse, out, views=["customer_scores"])
    assert sorted(p.name for p in out.iterdir()) == ["CustomerScores", "model.json"]
    assert json.loads((out / "model.json").read_text())["relationships"] == []


def test_an_unknown_view_fails_and_leaves_the_folder_as_it_was(warehouse, tmp_path):
    out = tmp_path / "cdm"
    export_cdm(warehouse, out, views=["customer_scores"])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CdmExportError, match="no view nope"):
        export_cdm(warehouse, out, views=["dim_customer", "nope"])
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert os.listdir(out / "CustomerScores") and not (out / "UnifiedCustomer").exists()
