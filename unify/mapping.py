"""Map a source row onto CDM attributes, normalizing each field.

>>> from unify.spec import FieldSpec, SourceSpec
>>> spec = SourceSpec("erp", "erp.customers", "Contact", ("customer_no",), (
...     FieldSpec("fullName", "name", ("name",)), FieldSpec("emailAddress1", "email", ("email",))))
>>> ContactMapper(spec).attributes({"customer_no": 7, "name": "GARCIA, María", "email": "M@x.com"})
{'fullName': 'garcia maria', 'emailAddress1': 'm@x.com', 'firstName': 'maria', 'lastName': 'garcia'}
"""
from __future__ import annotations

from typing import Mapping

from unify.cdm import kept
from unify.errors import InvalidRecord
from unify.names import name_parts
from unify.normalize import compile_chain, parse_timestamp_ms
from unify.spec import SourceSpec

_NAME_PARTS = ("firstName", "middleName", "lastName")


def record_key(spec: SourceSpec, row: Mapping) -> str:
    """The source key as one string; missing key columns make the row invalid."""
    parts = []
    for column in spec.key:
        value = row.get(column)
        if value is None or value == "":
            raise InvalidRecord(f"missing key column {column!r}")
        if isinstance(value, (dict, list, bool)):
            raise InvalidRecord(f"key column {column!r} has type {type(value).__name__}")
        parts.append(str(value))
    return "|".join(parts)


class ContactMapper:
    """Row -> normalized CDM Contact attributes. A full name fills missing name parts."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        self._fields = [(f.attribute, f.column, compile_chain(f.normalize)) for f in spec.fields]
        self._name_chain = next(
            (compile_chain(f.normalize) for f in spec.fields if f.attribute == "fullName"), None
        )
        self._full_name_column = next(
            (f.column for f in spec.fields if f.attribute == "fullName"), None
        )

    def attributes(self, row: Mapping) -> dict[str, object]:
        out: dict[str, object] = {}
        for attribute, column, chain in self._fields:
            try:
                value = chain(row.get(column))
            except InvalidRecord as exc:
                raise InvalidRecord(f"{column}: {exc.reason}") from None
            if value is not None:
                out[attribute] = kept(attribute, value)
        raw_full = row.get(self._full_name_column) if self._full_name_column else None
        if isinstance(raw_full, str) and raw_full.strip():
            for attribute, part in zip(_NAME_PARTS, name_parts(raw_full)):
                if attribute not in out:
                    value = self._name_chain(part or None)
                    if value is not None:
                        out[attribute] = kept(attribute, value)
        elif "fullName" not in out and ("firstName" in out or "lastName" in out):
            # one comparable full name for every record, so swapped name parts still match
            out["fullName"] = " ".join(str(out[a]) for a in ("firstName", "lastName") if a in out)
        return out


class OrderMapper:
    """Row -> a CDM SalesOrder dict with its lines."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        self._fields = {f.attribute: f for f in spec.fields}

    def _get(self, row: Mapping, attribute: str):
        f = self._fields.get(attribute)
        return row.get(f.column) if f else None

    def order(self, row: Mapping) -> dict:
        ref = self._get(row, "customerRef")
        ordered = self._get(row, "orderedAt")
        if ordered is None:
            raise InvalidRecord("missing order time")
        amount = _number(self._get(row, "totalAmount"), "totalAmount")
        lines_field = self._fields.get("lines")
        lines = []
        raw_lines = row.get(lines_field.column) if lines_field else None
        if raw_lines is not None and not isinstance(raw_lines, list):
            raise InvalidRecord("lines is not a list")
        parts = dict(lines_field.parts) if lines_field else {}
        for raw in raw_lines or ():
            if not isinstance(raw, dict):
                raise InvalidRecord("an order line is not an object")
            lines.append({
                "product": _text(raw.get(parts.get("product", "product"))),
                "brand": _text(raw.get(parts.get("brand", "brand"))),
                "category": _text(raw.get(parts.get("category", "category"))),
                "quantity": _number(raw.get(parts.get("quantity", "quantity")), "quantity"),
                "price": _number(raw.get(parts.get("price", "price")), "price"),
            })
        if amount is None:
            amount = sum((l["quantity"] or 0) * (l["price"] or 0) for l in lines)
        return {
            "customerRef": None if ref is None else _text(ref),
            "orderedMs": parse_timestamp_ms(ordered),
            "totalAmount": float(amount),
            "currency": _text(self._get(row, "currency")),
            "storeId": _text(self._get(row, "storeId")),
            "channel": _text(self._get(row, "channel")),
            "lines": lines,
        }


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise InvalidRecord(f"expected text, got {type(value).__name__}")
    return str(value)


def _number(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{name} is a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"{name} is not a number: {str(value)[:40]!r}") from None
