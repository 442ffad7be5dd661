"""What each contact system saw of a person, and how that record changes over time."""

from __future__ import annotations

from random import Random

from .accounts import CRM, ERP, POS, RecordPlan
from .context import Context
from .noise import email_alias, fold, nickname, swap_day_month, transpose_digits, typo
from .people import Person
from .render import RecordView, render
from .timeline import DAY
from .vocab import JUNK_EMAILS, JUNK_PHONES, store_phone

Event = tuple[int, str, "dict | None", "dict | None"]

# Per-system multipliers of the missing-field rates: (email, phone, birth date, address).
_MISSING = {POS: (1.3, 0.8, 1.2, 1.0), CRM: (0.5, 1.0, 0.8, 1.0), ERP: (1.0, 1.0, 1.6, 0.6)}
# Preferred phone formats per system (indexes into noise.format_phone).
_PHONE_STYLES = {POS: (3, 3, 0, 4), CRM: (5, 2, 0, 0), ERP: (0, 4, 1, 6)}


def _names(rng: Random, person: Person, system: int, ctx: Context, view: RecordView) -> None:
    p = ctx.profile
    first, last = person.first, person.last
    if p.nickname and rng.random() < p.nickname:
        first = nickname(rng, first) or first
    if p.typo and rng.random() < p.typo:
        view.fixed_names = (first, last)
        if rng.random() < 0.5:
            first = typo(rng, first)
        else:
            last = typo(rng, last)
    if p.swap_names and rng.random() < p.swap_names:
        first, last = last, first
        if view.fixed_names:
            view.fixed_names = view.fixed_names[::-1]
    if p.ascii_fold and rng.random() < (p.ascii_fold if system == ERP else p.ascii_fold * 0.2):
        first, last = fold(first), fold(last)
        view.folded = True
    view.first, view.last = first, last
    if person.middle and rng.random() < 0.5:
        view.middle = person.middle if rng.random() < 0.7 else person.middle[0]


def observe(rng: Random, plan: RecordPlan, ctx: Context, card: str | None) -> RecordView:
    """Draw (from the DETAILS stream) how one system recorded the person at sign-up."""
    person, system, p = plan.person, plan.system, ctx.profile
    at = plan.created_ms
    miss_email, miss_phone, miss_birth, miss_address = (
        min(0.95, rate * m) for rate, m in zip(
            (p.missing_email, p.missing_phone, p.missing_birth_date, p.missing_address), _MISSING[system]))
    view = RecordView(system, plan.key, card, person.store)
    _names(rng, person, system, ctx, view)
    view.gender = person.gender if rng.random() < 0.8 else None

    junk = p.junk_contact and rng.random() < (p.junk_contact * 2 if system == POS else p.junk_contact)
    if rng.random() >= miss_email:
        email = person.email_at(at)
        # Duplicate sign-ups often come with another spelling of the address.
        if (p.email_alias and rng.random() < p.email_alias) or (plan.ordinal and rng.random() < 0.3):
            email = email_alias(rng, email)
        view.email = email
    if junk and rng.random() < 0.5:
        view.email = JUNK_EMAILS[int(rng.random() * len(JUNK_EMAILS))]
        view.junk_email = True
    if rng.random() >= miss_phone:
        phone = person.home_phone if person.home_phone and rng.random() < 0.25 else person.mobile
        if p.phone_typo and rng.random() < p.phone_typo:
            phone = transpose_digits(rng, phone)
        view.mobile = phone
        if system == CRM and person.home_phone and phone != person.home_phone and rng.random() < 0.6:
            view.phone = person.home_phone
    if junk and (view.email is None or not view.junk_email):
        view.mobile = store_phone(person.store) if system == POS else JUNK_PHONES[int(rng.random() * len(JUNK_PHONES))]
    if rng.random() >= miss_birth:
        view.birth = swap_day_month(person.birth) if p.date_swap and rng.random() < p.date_swap else person.birth
    if rng.random() >= miss_address:
        view.address = person.address_at(at)

    styles = _PHONE_STYLES[system]
    view.phone_style = styles[int(rng.random() * len(styles))] if rng.random() < 0.85 else int(rng.random() * 7)
    r = rng.random()
    view.case = 0 if r < (0.6 if system == ERP else 0.85) else 1 if r < 0.94 else 2
    view.padded = rng.random() < 0.03
    view.street_full = rng.random() < 0.4
    view.zip_plus4 = rng.random() < 0.15
    view.city_alias = rng.random() < 0.1
    view.region_full = rng.random() < 0.3
    view.name_style = int(rng.random() * 4)
    view.country = "USA" if rng.random() < 0.6 else "United States"
    return view


def history(rng: Random, plan: RecordPlan, view: RecordView, ctx: Context, card_link_ms: int | None) -> list[Event]:
    """Every CDC event of one record: create (or snapshot read), updates, delete."""
    person, start = plan.person, ctx.start_ms
    stop = plan.deleted_ms if plan.deleted_ms is not None else ctx.end_ms
    updates = []
    if person.move_ms is not None and view.address is not None and plan.created_ms < person.move_ms < stop \
            and rng.random() < 0.75:
        updates.append((person.move_ms + int(rng.expovariate(1 / 20) * DAY), "move"))
    if person.email_change_ms is not None and view.email is not None and not view.junk_email \
            and plan.created_ms < person.email_change_ms < stop and rng.random() < 0.7:
        updates.append((person.email_change_ms + int(rng.expovariate(1 / 15) * DAY), "email"))
    if view.fixed_names and rng.random() < ctx.profile.typo_fix:
        updates.append((plan.created_ms + int(rng.expovariate(1 / 45) * DAY), "typo"))
    if card_link_ms is not None:
        updates.append((card_link_ms, "card"))
    updates.sort()

    snapshot = plan.created_ms < start
    last_ms = start if snapshot else plan.created_ms
    pending = []
    for ms, what in updates:
        if ms >= stop:
            continue
        if snapshot and ms < start:
            _apply(view, what, person)  # already true when the snapshot was taken
        else:
            pending.append((ms, what))
    row = render(view)
    events: list[Event] = [(last_ms, "r" if snapshot else "c", None, row)]
    for ms, what in pending:
        _apply(view, what, person)
        new_row = render(view)
        if new_row != row:
            last_ms = max(ms, last_ms + 1)
            if last_ms >= stop:
                break
            events.append((last_ms, "u", row, new_row))
            row = new_row
    if plan.deleted_ms is not None:
        events.append((max(plan.deleted_ms, last_ms + 1), "d", row, None))
    return events


def _apply(view: RecordView, what: str, person: Person) -> None:
    if what == "move":
        view.address = person.new_address
    elif what == "email":
        view.email = person.new_email
    elif what == "typo":
        view.first, view.last = view.fixed_names
        if view.folded:
            view.first, view.last = fold(view.first), fold(view.last)
        view.fixed_names = None
    elif what == "card":
        view.card = view.pending_card
