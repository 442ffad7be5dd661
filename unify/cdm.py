"""Common Data Model entities the sources map onto.

Attribute names follow the CDM `Contact` and `SalesOrder` entities so that the dimension can
be exported as a CDM folder and read by tools that know those names.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

CONTACT_ATTRIBUTES: tuple[str, ...] = (
    "firstName",
    "middleName",
    "lastName",
    "fullName",
    "birthDate",
    "gender",
    "emailAddress1",
    "telephone1",
    "mobilePhone",
    "address1_line1",
    "address1_city",
    "address1_stateOrProvince",
    "address1_postalCode",
    "address1_country",
)

# Attributes drawn from small vocabularies (names, places, dates, genders): the engine keeps
# each of their values once, however many records hold it (a tenth of its memory otherwise).
SHARED_VALUES = frozenset({"firstName", "middleName", "lastName", "birthDate", "gender", "address1_city",
                           "address1_stateOrProvince", "address1_postalCode", "address1_country"})


def kept(attribute: str, value: object) -> object:
    """A contact attribute's value as the engine keeps it: shared ones interned."""
    return sys.intern(value) if value.__class__ is str and attribute in SHARED_VALUES else value


def keeper(attribute: str) -> Callable[[str], str]:
    """`kept` of one attribute's text values, chosen once: `str` returns text unchanged."""
    return sys.intern if attribute in SHARED_VALUES else str


ORDER_ATTRIBUTES: tuple[str, ...] = (
    "orderId",
    "customerRef",
    "orderedAt",
    "totalAmount",
    "currency",
    "storeId",
    "channel",
    "lines",
)

LINE_ATTRIBUTES: tuple[str, ...] = ("product", "brand", "category", "quantity", "price")


@dataclass(frozen=True, slots=True)
class Change:
    """One mapped CDC change of a source record.

    `position` orders versions of the same key (last writer wins); `event_ms` is the source
    event time that survivorship and features use, never the arrival time.
    """

    source: str
    key: str
    op: str  # "upsert" or "delete"
    position: int
    event_ms: int
    attributes: dict[str, object] = field(default_factory=dict)

    @property
    def record_id(self) -> tuple[str, str]:
        return (self.source, self.key)


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One mapped CDC change of a SalesOrder; `order` holds its CDM values."""

    source: str
    key: str
    op: str
    position: int
    event_ms: int
    order: dict


@dataclass(frozen=True, slots=True)
class Override:
    """A person's decision about two source records: `always`, `never` or `clear`."""

    left: tuple[str, str]
    right: tuple[str, str]
    kind: str
    at_ms: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Erasure:
    """Remove a person: every source record of the customer is deleted and purged."""

    customer_id: str
    at_ms: int
    reason: str | None = None
