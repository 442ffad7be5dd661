import json

import pytest

from streams.codec import SourceCodec, parse_envelope
from unify.cdm import Change
from unify.errors import InvalidRecord
from unify.spec import FieldSpec, SourceSpec

CONTACTS = SourceSpec("crm", "crm.contacts", "Contact", ("id",), (
    FieldSpec("firstName", "first", ("name",)), FieldSpec("emailAddress1", "email", ("email",)),
    FieldSpec("birthDate", "dob", ("date:ymd",))))
ORDERS = SourceSpec("pos_tickets", "pos.tickets", "SalesOrder", ("ticket_id",), (
    FieldSpec("customerRef", "member_id"), FieldSpec("orderedAt", "ts"),
    FieldSpec("totalAmount", "total"),
    FieldSpec("lines", "lines", parts=(("product", "sku"), ("quantity", "qty"), ("price", "unit_price")))),
    customer_source="pos")


def env(op="c", before=None, after=None, **source):
    return json.dumps({"op": op, "before": before, "after": after,
                       "source": {"ts_ms": 1000, "lsn": 5, **source}}).encode()


def test_create_maps_and_normalizes():
    change = SourceCodec(CONTACTS).decode(env(after={"id": 1, "first": " Zoë ", "email": "Z@X.com"}))
    assert change == Change("crm", "1", "upsert", 5, 1000,
                            {"firstName": "zoe", "emailAddress1": "z@x.com", "fullName": "zoe"})


def test_schema_payload_wrapper_and_tombstone():
    inner = json.loads(env(op="u", before={"id": 1}, after={"id": 1, "first": "Ann"}))
    wrapped = json.dumps({"schema": {"type": "struct"}, "payload": inner}).encode()
    assert SourceCodec(CONTACTS).decode(wrapped).attributes == {"firstName": "ann", "fullName": "ann"}
    assert SourceCodec(CONTACTS).decode(None) is None
    assert SourceCodec(CONTACTS).decode(b"") is None


def test_delete_uses_before():
    change = SourceCodec(CONTACTS).decode(env(op="d", before={"id": 9, "first": "x"}))
    assert (change.op, change.key, change.attributes) == ("delete", "9", {})


@pytest.mark.parametrize("raw,reason", [
    (b"{not json", "invalid JSON"),
    (b"[1, 2]", "not an object"),
    (json.dumps({"after": {"id": 1}, "source": {"ts_ms": 1}}).encode(), "missing op"),
    (env(op="z", after={"id": 1}), "unknown op"),
    (env(op="c", after=None), "without after"),
    (env(op="d", before=None), "without before"),
    (env(after={"first": "ann"}), "missing key column 'id'"),
    (env(after={"id": 1, "first": {"nested": 1}}), "expected a scalar"),
    (env(after={"id": 1, "dob": "31/31/31x"}), "unparseable date"),
    (env(after={"id": 1, "first": "x" * 10_000}), "exceeds"),
    (env(after={"id": 1}, lsn="abc"), "not an integer position"),
])
def test_malformed_input_gets_a_reason(raw, reason):
    with pytest.raises(InvalidRecord, match=reason):
        SourceCodec(CONTACTS).decode(raw)


def test_payload_size_limit():
    with pytest.raises(InvalidRecord, match="max_event_bytes"):
        parse_envelope(b"{" + b" " * 100 + b"}", max_bytes=50)


def test_order_with_lines():
    change = SourceCodec(ORDERS).decode(env(after={
        "ticket_id": 3, "member_id": 7, "ts": "2024-01-02T10:00:00Z", "total": "12.50",
        "lines": [{"sku": "a", "qty": 2, "unit_price": 6.25}]}))
    assert change.key == "3" and change.order["customerRef"] == "7"
    assert change.order["customerSource"] == "pos" and change.order["totalAmount"] == 12.5
    assert change.order["lines"][0]["quantity"] == 2.0
    with pytest.raises(InvalidRecord, match="not a number"):
        SourceCodec(ORDERS).decode(env(after={"ticket_id": 3, "ts": "2024-01-02", "total": "abc"}))
