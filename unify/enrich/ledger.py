"""The activity ledger: every live order's contribution, aggregated per source record.

Orders hang off the source record they name (`customerSource`, `customerRef`), never off a
customer id: a customer's features are the fold of its member records' aggregates, so when
the resolver merges or splits customers nothing here changes and nothing is counted twice or
lost. An order whose record is not linked to any customer yet simply waits under its record
and counts as soon as the record is linked.

Changes are idempotent by `position` per order key: a version is applied only if it is newer
than the one held, so redeliveries and stale versions are no-ops. An update replaces the
order's contribution, a delete removes it (and keeps its position, so an older version
arriving late cannot resurrect it).

Memory: per live order one `HeldOrder`, its key string and its slots in the per-source and
per-record indexes, about 450 bytes for an order of 1-3 lines (shared strings such as brands
not counted); per deleted or anonymous order its key and position, about 90 bytes; per
source record with orders one aggregate, about 2.2 KB for ~6 orders over ~9 brands and ~6
categories (it grows with the distinct brands and categories, not with the orders).
`tests/unit/test_enrich_features.py` measures these.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from unify.enrich.aggregate import ActivityAggregate
from unify.enrich.features import CustomerFeatures, FeatureSpec, summarize
from unify.enrich.orders import HeldOrder, OrderChange, RecordId, hold, record_of


class ActivityLedger:
    """Live orders by key and an activity aggregate per source record.

    >>> from unify.enrich.orders import OrderEvent
    >>> ledger = ActivityLedger()
    >>> order = {"customerSource": "pos_customers", "customerRef": "7", "orderedMs": 0,
    ...          "totalAmount": 20.0, "channel": "store", "storeId": "S1", "lines": []}
    >>> ledger.apply(OrderEvent("pos_tickets", "T1", "upsert", 1, 0, order))
    >>> ledger.apply(OrderEvent("pos_tickets", "T2", "upsert", 2, 0, dict(order, totalAmount=5.0)))
    >>> ledger.apply(OrderEvent("pos_tickets", "T1", "upsert", 1, 0, order))   # redelivery: no-op
    >>> ledger.features([("pos_customers", "7")], as_of_ms=0).total_spend
    25.0
    >>> ledger.apply(OrderEvent("pos_tickets", "T2", "delete", 3, 0, {}))
    >>> ledger.features([("pos_customers", "7"), ("crm_contacts", "x")], as_of_ms=0).orders
    1
    """

    def __init__(self, spec: FeatureSpec | None = None):
        self.spec = spec or FeatureSpec()
        # Keyed by order source, then order key: no (source, key) tuple to keep per order.
        self._held: dict[str, dict[str, HeldOrder]] = {}  # live orders that name a record
        self._passive: dict[str, dict[str, int]] = {}  # position of deleted and anonymous orders
        self._aggregates: dict[RecordId, ActivityAggregate] = {}
        # A record's live orders, for the purchase span when an order at its end goes. A list:
        # removal is linear in the record's orders, a set would cost ~3x the memory per order.
        self._orders_of: dict[RecordId, list[HeldOrder]] = {}

    def __len__(self) -> int:
        """Live orders that count towards a record."""
        return sum(len(orders) for orders in self._held.values())

    def records(self) -> Iterator[RecordId]:
        """Source records with at least one live order, sorted."""
        return iter(sorted(self._aggregates))

    def position(self, source: str, key: str) -> int | None:
        """The position held for an order key (live, deleted or anonymous); None if never seen."""
        held = self._held.get(source, {}).get(key)
        return held.position if held is not None else self._passive.get(source, {}).get(key)

    def record_of_order(self, source: str, key: str) -> RecordId | None:
        """The source record a live order counts for; None if it counts for none."""
        held = self._held.get(source, {}).get(key)
        return None if held is None else held.record

    def is_new_purchase(self, change: OrderChange) -> bool:
        """Whether applying `change` would make a never-seen order count for a record: the
        moment a purchase happens, as opposed to a correction, a cancellation or a replay."""
        return (change.op == "upsert" and self.position(change.source, change.key) is None
                and record_of(change.order) is not None)

    def apply(self, change: OrderChange) -> None:
        source, key = change.source, change.key
        held_position = self.position(source, key)
        if held_position is not None and change.position <= held_position:
            return
        old = self._held.get(source, {}).pop(key, None)
        if old is not None:
            self._take_out(old)
        record = record_of(change.order) if change.op == "upsert" else None
        if record is None:
            self._passive.setdefault(source, {})[key] = change.position
            return
        self._passive.get(source, {}).pop(key, None)
        orders = self._orders_of.get(record)
        if orders:  # share the record id tuple of the record's other orders
            record = orders[0].record
        else:
            orders = self._orders_of[record] = []
            self._aggregates[record] = ActivityAggregate(self.spec.half_life_ms)
        new = hold(change, record)
        self._held.setdefault(sys.intern(source), {})[key] = new
        orders.append(new)
        self._aggregates[record].add(new)

    def _take_out(self, old: HeldOrder) -> None:
        orders = self._orders_of[old.record]
        orders.remove(old)
        if not orders:
            del self._orders_of[old.record], self._aggregates[old.record]
            return
        self._aggregates[old.record].remove(old, (h.ordered_ms for h in orders))

    def orders_since(self, records: Iterable[RecordId], since_ms: int) -> list[tuple[int, int]]:
        """(ordered_ms, cents) of the records' live orders after `since_ms`, oldest first."""
        return sorted((o.ordered_ms, o.cents) for r in set(records)
                      for o in self._orders_of.get(r, ()) if o.ordered_ms > since_ms)

    def aggregate(self, records: Iterable[RecordId], mixes: bool = True) -> ActivityAggregate:
        """The fold of the records' aggregates (a new object); unknown records add nothing.
        `mixes=False` leaves the brand and category sums empty."""
        total = ActivityAggregate(self.spec.half_life_ms)
        for record in set(records):
            aggregate = self._aggregates.get(record)
            if aggregate is not None:
                total.merge(aggregate, mixes)
        return total

    def features(self, records: Iterable[RecordId], as_of_ms: int | None, mixes: bool = True) -> CustomerFeatures:
        """Features of the customer made of `records`, at event time `as_of_ms`; None: at
        its latest purchase, which makes them a function of its own orders only."""
        aggregate = self.activity(records, mixes)
        return summarize(aggregate, aggregate.last_ms or 0 if as_of_ms is None else as_of_ms, self.spec, mixes)

    def activity(self, records: Iterable[RecordId], mixes: bool = True) -> ActivityAggregate:
        """The aggregate of the customer made of `records`, to read, not to change: with one
        record (most customers) that record's own, else their fold."""
        found = [a for a in map(self._aggregates.get, set(records)) if a is not None]
        return found[0] if len(found) == 1 else self.aggregate(records, mixes)
