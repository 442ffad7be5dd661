"""The stream's entry point: the ledger and the churn model, driven in the right order.

Per order change, `apply` with two lookups into the resolver's current partition
(`customer_of(record)` and `members_of(customer)`); per lineage event of the resolver,
`apply_lineage`; per micro-batch, `advance` with the batch's event-time watermark (optional:
purchases advance the clock too). Features, value and churn are then read per customer with
`features`, `LifetimeValueModel.predict_one` and `churn.churn_probability`.

A new purchase (first version of an order that names a record) is an example for the churn
model only if its record already belongs to a customer; orders that arrive before their record
still count in the features from the moment the record is linked.
"""
from __future__ import annotations

from collections.abc import Callable

from unify.enrich.churn import ChurnModel, activity_inputs
from unify.enrich.features import CustomerFeatures, FeatureSpec
from unify.enrich.held_orders import OrderStore
from unify.enrich.ledger import ActivityLedger, Applied
from unify.enrich.orders import OrderChange, RecordId

CustomerOf = Callable[[RecordId], "str | None"]
MembersOf = Callable[[str], "Iterable[RecordId] | None"]


class Enrichment:
    """Each order change into the ledger and, when it is a new purchase, into the churn model.

    `lateness_ms`: how far behind the latest purchase time the churn clock stays, so purchases
    arriving that late still count as "bought again" for earlier examples.

    >>> from unify.enrich.orders import OrderEvent
    >>> DAY = 86_400_000
    >>> customers = {("pos_customers", "7"): "C1"}
    >>> members = {"C1": [("pos_customers", "7")]}
    >>> enrichment = Enrichment()
    >>> for n, day in enumerate([0, 20, 200]):
    ...     order = {"customerSource": "pos_customers", "customerRef": "7", "orderedMs": day * DAY,
    ...              "totalAmount": 10.0, "channel": "store", "lines": []}
    ...     _ = enrichment.apply(OrderEvent("pos_tickets", f"T{n}", "upsert", n, day * DAY, order),
    ...                          customers.get, members.get)
    >>> enrichment.features("C1", members.get, as_of_ms=200 * DAY).orders
    3
    >>> enrichment.churn.metrics()["labels"], enrichment.churn.metrics()["positive_rate"]
    (2, 0.5)
    """

    def __init__(self, spec: FeatureSpec | None = None, churn: ChurnModel | None = None,
                 lateness_ms: int = 0, orders: OrderStore | None = None, packed: bool = False):
        self.ledger = ActivityLedger(spec, orders, packed)
        self.churn = ChurnModel() if churn is None else churn
        self.lateness_ms = lateness_ms

    def apply(self, change: OrderChange, customer_of: CustomerOf, members_of: MembersOf) -> Applied:
        applied = self.ledger.apply(change)
        if applied.purchase:
            ordered_ms = int(change.order["orderedMs"])
            self.advance(ordered_ms - self.lateness_ms)
            customer = customer_of(applied.after)
            if customer is not None:
                x = activity_inputs(self.ledger.activity(members_of(customer) or (), mixes=False), ordered_ms)
                self.churn.observe(customer, x, ordered_ms)
        return applied

    def apply_lineage(self, event) -> None:
        """A resolver `LineageEvent`: merged customers pool their pending churn examples,
        deleted ones drop theirs. Features need nothing: they fold over member records."""
        if event.event == "merged":
            self.churn.merge(event.customer_id, [c for c in event.from_ids if c != event.customer_id])
        elif event.event == "deleted":
            self.churn.forget(event.customer_id)

    def advance(self, watermark_ms: int) -> None:
        self.churn.advance(watermark_ms)

    def features(self, customer_id: str, members_of: MembersOf, as_of_ms: int | None,
                 mixes: bool = True) -> CustomerFeatures:
        return self.ledger.features(members_of(customer_id) or (), as_of_ms, mixes)
