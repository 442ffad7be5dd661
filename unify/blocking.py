"""Block index with a generic-value guard.

A block key shared by more than `max_size` records (a shop's own phone number,
`test@example.com`) is generic: it links nothing. The decision depends only on the count of
records holding the key, so it does not depend on the order in which they arrived.

>>> index = BlockIndex(max_size=2)
>>> for rid in ("a", "b", "c"):
...     _ = index.add("phone=1", rid)
>>> index.is_generic("phone=1")
True
>>> index.remove("phone=1", "c")
'became_specific'
"""
from __future__ import annotations

from typing import Hashable, Iterable


class BlockIndex:
    __slots__ = ("max_size", "_blocks")

    def __init__(self, max_size: int):
        self.max_size = max_size
        self._blocks: dict[str, set[Hashable]] = {}

    def add(self, key: str, rid: Hashable) -> str | None:
        """Add; returns 'became_generic' when this record tips the key over the cap."""
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = {rid}
        else:
            block.add(rid)
        return "became_generic" if len(block) == self.max_size + 1 else None

    def remove(self, key: str, rid: Hashable) -> str | None:
        """Remove; returns 'became_specific' when the key drops back to the cap."""
        block = self._blocks.get(key)
        if block is None:
            return None
        block.discard(rid)
        if not block:
            del self._blocks[key]
            return None
        return "became_specific" if len(block) == self.max_size else None

    def is_generic(self, key: str) -> bool:
        block = self._blocks.get(key)
        return block is not None and len(block) > self.max_size

    def generic_keys(self) -> list[str]:
        return sorted(k for k, block in self._blocks.items() if len(block) > self.max_size)

    def members(self, key: str) -> set[Hashable]:
        return self._blocks.get(key, set())

    def candidates(self, keys: Iterable[str]) -> set[Hashable]:
        """Records sharing any non-generic key."""
        found: set[Hashable] = set()
        for key in keys:
            block = self._blocks.get(key)
            if block is not None and len(block) <= self.max_size:
                found |= block
        return found
