"""Stream a world chunk by chunk: Debezium envelopes from generate(), answers from truth()."""

from __future__ import annotations

from collections.abc import Iterator

from .accounts import CONTACT_SOURCES, CRM, POS, KeyAllocator, RecordPlan, plan_records
from .context import DETAILS, TRAITS, Context
from .people import Person, make_person
from .purchases import TICKET, Purchase, favourite_brands, plan_purchases, purchase_events
from .records import history, observe
from .spec import WorldSpec
from .timeline import DAY, iso_date

ORDER_SOURCES = ("pos_tickets", "erp_orders")
SOURCES: dict[str, tuple[str, str, str, str]] = {  # name -> (connector, db, table, key column)
    "pos_customers": ("postgresql", "pos", "public.loyalty_members", "member_id"),
    "crm_contacts": ("postgresql", "crm", "public.contacts", "contact_id"),
    "erp_customers": ("mysql", "erp", "customers", "customer_no"),
    "pos_tickets": ("postgresql", "pos", "public.tickets", "ticket_id"),
    "erp_orders": ("mysql", "erp", "orders", "order_no"),
}
_ALL_SOURCES = CONTACT_SOURCES + ORDER_SOURCES
CHURN_WINDOW = 90 * DAY


class _Chunk:
    """One chunk's people with their planned records and purchases (no rows yet)."""

    def __init__(self, ctx: Context, lo: int, hi: int, keys: KeyAllocator):
        self.people: list[Person] = []
        self.plans: list[list[RecordPlan]] = []
        self.purchases: list[list[Purchase]] = []
        self.churn: list[int | None] = []
        prev = None
        for index in range(lo, hi):
            rng = ctx.rng(index, TRAITS)
            person = make_person(rng, index, ctx, prev)
            plans = plan_records(rng, person, ctx)
            purchases, churn_ms = plan_purchases(rng, person, plans, ctx)
            self.people.append(person)
            self.plans.append(plans)
            self.purchases.append(purchases)
            self.churn.append(churn_ms)
            prev = person
        keys.assign([plan for plans in self.plans for plan in plans])


def _chunks(spec: WorldSpec) -> Iterator[tuple[Context, _Chunk, KeyAllocator]]:
    ctx, keys = Context(spec), KeyAllocator()
    for lo in range(0, spec.people, spec.chunk_size):
        yield ctx, _Chunk(ctx, lo, min(lo + spec.chunk_size, spec.people), keys), keys


def _card_number(member_id: int) -> str:
    # A bijection of the member id: unique, but not guessable from it.
    return f"LC{(member_id * 3_141_592_653 + 1_357_913_579) % 10**10:010d}"


def _contact_events(ctx: Context, chunk: _Chunk, i: int, rng, out: list) -> None:
    plans = chunk.plans[i]
    pos = next((p for p in plans if p.system == POS and p.ordinal == 0), None)
    link = pos is not None and rng.random() < 0.6
    for plan in plans:
        card, link_ms, pending = None, None, None
        if plan.system == POS:
            card = _card_number(plan.key)
        elif plan.system == CRM and link:
            pos_card = _card_number(pos.key)
            if pos.created_ms <= plan.created_ms:
                card = pos_card
            elif pos.deleted_ms is None or pos.created_ms < pos.deleted_ms - DAY:
                link_ms, pending = pos.created_ms + 1 + int(rng.random() * 10 * DAY), pos_card
        view = observe(rng, plan, ctx, card)
        view.pending_card = pending
        source = plan.system
        for ms, op, before, after in history(rng, plan, view, ctx, link_ms):
            out.append((ms, 0, len(out), source, op, before, after))


def _chunk_events(ctx: Context, chunk: _Chunk, keys: KeyAllocator) -> list[tuple]:
    events: list[tuple] = []
    booked = []
    for i, person in enumerate(chunk.people):
        rng = ctx.rng(person.index, DETAILS)
        _contact_events(ctx, chunk, i, rng, events)
        if chunk.purchases[i]:
            brands = favourite_brands(rng)
            booked.extend((p.ms, person.index, n, p, rng, brands) for n, p in enumerate(chunk.purchases[i]))
    # Ticket and order numbers follow purchase time, as a database sequence would.
    booked.sort(key=lambda b: b[:3])
    for ms, index, n, purchase, rng, brands in booked:
        key = keys.ticket() if purchase.kind == TICKET else keys.order()
        source = 3 if purchase.kind == TICKET else 4
        person = chunk.people[index - chunk.people[0].index]
        for ms2, op, before, after in purchase_events(rng, purchase, key, person, brands, ctx):
            events.append((ms2, 1, len(events), source, op, before, after))
    events.sort(key=lambda e: e[:3])
    return events


def generate(spec: WorldSpec) -> Iterator[tuple[str, dict]]:
    """Yield (source_name, debezium_envelope) in emission order, lazily, one chunk at a time."""
    lsn = [0] * len(_ALL_SOURCES)
    meta = [SOURCES[name][:3] for name in _ALL_SOURCES]
    for ctx, chunk, keys in _chunks(spec):
        for ms, _, _, source, op, before, after in _chunk_events(ctx, chunk, keys):
            lsn[source] += 1
            n = lsn[source]
            connector, db, table = meta[source]
            # Capture lag of 0.05-3 s, derived from the lsn so it costs no random draws.
            envelope = {"before": before, "after": after, "op": op, "ts_ms": ms + 50 + (n * 7919) % 2950,
                        "source": {"connector": connector, "db": db, "table": table, "ts_ms": ms, "lsn": n}}
            yield _ALL_SOURCES[source], envelope


def truth(spec: WorldSpec) -> Iterator[dict]:
    """Yield the hidden answers for generate(spec): record -> person links and churn labels.

    Only the TRAITS streams are replayed (no rows, no baskets), so this is much
    cheaper than generate() while giving exactly the same keys.
    """
    for ctx, chunk, _ in _chunks(spec):
        for plans in chunk.plans:
            for plan in plans:
                yield {"kind": "record", "source": CONTACT_SOURCES[plan.system], "key": str(plan.key),
                       "person_id": plan.person.person_id, "deleted": plan.deleted_ms is not None}
        for person, purchases, churn_ms in zip(chunk.people, chunk.purchases, chunk.churn):
            last = max((p.ms for p in purchases), default=None)
            yield {"kind": "person", "person_id": person.person_id,
                   "churned": last is None or last < ctx.end_ms - CHURN_WINDOW,
                   "churn_date": iso_date(churn_ms) if churn_ms is not None else None,
                   "first_name": person.first, "last_name": person.last, "email": person.email_at(ctx.end_ms),
                   "birth_date": "%04d-%02d-%02d" % person.birth, "household_id": person.household_id,
                   "orders": len(purchases), "last_purchase": iso_date(last) if last is not None else None}

