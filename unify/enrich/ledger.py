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

Memory: the orders themselves are in an `OrderStore` (`held_orders`: in memory, or on disk
for a worker); per source record with orders one aggregate, about 2.2 KB for ~6 orders over
~9 brands and ~6 categories (it grows with the distinct brands and categories, not with the
orders), or a fifth to a quarter of that packed (`PackedAggregates`, for a worker).
`tests/unit/test_enrich_features.py` measures these.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from unify.enrich.aggregate import ActivityAggregate, PackedAggregates
from unify.enrich.features import CustomerFeatures, FeatureSpec, summarize
from unify.enrich.held_orders import HeldOrders, OrderStore
from unify.enrich.orders import HeldOrder, OrderChange, RecordId, hold, record_of


class Applied(NamedTuple):
    """What an order change did: the record the order counted for before and the one it
    names now (None: none, such as after a delete), and whether it made a never-seen order
    count for a record, the moment of a purchase (as opposed to a correction, a
    cancellation or a replay). A stale version changes nothing but says the same."""

    before: RecordId | None
    after: RecordId | None
    purchase: bool


def _when_read(times, record: RecordId) -> Iterator[int]:
    """The record's order times, asked of the store only if the aggregate reads them."""
    yield from times(record)


class ActivityLedger:
    """Live orders by key and an activity aggregate per source record.

    >>> from unify.enrich.orders import OrderEvent
    >>> ledger = ActivityLedger()
    >>> order = {"customerSource": "pos_customers", "customerRef": "7", "orderedMs": 0,
    ...          "totalAmount": 20.0, "channel": "store", "storeId": "S1", "lines": []}
    >>> ledger.apply(OrderEvent("pos_tickets", "T1", "upsert", 1, 0, order))
    Applied(before=None, after=('pos_customers', '7'), purchase=True)
    >>> _ = ledger.apply(OrderEvent("pos_tickets", "T2", "upsert", 2, 0, dict(order, totalAmount=5.0)))
    >>> ledger.apply(OrderEvent("pos_tickets", "T1", "upsert", 1, 0, order))   # redelivery: no-op
    Applied(before=('pos_customers', '7'), after=('pos_customers', '7'), purchase=False)
    >>> ledger.features([("pos_customers", "7")], as_of_ms=0).total_spend
    25.0
    >>> _ = ledger.apply(OrderEvent("pos_tickets", "T2", "delete", 3, 0, {}))
    >>> ledger.features([("pos_customers", "7"), ("crm_contacts", "x")], as_of_ms=0).orders
    1
    """

    def __init__(self, spec: FeatureSpec | None = None, orders: OrderStore | None = None,
                 packed: bool = False):
        """`packed`: keep the aggregates packed but for the ones used lately (`PackedAggregates`)."""
        self.spec = spec or FeatureSpec()
        self._orders = HeldOrders() if orders is None else orders
        self._aggregates: dict[RecordId, ActivityAggregate] | PackedAggregates = (
            PackedAggregates() if packed else {})

    def __len__(self) -> int:
        """Live orders that count towards a record."""
        return len(self._orders)

    def records(self) -> Iterator[RecordId]:
        """Source records with at least one live order, sorted."""
        return iter(sorted(self._aggregates))

    def position(self, source: str, key: str) -> int | None:
        """The position held for an order key (live, deleted or anonymous); None if never seen."""
        held = self._orders.get(source, key)
        return held.position if isinstance(held, HeldOrder) else held

    def apply(self, change: OrderChange) -> Applied:
        source, key = change.source, change.key
        old = self._orders.get(source, key)
        before = old.record if isinstance(old, HeldOrder) else None
        record = record_of(change.order) if change.op == "upsert" else None
        if old is not None and change.position <= (old.position if isinstance(old, HeldOrder) else old):
            return Applied(before, record, False)
        if isinstance(old, HeldOrder):
            self._orders.discard(source, key, old)
            self._take_out(old)
        if record is None:
            self._orders.put(source, key, change.position)
            return Applied(before, None, False)
        record = self._orders.shared(record)
        aggregate = self._aggregates.get(record)
        if aggregate is None:
            aggregate = self._aggregates[record] = ActivityAggregate(self.spec.half_life_ms)
        new = hold(change, record)
        self._orders.put(source, key, new)
        aggregate.add(new)
        return Applied(before, record, old is None)

    def _take_out(self, old: HeldOrder) -> None:
        aggregate = self._aggregates.get(old.record)
        if aggregate.orders == 1:
            del self._aggregates[old.record]
            return
        aggregate.remove(old, _when_read(self._orders.times, old.record))

    def orders_since(self, records: Iterable[RecordId], since_ms: int) -> list[tuple[int, int]]:
        """(ordered_ms, cents) of the records' live orders after `since_ms`, oldest first."""
        return self._orders.since(records, since_ms)

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
        return self.summarize(self.activity(records, mixes), as_of_ms, mixes)

    def summarize(self, activity: ActivityAggregate, as_of_ms: int | None, mixes: bool = True) -> CustomerFeatures:
        """`features` of an `activity` already folded (to read it at two times)."""
        return summarize(activity, activity.last_ms or 0 if as_of_ms is None else as_of_ms, self.spec, mixes)

    def activity(self, records: Iterable[RecordId], mixes: bool = True) -> ActivityAggregate:
        """The aggregate of the customer made of `records`, to read, not to change: with one
        record (most customers) that record's own, else their fold."""
        found = [a for a in map(self._aggregates.get, set(records)) if a is not None]
        return found[0] if len(found) == 1 else self.aggregate(records, mixes)
