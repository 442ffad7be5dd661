"""Order changes in, and the little the ledger keeps of each order to undo it later.

An order change is a `unify.cdm.OrderChange`: `source`, `key`, `op` ("upsert" | "delete"),
`position`, `event_ms` and `order` (the CDM SalesOrder dict).

>>> event = OrderEvent("pos_tickets", "T1", "upsert", 3, 1_700_000_000_000, {
...     "customerSource": "pos_customers", "customerRef": "100123", "orderedMs": 1_700_000_000_000,
...     "totalAmount": 59.98, "currency": "USD", "storeId": "S012", "channel": "store",
...     "lines": [{"product": "NWD-APP-0001", "brand": "Northwind", "category": "apparel",
...                "quantity": 2, "price": 29.99}]})
>>> held = hold(event)
>>> held.record, held.cents, held.lines
(('pos_customers', '100123'), 5998, ('Northwind', 'apparel', 5998))
"""
from __future__ import annotations

import sys
from typing import NamedTuple

from unify.cdm import OrderChange

RecordId = tuple[str, str]  # (source, key) of a source record, as the resolver names it


# The CDM order change; `OrderEvent` is the name the enrichment examples use for it.
OrderEvent = OrderChange

class HeldOrder(NamedTuple):
    """What one live order adds to its record's aggregate, enough to take it back out.

    The lines are flattened to (brand, category, cents, brand, category, cents, ...): a tuple
    per line would cost a tuple header each, and this is kept for every order.
    """

    position: int
    record: RecordId
    ordered_ms: int
    cents: int  # total amount in integer cents, so sums are exact
    channel: str | None
    store: str | None
    lines: tuple = ()


def record_of(order: dict) -> RecordId | None:
    """The source record an order belongs to; None for an anonymous order."""
    ref = order.get("customerRef")
    source = order.get("customerSource")
    if ref is None or source is None:
        return None
    return (sys.intern(str(source)), str(ref))


def _cents(amount) -> int:
    return round(float(amount or 0.0) * 100)


def _intern(text) -> str | None:
    # Brands, categories, channels and stores repeat across millions of orders: share one string.
    return None if text is None else sys.intern(str(text))


def _flat_lines(lines: list) -> tuple:
    flat: list = []
    for line in lines:
        cents = _cents((line.get("quantity") or 0) * (line.get("price") or 0))
        if cents:  # a line without spend adds nothing to any spend mix
            flat += (_intern(line.get("brand")), _intern(line.get("category")), cents)
    return tuple(flat)


def hold(change: OrderChange, record: RecordId | None = None) -> HeldOrder:
    """The held form of an upsert that names a source record."""
    order = change.order
    record = record or record_of(order)
    if record is None:
        raise ValueError(f"order {change.source}/{change.key} names no customer record")
    return HeldOrder(change.position, record, int(order["orderedMs"]), _cents(order.get("totalAmount")),
                     _intern(order.get("channel")), _intern(order.get("storeId")),
                     _flat_lines(order.get("lines") or []))


def line_spend(held: HeldOrder):
    """(brand, category, cents) of each line with spend."""
    flat = held.lines
    return zip(flat[::3], flat[1::3], flat[2::3])
