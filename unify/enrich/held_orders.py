"""Where the ledger keeps its orders: by order key, and by the source record each counts for.

`HeldOrders` keeps them in memory (tests, and the rebuild, whose process ends with the fold
and needs the speed); `sinks.held_orders_on_disk.HeldOrdersOnDisk` keeps them in a local
RocksDB (a worker, whose memory they would otherwise dominate). Both answer the same questions.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol

from unify.enrich.orders import HeldOrder, RecordId


class OrderStore(Protocol):
    def get(self, source: str, key: str) -> HeldOrder | int | None:
        """The live order under a key, or the position of a deleted or anonymous one."""

    def put(self, source: str, key: str, order: HeldOrder | int) -> None:
        """Hold a live order, or only the position of a deleted or anonymous one; replaces
        what the key held, which `discard` must have taken out first if it was live."""

    def discard(self, source: str, key: str, order: HeldOrder) -> None:
        """Take a live order out (its key is `put` again right after)."""

    def times(self, record: RecordId) -> list[int]:
        """The order times of the record's live orders."""

    def since(self, records: Iterable[RecordId], since_ms: int) -> list[tuple[int, int]]:
        """(ordered_ms, cents) of the records' live orders after `since_ms`, oldest first."""

    def shared(self, record: RecordId) -> RecordId:
        """An equal record id, shared with the record's other orders where that saves memory."""

    def __len__(self) -> int:
        """Live orders."""


class HeldOrders:
    """In memory: about 450 bytes per live order of 1-3 lines, 90 per deleted or anonymous
    one (`tests/unit/test_enrich_features.py` measures these)."""

    def __init__(self):
        # Keyed by order source, then order key: no (source, key) tuple to keep per order.
        self._live: dict[str, dict[str, HeldOrder]] = {}
        self._passive: dict[str, dict[str, int]] = {}
        # A record's live orders. A list: removal is linear in the record's orders, a set
        # would cost ~3x the memory per order.
        self._of: dict[RecordId, list[HeldOrder]] = {}

    def __len__(self) -> int:
        return sum(len(orders) for orders in self._live.values())

    def get(self, source: str, key: str) -> HeldOrder | int | None:
        held = self._live.get(source, {}).get(key)
        return held if held is not None else self._passive.get(source, {}).get(key)

    def put(self, source: str, key: str, order: HeldOrder | int) -> None:
        source = sys.intern(source)
        if isinstance(order, int):
            self._passive.setdefault(source, {})[key] = order
            return
        self._passive.get(source, {}).pop(key, None)
        self._live.setdefault(source, {})[key] = order
        self._of.setdefault(order.record, []).append(order)

    def discard(self, source: str, key: str, order: HeldOrder) -> None:
        del self._live[source][key]
        orders = self._of[order.record]
        orders.remove(order)
        if not orders:
            del self._of[order.record]

    def times(self, record: RecordId) -> list[int]:
        return [held.ordered_ms for held in self._of.get(record, ())]

    def since(self, records: Iterable[RecordId], since_ms: int) -> list[tuple[int, int]]:
        return sorted((o.ordered_ms, o.cents) for r in set(records)
                      for o in self._of.get(r, ()) if o.ordered_ms > since_ms)

    def shared(self, record: RecordId) -> RecordId:
        orders = self._of.get(record)
        return orders[0].record if orders else record
