"""When people buy (and stop buying), and the ticket / order rows that records it."""

from __future__ import annotations

from math import exp
from random import Random

from .accounts import ERP, POS, RecordPlan, alive_record
from .catalog import BRAND_NAMES, order_lines
from .context import Context
from .people import Person
from .timeline import DAY, HOUR, MONTH, iso_datetime
from .vocab import store_id

TICKET, ORDER = 0, 1
CHURN_DECAY = 90 * DAY  # purchase rate fades linearly to zero over this window
CARD_NOT_SHOWN = 0.07  # members paying without their loyalty card
NON_MEMBER_STORE_VISIT = 0.25  # share of store visits by non-members that end in a ticket
ERP_CHANNELS = (("web", 0.7), ("marketplace", 0.9), ("phone", 1.0))


class Purchase:
    """A planned purchase; `plan` is the contact record it is booked to (None: anonymous)."""

    __slots__ = ("ms", "kind", "plan")

    def __init__(self, ms: int, kind: int, plan: RecordPlan | None):
        self.ms, self.kind, self.plan = ms, kind, plan


def _in_store_hours(rng: Random, ms: int) -> int:
    # 14:00-24:00 UTC is roughly store opening hours across US time zones.
    return ms - ms % DAY + 14 * HOUR + int(rng.random() * 10 * HOUR)


def plan_purchases(rng: Random, person: Person, plans: list[RecordPlan], ctx: Context) -> tuple[list[Purchase], int | None]:
    """Purchases from the TRAITS stream, plus the churn date (None for loyal customers)."""
    spec, end = ctx.spec, ctx.end_ms
    rate = min(spec.monthly_orders_median * exp(rng.gauss(0.0, 1.1)), 20.0) / MONTH
    prefers_store = rng.random() ** 0.7
    t = max(person.first_seen_ms, ctx.start_ms)
    churn_ms = None
    if rng.random() < spec.churn_rate:
        earliest = t + 30 * DAY
        churn_ms = earliest + int(rng.random() * (end - earliest)) if earliest < end else None
    stop = min(end, churn_ms) if churn_ms is not None else end
    purchases = []
    while True:
        t += int(rng.expovariate(rate)) + 1
        if t >= stop:
            break
        if churn_ms is not None and t > churn_ms - CHURN_DECAY and rng.random() > (churn_ms - t) / CHURN_DECAY:
            continue
        purchase = _book(rng, plans, t, rng.random() < prefers_store)
        if purchase is not None:
            purchases.append(purchase)
    return purchases, churn_ms


def _book(rng: Random, plans: list[RecordPlan], t: int, in_store: bool) -> Purchase | None:
    if in_store:
        t = _in_store_hours(rng, t)
        member = alive_record(rng, plans, POS, t)
        if member is not None:
            return Purchase(t, TICKET, None if rng.random() < CARD_NOT_SHOWN else member)
        if rng.random() < NON_MEMBER_STORE_VISIT:
            return Purchase(t, TICKET, None)
        customer = alive_record(rng, plans, ERP, t)
        return Purchase(t, ORDER, customer) if customer is not None else None
    customer = alive_record(rng, plans, ERP, t)
    if customer is not None:
        return Purchase(t, ORDER, customer)
    t = _in_store_hours(rng, t)
    member = alive_record(rng, plans, POS, t)
    if member is not None:
        return Purchase(t, TICKET, member)
    return Purchase(t, TICKET, None) if rng.random() < NON_MEMBER_STORE_VISIT else None


def favourite_brands(rng: Random) -> tuple[str, ...]:
    return tuple(BRAND_NAMES[int(rng.random() * len(BRAND_NAMES))] for _ in range(1 + int(rng.random() * 3)))


def purchase_events(rng: Random, purchase: Purchase, key: int | str, person: Person,
                    brands: tuple[str, ...], ctx: Context) -> list[tuple[int, str, dict | None, dict | None]]:
    """The 'c' event of a ticket or order, and sometimes a price correction ('u') or cancellation ('d')."""
    lines, cents = order_lines(rng, brands)
    ms = purchase.ms
    if purchase.kind == TICKET:
        store = person.store if rng.random() < 0.85 else int(rng.random() * ctx.spec.stores)
        row = {"ticket_id": key, "member_id": purchase.plan.key if purchase.plan else None,
               "store_id": store_id(store), "channel": "store", "ts": iso_datetime(ms),
               "total": cents / 100, "currency": "USD", "lines": lines}
        total_field = "total"
    else:
        r = rng.random()
        channel = next(name for name, cut in ERP_CHANNELS if r < cut)
        row = {"order_no": key, "customer_no": purchase.plan.key, "order_date": iso_datetime(ms),
               "channel": channel, "amount": cents / 100, "currency": "USD", "lines": lines}
        total_field = "amount"
    events: list[tuple[int, str, dict | None, dict | None]] = [(ms, "c", None, row)]
    r = rng.random()
    if r < 0.013:
        ms += 1 + int(rng.expovariate(1 / 2) * DAY)
        if ms < ctx.end_ms:
            fixed = dict(lines[0], unit_price=round(lines[0]["unit_price"] * 0.9, 2))
            new_lines = [fixed, *lines[1:]]
            cents = sum(line["qty"] * round(line["unit_price"] * 100) for line in new_lines)
            new_row = {**row, "lines": new_lines, total_field: cents / 100}
            events.append((ms, "u", row, new_row))
            row = new_row
    if r < 0.002 or 0.013 <= r < 0.017:
        ms += 1 + int(rng.expovariate(1 / 3) * DAY)
        if ms < ctx.end_ms:
            events.append((ms, "d", row, None))
    return events
