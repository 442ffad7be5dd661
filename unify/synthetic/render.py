"""Turn what a system knows about a person into that system's row layout."""

from __future__ import annotations

from .accounts import CRM, POS
from .noise import cased, format_phone
from .people import Address
from .timeline import ymd_dmy, ymd_iso, ymd_mdy
from .vocab import CITIES, CITY_ALIASES, STATE_NAMES, STREET_SUFFIXES, store_id


class RecordView:
    """A system's current knowledge of a person plus its formatting habits (mutable across updates)."""

    __slots__ = ("system", "key", "card", "pending_card", "store", "first", "middle", "last", "gender",
                 "email", "junk_email", "mobile", "phone", "birth", "address", "fixed_names", "folded",
                 "phone_style", "case", "padded", "street_full", "zip_plus4", "city_alias", "region_full",
                 "name_style", "country")

    def __init__(self, system: int, key: int | str, card: str | None, store: int):
        self.system, self.key, self.card, self.store = system, key, card, store
        self.pending_card: str | None = None
        self.first = self.last = ""
        self.middle: str | None = None
        self.gender: str | None = None
        self.email: str | None = None
        self.junk_email = False
        self.mobile: str | None = None
        self.phone: str | None = None
        self.birth: tuple[int, int, int] | None = None
        self.address: Address | None = None
        self.fixed_names: tuple[str, str] | None = None  # the names before a typo, if any
        self.folded = False
        self.phone_style = self.case = self.name_style = 0
        self.padded = self.street_full = self.zip_plus4 = self.city_alias = self.region_full = False
        self.country = "USA"


def _name(view: RecordView, text: str, pad: bool = False) -> str:
    text = cased(text, view.case)
    return f"{text} " if pad and view.padded else text


def _street(view: RecordView, a: Address) -> str:
    suffix = STREET_SUFFIXES[a.suffix][1 if view.street_full else 0]
    line = f"{a.number} {a.street} {suffix}"
    if a.unit:
        line += f" {a.unit}" if view.street_full else f" #{a.unit.split()[1]}"
    return line.upper() if view.case == 1 else line


def _zip(view: RecordView, a: Address) -> str:
    return f"{a.zip5}-{a.plus4}" if view.zip_plus4 else a.zip5


def _city(view: RecordView, a: Address) -> str:
    city = CITIES[a.city][0]
    if view.city_alias and city in CITY_ALIASES:
        city = CITY_ALIASES[city][0]
    return city.upper() if view.case == 1 else city


def _phone(view: RecordView, digits: str | None) -> str | None:
    return format_phone(digits, view.phone_style) if digits else None


def _full_name(view: RecordView) -> str:
    first, last = view.first, view.last
    style = view.name_style
    if style == 1:
        return f"{last.upper()}, {first}"
    if style == 2:
        return f"{first} {last}".upper()
    if style == 3 and view.middle:
        return cased(f"{first} {view.middle[0]}. {last}", view.case)
    return cased(f"{first} {last}", view.case)


def render(view: RecordView) -> dict:
    a, birth = view.address, view.birth
    if view.system == POS:
        return {
            "member_id": view.key, "card_number": view.card, "first_name": _name(view, view.first, pad=True),
            "last_name": _name(view, view.last), "email": view.email, "phone": _phone(view, view.mobile),
            "zip": _zip(view, a) if a else None, "birth_date": ymd_dmy(birth) if birth else None,
            "signup_store": store_id(view.store),
        }
    if view.system == CRM:
        return {
            "contact_id": view.key, "given_name": _name(view, view.first, pad=True),
            "middle_name": cased(view.middle, view.case) if view.middle else None,
            "family_name": _name(view, view.last), "email": view.email, "mobile": _phone(view, view.mobile),
            "phone": _phone(view, view.phone), "birthdate": ymd_iso(birth) if birth else None,
            "gender": view.gender, "street": _street(view, a) if a else None, "city": _city(view, a) if a else None,
            "state": CITIES[a.city][1] if a else None, "postal_code": _zip(view, a) if a else None,
            "country": "US", "loyalty_card": view.card,
        }
    state = CITIES[a.city][1] if a else None
    return {
        "customer_no": view.key, "name": _full_name(view), "email": view.email, "phone": _phone(view, view.mobile),
        "address_line1": _street(view, a) if a else None, "city": _city(view, a) if a else None,
        "region": (STATE_NAMES[state] if view.region_full else state) if a else None,
        "zip": _zip(view, a) if a else None, "country": view.country,
        "birth_date": ymd_mdy(birth) if birth else None,
    }
