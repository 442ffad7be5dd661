"""Map a source row onto CDM attributes, normalizing each field.

>>> from unify.spec import FieldSpec, SourceSpec
>>> spec = SourceSpec("erp", "erp.customers", "Contact", ("customer_no",), (
...     FieldSpec("fullName", "name", ("name",)), FieldSpec("emailAddress1", "email", ("email",))))
>>> ContactMapper(spec).attributes({"customer_no": 7, "name": "GARCIA, María", "email": "M@x.com"})
{'fullName': 'garcia maria', 'emailAddress1': 'm@x.com', 'firstName': 'maria', 'lastName': 'garcia'}
"""
from __future__ import annotations

from typing import Mapping

from unify.cdm import keeper, kept
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
        self._fields = [(f.attribute, f.column, compile_chain(f.normalize), keeper(f.attribute))
                        for f in spec.fields]
        self._name_chain = next(
            (compile_chain(f.normalize) for f in spec.fields if f.attribute == "fullName"), None
        )
        self._full_name_column = next(
            (f.column for f in spec.fields if f.attribute == "fullName"), None
        )

    def attributes(self, row: Mapping) -> dict[str, object]:
        out: dict[str, object] = {}
        for attribute, column, chain, keep in self._fields:
            try:
                value = chain(row.get(column))
            except InvalidRecord as exc:
                raise InvalidRecord(f"{column}: {exc.reason}") from None
            if value is not None:
                out[attribute] = keep(value)
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
        # Column names resolved once; an unmapped attribute's is None, which no JSON key equals.
        column = {f.attribute: f.column for f in spec.fields}
        self._ref, self._ordered, self._amount, self._currency, self._store, self._channel, self._lines = (
            column.get(a) for a in ("customerRef", "orderedAt", "totalAmount", "currency", "storeId", "channel",
                                    "lines"))
        parts = next((dict(f.parts) for f in spec.fields if f.attribute == "lines"), {})
        self._parts = tuple(parts.get(p, p) for p in ("product", "brand", "category", "quantity", "price"))

    def order(self, row: Mapping) -> dict:
        ordered = row.get(self._ordered)
        if ordered is None:
            raise InvalidRecord("missing order time")
        amount = _number(row.get(self._amount), "totalAmount")
        raw_lines = row.get(self._lines)
        if raw_lines is not None and not isinstance(raw_lines, list):
            raise InvalidRecord("lines is not a list")
        product, brand, category, quantity, price = self._parts
        lines = []
        for raw in raw_lines or ():
            if not isinstance(raw, dict):
                raise InvalidRecord("an order line is not an object")
            lines.append({
                "product": _text(raw.get(product)), "brand": _text(raw.get(brand)),
                "category": _text(raw.get(category)), "quantity": _number(raw.get(quantity), "quantity"),
                "price": _number(raw.get(price), "price"),
            })
        if amount is None:
            amount = sum((l["quantity"] or 0) * (l["price"] or 0) for l in lines)
        return {
            "customerRef": _text(row.get(self._ref)),
            "orderedMs": parse_timestamp_ms(ordered),
            "totalAmount": float(amount),
            "currency": _text(row.get(self._currency)),
            "storeId": _text(row.get(self._store)),
            "channel": _text(row.get(self._channel)),
            "lines": lines,
        }


def _text(value) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        raise InvalidRecord(f"expected text, got {type(value).__name__}")
    return str(value)


def _number(value, name: str) -> float | None:
    if value is None:
        return None
    if type(value) is float or type(value) is int:  # the usual case first; a bool is not an int here
        return float(value)
    if isinstance(value, bool):
        raise InvalidRecord(f"{name} is a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"{name} is not a number: {str(value)[:40]!r}") from None
