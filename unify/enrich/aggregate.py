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

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from heapq import nlargest
from marshal import dumps, loads
from typing import Self

from unify.enrich.decay import DecayedSums, scale
from unify.enrich.orders import HeldOrder, RecordId, line_spend

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

    def packed(self) -> bytes:
        """The aggregate as one bytes object, a fifth to a quarter of its memory
        (`unpacked` reads it back equal)."""
        sums = (self.activity, self.categories, self.brands)
        return dumps((self.orders, self.cents, self.first_ms, self.previous_ms, self.last_ms, self.channels,
                      self.stores, self.half_life_ms, *(x for s in sums for x in (s.reference, s.units))))

    @classmethod
    def unpacked(cls, packed: bytes) -> ActivityAggregate:
        (orders, cents, first_ms, previous_ms, last_ms, channels, stores, half_life_ms,
         *sums) = loads(packed)
        aggregate = cls.__new__(cls)
        aggregate.__setstate__((orders, cents, first_ms, previous_ms, last_ms, channels, stores,
                                *(DecayedSums.restored(half_life_ms, sums[i], sums[i + 1]) for i in (0, 2, 4))))
        return aggregate

    def __getstate__(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class PackedAggregates:
    """Activity aggregates by record, packed (`ActivityAggregate.packed`, a fifth to a
    quarter of their memory) but for the `hot` most recently used, which stay objects: `get`
    hands out a live aggregate to change in place, packed again once `hot` others have been
    used since. For a worker, whose memory they would otherwise be a quarter of; it costs a
    pack and an unpack (about 10 µs) per order of a record not used lately.

    >>> from unify.enrich.orders import HeldOrder
    >>> aggregates = PackedAggregates(hot=1)
    >>> aggregates[("pos", "1")] = ActivityAggregate(half_life_ms=1000)
    >>> aggregates.get(("pos", "1")).add(HeldOrder(1, ("pos", "1"), 0, 2000, "store", None))
    >>> aggregates[("pos", "2")] = ActivityAggregate(half_life_ms=1000)   # packs ("pos", "1")
    >>> aggregates.get(("pos", "1")).cents, sorted(aggregates), len(aggregates)
    (2000, [('pos', '1'), ('pos', '2')], 2)
    """

    def __init__(self, hot: int = 10_000):
        self._hot: OrderedDict[RecordId, ActivityAggregate] = OrderedDict()  # least recently used first
        self._packed: dict[RecordId, bytes] = {}
        self._size = hot

    def get(self, record: RecordId, default: ActivityAggregate | None = None) -> ActivityAggregate | None:
        aggregate = self._hot.get(record)
        if aggregate is not None:
            self._hot.move_to_end(record)
            return aggregate
        packed = self._packed.pop(record, None)
        if packed is None:
            return default
        aggregate = ActivityAggregate.unpacked(packed)
        self._use(record, aggregate)
        return aggregate

    def __setitem__(self, record: RecordId, aggregate: ActivityAggregate) -> None:
        self._packed.pop(record, None)
        self._hot.pop(record, None)
        self._use(record, aggregate)

    def _use(self, record: RecordId, aggregate: ActivityAggregate) -> None:
        if len(self._hot) >= self._size:
            coldest, cold = self._hot.popitem(last=False)
            self._packed[coldest] = cold.packed()
        self._hot[record] = aggregate

    def __delitem__(self, record: RecordId) -> None:
        if self._hot.pop(record, None) is None:
            del self._packed[record]

    def __iter__(self) -> Iterator[RecordId]:
        yield from self._hot
        yield from self._packed

    def __len__(self) -> int:
        return len(self._hot) + len(self._packed)
