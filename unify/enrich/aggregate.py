"""The activity of one source record (or of many, merged): a monoid over held orders.

An empty `ActivityAggregate(half_life_ms)` is the identity, `+` / `+=` merge, `add` /
`remove` fold one order in or out. Money is integer cents and decayed sums are exact (see
`decay`), so a customer's aggregate is the same whichever way its records' aggregates are
combined, and taking an order out restores exactly the aggregate it was added to.

Only the purchase span (first, previous, last purchase) is not invertible: removing the
order at an end of the span needs the times of the orders that remain, which the caller
(the ledger) holds.
"""
from __future__ import annotations

from collections.abc import Iterable
from heapq import nlargest
from typing import Self

from unify.enrich.decay import DecayedSums, scale
from unify.enrich.orders import HeldOrder, line_spend

ORDERS, SPEND = "orders", "spend"  # keys of the decayed activity sums


def _count(counts: dict[str, int], key: str | None, delta: int) -> None:
    if key is None:
        return
    total = counts.get(key, 0) + delta
    if total:
        counts[key] = total
    else:
        del counts[key]


class ActivityAggregate:
    """Order count, spend, purchase span, channel and store counts, decayed spend mixes.

    >>> from unify.enrich.orders import HeldOrder
    >>> DAY = 86_400_000
    >>> a = ActivityAggregate(half_life_ms=90 * DAY)
    >>> a.add(HeldOrder(1, ("pos", "1"), 0, 2000, "store", "S1", ("Lumen", "home", 2000)))
    >>> b = ActivityAggregate(half_life_ms=90 * DAY)
    >>> b.add(HeldOrder(1, ("erp", "9"), 10 * DAY, 500, "web", None, ("Playgrove", "toys", 500)))
    >>> both = a + b
    >>> both.orders, both.cents, both.first_ms, both.last_ms // DAY, both.channels
    (2, 2500, 0, 10, {'store': 1, 'web': 1})
    """

    __slots__ = ("orders", "cents", "first_ms", "previous_ms", "last_ms", "channels", "stores",
                 "activity", "categories", "brands")

    def __init__(self, half_life_ms: int):
        self.orders = 0
        self.cents = 0
        self.first_ms: int | None = None
        self.previous_ms: int | None = None  # second-latest purchase: the last inter-purchase gap
        self.last_ms: int | None = None
        self.channels: dict[str, int] = {}
        self.stores: dict[str, int] = {}
        self.activity = DecayedSums(half_life_ms)  # decayed order count and spend
        self.categories = DecayedSums(half_life_ms)
        self.brands = DecayedSums(half_life_ms)

    @property
    def half_life_ms(self) -> int:
        return self.activity.half_life_ms

    def _fold(self, order: HeldOrder, sign: int) -> None:
        self.orders += sign
        self.cents += sign * order.cents
        _count(self.channels, order.channel, sign)
        _count(self.stores, order.store, sign)
        at = scale(order.ordered_ms, self.activity.half_life_ms)  # the three sums share one half-life
        self.activity.add_scaled(ORDERS, sign, at)
        self.activity.add_scaled(SPEND, sign * order.cents, at)
        for brand, category, cents in line_spend(order):
            if brand is not None:
                self.brands.add_scaled(brand, sign * cents, at)
            if category is not None:
                self.categories.add_scaled(category, sign * cents, at)

    def add(self, order: HeldOrder) -> None:
        self._fold(order, 1)
        at = order.ordered_ms  # the span with one more time, as `_span` would make it
        if self.first_ms is None or at < self.first_ms:
            self.first_ms = at
        if self.last_ms is None or at >= self.last_ms:
            self.previous_ms, self.last_ms = self.last_ms, at
        elif self.previous_ms is None or at > self.previous_ms:
            self.previous_ms = at

    def remove(self, order: HeldOrder, remaining_ms: Iterable[int]) -> None:
        """Take `order` out; `remaining_ms` (the times of the orders left) is read only when
        the order was at an end of the purchase span."""
        self._fold(order, -1)
        if order.ordered_ms in (self.first_ms, self.previous_ms, self.last_ms):
            self.first_ms = self.previous_ms = self.last_ms = None
            self._span(remaining_ms)

    def _span(self, times: Iterable[int]) -> None:
        times = list(times)
        if not times:
            return
        self.first_ms = min(times) if self.first_ms is None else min(self.first_ms, *times)
        known = [t for t in (self.previous_ms, self.last_ms) if t is not None]
        top = nlargest(2, known + times)
        self.last_ms = top[0]
        self.previous_ms = top[1] if len(top) > 1 else None

    def __iadd__(self, other: ActivityAggregate) -> Self:
        self.merge(other)
        return self

    def merge(self, other: ActivityAggregate, mixes: bool = True) -> None:
        """`+=`; with `mixes=False` the brand and category sums are left out (the costly
        part), for readers of the activity measures only."""
        self.orders += other.orders
        self.cents += other.cents
        for mine, theirs in ((self.channels, other.channels), (self.stores, other.stores)):
            for key, count in theirs.items():
                _count(mine, key, count)
        self.activity += other.activity
        if mixes:
            self.categories += other.categories
            self.brands += other.brands
        if other.first_ms is not None:
            self.first_ms = other.first_ms if self.first_ms is None else min(self.first_ms, other.first_ms)
            self._span([t for t in (other.previous_ms, other.last_ms) if t is not None])

    def __add__(self, other: ActivityAggregate) -> ActivityAggregate:
        merged = self.copy()
        merged += other
        return merged

    def copy(self) -> ActivityAggregate:
        clone = ActivityAggregate.__new__(ActivityAggregate)
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(clone, name, value.copy() if hasattr(value, "copy") else value)
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActivityAggregate):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        return f"ActivityAggregate(orders={self.orders}, cents={self.cents}, last_ms={self.last_ms})"

    def __getstate__(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)
