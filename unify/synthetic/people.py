"""Hidden true identities: who a person is, where they live, and how that changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from random import Random

from .context import Context
from .noise import fold
from .spec import MAX_PEOPLE
from .timeline import DAY, ymd_of
from .vocab import (
    ACCENTED_FIRST, ACCENTED_LAST, CITIES, CITY_PICKER, COMMON_FULL_NAMES, EMAIL_DOMAINS, MX_FIRST,
    MX_LAST, STREET_SUFFIXES, STREETS, US_FIRST, US_LAST,
)

HISPANIC_SHARE = 0.12
_NOT_LETTERS = re.compile(r"[^a-z]")


@dataclass(frozen=True, slots=True)
class Address:
    number: int
    street: str
    suffix: int  # index into STREET_SUFFIXES
    unit: str | None
    city: int  # index into CITIES
    zip5: str
    plus4: str


@dataclass(slots=True)
class Person:
    index: int
    person_id: str
    gender: str
    first: str
    middle: str | None
    last: str
    birth: tuple[int, int, int]
    email: str
    mobile: str  # 10 digits
    home_phone: str | None
    address: Address
    store: int
    first_seen_ms: int
    household_id: str | None = None
    move_ms: int | None = None
    new_address: Address | None = None
    email_change_ms: int | None = None
    new_email: str | None = None

    def email_at(self, ms: int) -> str:
        return self.new_email if self.email_change_ms is not None and ms >= self.email_change_ms else self.email

    def address_at(self, ms: int) -> Address:
        return self.new_address if self.move_ms is not None and ms >= self.move_ms else self.address


def _phone(ctx: Context, index: int, city: int, rng: Random, landline: bool) -> str:
    # Bijections on MAX_PEOPLE slots: mobiles use exchanges 200-590 (skipping the
    # fictional 555), landlines 600-979, so numbers are unique per person.
    factor = 2_718_281 if landline else 1_234_567
    local = (index * factor + ctx.phone_offset) % MAX_PEOPLE
    if landline:
        local += 6_000_000
    else:
        local += 2_000_000
        if local >= 5_550_000:
            local += 10_000
    codes = CITIES[city][3]
    return f"{codes[int(rng.random() * len(codes))]}{local:07d}"


def _address(rng: Random, city: int) -> Address:
    unit = None
    if rng.random() < 0.2:
        unit = f"Apt {1 + int(rng.random() * 40)}" if rng.random() < 0.6 else f"Unit {1 + int(rng.random() * 9)}{'ABCD'[int(rng.random() * 4)]}"
    return Address(
        number=1 + int(9998 * rng.random() ** 2),
        street=STREETS[int(rng.random() * len(STREETS))],
        suffix=int(rng.random() * len(STREET_SUFFIXES)),
        unit=unit,
        city=city,
        zip5=f"{CITIES[city][2]}{int(rng.random() * 100):02d}",
        plus4=f"{int(rng.random() * 10000):04d}",
    )


def make_email(ctx: Context, index: int, first: str, last: str, rng: Random, avoid_domain: str = "") -> str:
    f = _NOT_LETTERS.sub("", fold(first.split()[0]).lower()) or "x"
    l = _NOT_LETTERS.sub("", fold(last).lower()) or "x"
    local = (f"{f}.{l}", f"{f}{l}", f"{f[0]}{l}", f"{f}_{l}", f"{l}.{f}", f"{f}.{l[0]}")[int(rng.random() * 6)]
    number = (index * 7_777_777 + ctx.email_offset) % ctx.email_modulus
    domain = EMAIL_DOMAINS.pick(rng)
    while domain == avoid_domain:
        domain = EMAIL_DOMAINS.pick(rng)
    return f"{local}{number}@{domain}"


def _names(rng: Random, ctx: Context, gender: str) -> tuple[str, str, str]:
    """(first, last, gender); gender may change only for the forced common names."""
    p = ctx.profile
    g = gender if gender != "X" else ("F" if rng.random() < 0.5 else "M")
    r = rng.random()
    if r < p.common_name:
        first, last, common_gender = COMMON_FULL_NAMES.pick(rng)
        return first, last, common_gender
    if r < p.common_name + p.accented_names:
        last = ACCENTED_LAST.pick(rng) if rng.random() < 0.6 else US_LAST.pick(rng)
        return ACCENTED_FIRST[g].pick(rng), last, gender
    if r < p.common_name + p.accented_names + HISPANIC_SHARE:
        return MX_FIRST[g].pick(rng), MX_LAST.pick(rng), gender
    return US_FIRST[g].pick(rng), US_LAST.pick(rng), gender


def make_person(rng: Random, index: int, ctx: Context, prev: Person | None) -> Person:
    """Draw one person from the TRAITS stream; `prev` may become their household."""
    start, end = ctx.start_ms, ctx.end_ms
    r = rng.random()
    gender = "F" if r < 0.5 else "M" if r < 0.98 else "X"
    first, last, gender = _names(rng, ctx, gender)
    middle = US_FIRST["F" if gender == "F" else "M"].pick(rng) if rng.random() < 0.55 else None
    age_days = int((18 + 67 * rng.random() ** 1.4) * 365.25 * DAY)
    birth = ymd_of(start - age_days - int(rng.random() * 365) * DAY)

    household = prev if prev is not None and rng.random() < ctx.profile.shared_household else None
    if household is not None:
        household.household_id = household.household_id or household.person_id
        if rng.random() < 0.7:
            last = household.last
        city, address = household.address.city, household.address
        home_phone = household.home_phone or household.mobile
    else:
        city = CITY_PICKER.pick(rng)
        address = _address(rng, city)
        home_phone = _phone(ctx, index, city, rng, landline=True) if rng.random() < 0.3 else None
    email = make_email(ctx, index, first, last, rng)
    if household is not None and rng.random() < 0.5:
        email = household.email
    local_stores = ctx.stores_by_city[city]
    store = local_stores[int(rng.random() * len(local_stores))] if local_stores else int(rng.random() * ctx.spec.stores)

    if rng.random() < ctx.spec.preexisting:
        first_seen = start - int(rng.random() * 3 * 365 * DAY) - 1
    else:
        first_seen = start + int(rng.random() * (end - start - 7 * DAY))
    person = Person(
        index=index, person_id=f"P{index + 1:07d}", gender=gender, first=first, middle=middle, last=last,
        birth=birth, email=email, mobile=_phone(ctx, index, city, rng, landline=False), home_phone=home_phone,
        address=address, store=store, first_seen_ms=first_seen,
        household_id=household.household_id if household is not None else None,
    )
    active_from = max(first_seen, start)
    if rng.random() < ctx.profile.move:
        person.move_ms = active_from + int(rng.random() * (end - active_from))
        person.new_address = _address(rng, city if rng.random() < 0.7 else CITY_PICKER.pick(rng))
    if rng.random() < ctx.profile.email_change:
        person.email_change_ms = active_from + int(rng.random() * (end - active_from))
        person.new_email = make_email(ctx, index, first, last, rng, avoid_domain=email.split("@")[1])
    return person
