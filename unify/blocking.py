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


class _Few(tuple):
    """The records of a key held by a few (2 to `FEW`): 72 bytes for two, where a set
    costs 216. A class of its own, as a record id may itself be a tuple."""
    __slots__ = ()


FEW = 8  # past this a key's records go into a set, for constant-time membership


class BlockIndex:
    """Key -> the records holding it. Most keys (an e-mail, a card number) belong to one
    record, so such a key maps to that record itself, and a key of a few records to a
    tuple of them: sets for all would cost about half the engine's memory."""

    __slots__ = ("max_size", "_blocks")

    def __init__(self, max_size: int):
        self.max_size = max_size
        self._blocks: dict[str, Hashable | _Few | set[Hashable]] = {}

    def add(self, key: str, rid: Hashable) -> str | None:
        """Add; returns 'became_generic' when this record tips the key over the cap."""
        block = self._blocks.get(key)
        if block is None:
            self._blocks[key] = rid
            size = 1
        elif block.__class__ is set:
            block.add(rid)
            size = len(block)
        elif block.__class__ is _Few:
            if rid in block:
                return None
            size = len(block) + 1
            self._blocks[key] = _Few((*block, rid)) if size <= FEW else {*block, rid}
        elif block == rid:
            size = 1
        else:
            self._blocks[key] = _Few((block, rid))
            size = 2
        return "became_generic" if size == self.max_size + 1 else None

    def remove(self, key: str, rid: Hashable) -> str | None:
        """Remove; returns 'became_specific' when the key drops back to the cap."""
        block = self._blocks.get(key)
        if block is None:
            return None
        if block.__class__ is set:
            block.discard(rid)
            size = len(block)
            if size <= FEW:
                self._blocks[key] = _Few(block) if size > 1 else next(iter(block))
        elif block.__class__ is _Few:
            if rid not in block:
                return None
            rest = tuple(r for r in block if r != rid)
            self._blocks[key] = _Few(rest) if len(rest) > 1 else rest[0]
            size = len(rest)
        else:
            if block == rid:
                del self._blocks[key]
            return None
        return "became_specific" if size == self.max_size else None

    def size(self, key: str) -> int:
        block = self._blocks.get(key)
        return 0 if block is None else len(block) if block.__class__ in (set, _Few) else 1

    def is_generic(self, key: str) -> bool:
        return self.size(key) > self.max_size

    def generic_keys(self) -> list[str]:
        return sorted(k for k in self._blocks if self.is_generic(k))

    def members(self, key: str) -> set[Hashable]:
        block = self._blocks.get(key)
        if block is None:
            return set()
        return block if block.__class__ is set else set(block) if block.__class__ is _Few else {block}

    def candidates(self, keys: Iterable[str]) -> set[Hashable]:
        """Records sharing any non-generic key."""
        found: set[Hashable] = set()
        for key in keys:
            block = self._blocks.get(key)
            if block is None:
                continue
            if block.__class__ is set:
                if len(block) <= self.max_size:
                    found |= block
            elif block.__class__ is _Few:
                if len(block) <= self.max_size:
                    found.update(block)
            elif self.max_size:
                found.add(block)
        return found
