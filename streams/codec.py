"""Debezium envelope codec: raw Kafka value -> mapped change, or a reason to dead-letter it.

Accepts envelopes with and without the `schema`/`payload` wrapper. A Kafka tombstone (null
value, which Debezium sends after a delete for log compaction) decodes to None.
"""
from __future__ import annotations

import json
from typing import Mapping

import orjson

from unify.cdm import Change, Erasure, OrderChange, Override
from unify.errors import InvalidRecord
from unify.mapping import ContactMapper, OrderMapper, record_key
from unify.spec import CONTACT, SourceSpec

OPS = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete"}
DEFAULT_MAX_BYTES = 1_000_000


def _json_object(raw: bytes | None, max_bytes: int, what: str) -> dict | None:
    """Bytes -> a JSON object; None for an empty value (a Kafka tombstone)."""
    if raw is None or len(raw) == 0:
        return None
    if len(raw) > max_bytes:
        raise InvalidRecord(f"payload of {len(raw)} bytes exceeds max_event_bytes={max_bytes}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and the standard parser takes: integers over 64 bits, NaN
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRecord(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidRecord(f"{what} is a JSON {type(doc).__name__}, not an object")
    return doc


def parse_envelope(raw: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES) -> dict | None:
    """Bytes -> the envelope dict (payload unwrapped); None for a tombstone."""
    doc = _json_object(raw, max_bytes, "envelope")
    if doc is None:
        return None
    if "payload" in doc and "schema" in doc:
        doc = doc["payload"]
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise InvalidRecord("payload is not an object")
    op = doc.get("op")
    if op is None:
        raise InvalidRecord("missing op")
    if op not in OPS:
        raise InvalidRecord(f"unknown op {op!r}; expected one of c, u, d, r")
    before, after = doc.get("before"), doc.get("after")
    for name, row in (("before", before), ("after", after)):
        if row is not None and not isinstance(row, dict):
            raise InvalidRecord(f"{name} is not an object")
    if op == "d" and before is None:
        raise InvalidRecord("op d without before")
    if op != "d" and after is None:
        raise InvalidRecord(f"op {op} without after")
    return doc


def _position(spec: SourceSpec, source: Mapping, doc: Mapping) -> tuple[int, int]:
    ts = source.get("ts_ms", doc.get("ts_ms"))
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise InvalidRecord("missing or non-integer source.ts_ms")
    position = source.get(spec.position, ts)
    if isinstance(position, str) and position.isdigit():
        position = int(position)
    if not isinstance(position, int) or isinstance(position, bool):
        raise InvalidRecord(f"source.{spec.position} is not an integer position")
    return position, ts


class SourceCodec:
    """Decodes one source's topic into Change (Contact) or OrderChange (SalesOrder)."""

    def __init__(self, spec: SourceSpec, max_bytes: int = DEFAULT_MAX_BYTES):
        self.spec = spec
        self.max_bytes = max_bytes
        self.is_contact = spec.kind == CONTACT
        self._contacts = ContactMapper(spec) if self.is_contact else None
        self._orders = None if self.is_contact else OrderMapper(spec)

    def decode(self, raw: bytes | None) -> Change | OrderChange | None:
        doc = parse_envelope(raw, self.max_bytes)
        if doc is None:
            return None
        source = doc.get("source") or {}
        if not isinstance(source, dict):
            raise InvalidRecord("source is not an object")
        position, ts = _position(self.spec, source, doc)
        op = OPS[doc["op"]]
        row = doc["after"] if op == "upsert" else doc["before"]
        key = record_key(self.spec, row)
        if self.is_contact:
            attrs = self._contacts.attributes(row) if op == "upsert" else {}
            return Change(self.spec.name, key, op, position, ts, attrs)
        order = self._orders.order(row) if op == "upsert" else {}
        order["customerSource"] = self.spec.customer_source
        return OrderChange(self.spec.name, key, op, position, ts, order)


OVERRIDE_KINDS = ("always", "never", "clear")


def decode_override(raw: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES) -> Override | Erasure | None:
    """`{"kind": "always"|"never"|"clear", "left": {"source", "key"}, "right": {...},
    "ts_ms": int, "reason": str}` -> Override; `{"kind": "erase", "customer_id", "ts_ms"}`
    -> Erasure."""
    doc = _json_object(raw, max_bytes, "override")
    if doc is None:
        return None
    if doc.get("kind") == "erase":
        cid, ts = doc.get("customer_id"), doc.get("ts_ms")
        if not isinstance(cid, str) or not cid or not isinstance(ts, int) or isinstance(ts, bool):
            raise InvalidRecord("erase needs a customer_id and an integer ts_ms")
        return Erasure(cid, ts, None if doc.get("reason") is None else str(doc["reason"])[:500])
    if doc.get("kind") not in OVERRIDE_KINDS:
        raise InvalidRecord(f"override kind must be one of {', '.join(OVERRIDE_KINDS)}")
    sides = []
    for side in ("left", "right"):
        ref = doc.get(side)
        if not isinstance(ref, dict) or not ref.get("source") or ref.get("key") in (None, ""):
            raise InvalidRecord(f"override {side} needs a source and a key")
        sides.append((str(ref["source"]), str(ref["key"])))
    ts = doc.get("ts_ms")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise InvalidRecord("override needs an integer ts_ms")
    reason = doc.get("reason")
    return Override(sides[0], sides[1], doc["kind"], ts, None if reason is None else str(reason)[:500])


def encode_erasure(erasure: Erasure) -> bytes:
    return json.dumps({"kind": "erase", "customer_id": erasure.customer_id, "ts_ms": erasure.at_ms,
                       "reason": erasure.reason}).encode()


def encode_lineage(event) -> tuple[bytes, bytes]:
    """Key (the customer id, for the compacted lineage topic) and value of a lineage event."""
    return event.customer_id.encode(), json.dumps({
        "event": event.event, "customer_id": event.customer_id, "from_ids": list(event.from_ids),
        "to_ids": list(event.to_ids), "at_ms": event.at_ms, "cause": event.cause}).encode()


def encode_override(override: Override) -> bytes:
    return json.dumps({
        "kind": override.kind, "ts_ms": override.at_ms, "reason": override.reason,
        "left": {"source": override.left[0], "key": override.left[1]},
        "right": {"source": override.right[0], "key": override.right[1]},
    }).encode()
