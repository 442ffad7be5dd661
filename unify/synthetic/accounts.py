"""Which contact records a person has, when each was created, and whether it gets deleted."""

from __future__ import annotations

from random import Random

from .context import Context
from .people import Person
from .timeline import DAY, HOUR

POS, CRM, ERP = 0, 1, 2
CONTACT_SOURCES = ("pos_customers", "crm_contacts", "erp_customers")
# How likely each system is to be among a person's systems (POS sees most shoppers).
_SYSTEM_WEIGHTS = (0.45, 0.25, 0.30)
_FIRST_KEY = (100_001, 1, 10_001)


class RecordPlan:
    """One contact record's life; `key` is filled in once the whole chunk is planned."""

    __slots__ = ("system", "person", "ordinal", "created_ms", "deleted_ms", "key")

    def __init__(self, system: int, person: Person, ordinal: int, created_ms: int, deleted_ms: int | None):
        self.system = system
        self.person = person
        self.ordinal = ordinal  # 0: first sign-up, 1: duplicate sign-up
        self.created_ms = created_ms
        self.deleted_ms = deleted_ms
        self.key: int | str = 0

    def alive(self, ms: int) -> bool:
        return self.created_ms < ms and (self.deleted_ms is None or ms < self.deleted_ms)


def _pick_systems(rng: Random, count: int) -> list[int]:
    remaining, weights, chosen = [POS, CRM, ERP], list(_SYSTEM_WEIGHTS), []
    for _ in range(count):
        x = rng.random() * sum(weights)
        i = 0
        while i < len(weights) - 1 and x >= weights[i]:
            x -= weights[i]
            i += 1
        chosen.append(remaining.pop(i))
        weights.pop(i)
    return chosen


def _deletion(rng: Random, ctx: Context, created: int) -> int | None:
    # Deletions (GDPR requests) happen while the world runs, so snapshot rows are never pre-deleted.
    if rng.random() >= ctx.spec.delete_rate:
        return None
    earliest = max(created, ctx.start_ms) + HOUR
    return earliest + int(rng.random() * (ctx.end_ms - earliest)) if earliest < ctx.end_ms else None


def plan_records(rng: Random, person: Person, ctx: Context) -> list[RecordPlan]:
    """Draw the person's records from the TRAITS stream."""
    mix, end = ctx.spec.systems_mix, ctx.end_ms
    r = rng.random()
    count = 1 if r < mix[0] else 2 if r < mix[0] + mix[1] else 3
    plans = []
    for n, system in enumerate(_pick_systems(rng, count)):
        created = person.first_seen_ms
        if n:
            # Later sign-ups elsewhere: months after first contact, always inside the world.
            created = min(created + int(rng.expovariate(1 / 150) * DAY), end - 1 - int(rng.random() * 7 * DAY))
        plans.append(RecordPlan(system, person, 0, created, _deletion(rng, ctx, created)))
        if rng.random() < ctx.profile.duplicate:
            again = max(created, ctx.start_ms) + int(rng.expovariate(1 / 200) * DAY) + HOUR
            if again < end:
                plans.append(RecordPlan(system, person, 1, again, _deletion(rng, ctx, again)))
    return plans


def alive_record(rng: Random, plans: list[RecordPlan], system: int, ms: int) -> RecordPlan | None:
    """The record a purchase at `ms` is booked to: a live one of `system`, if any."""
    live = [p for p in plans if p.system == system and p.alive(ms)]
    if len(live) > 1:
        return live[int(rng.random() * len(live))]
    return live[0] if live else None


class KeyAllocator:
    """Sequential keys per source, continued across chunks."""

    def __init__(self) -> None:
        self._next = list(_FIRST_KEY)
        self.tickets = 1
        self.orders = 1

    def assign(self, plans: list[RecordPlan]) -> None:
        # Keys follow sign-up order within a chunk, like a database sequence would.
        for plan in sorted(plans, key=lambda p: (p.system, p.created_ms, p.person.index, p.ordinal)):
            n = self._next[plan.system]
            self._next[plan.system] = n + 1
            plan.key = f"CRM-{n:07d}" if plan.system == CRM else n

    def ticket(self) -> int:
        self.tickets += 1
        return self.tickets - 1

    def order(self) -> str:
        self.orders += 1
        return f"SO-{self.orders - 1:08d}"
