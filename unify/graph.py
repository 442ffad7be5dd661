"""The link graph: source records, their block keys, and the pairwise links between them.

The edge set is a function of the current records only: a pair is linked when it shares a
non-generic block key of a rule that holds. Every change that could alter that function for a
pair (either record changes; a key the pair shares turns generic or specific) re-evaluates
the pair, so incremental maintenance equals a batch build over the same records.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Mapping

from unify.blocking import BlockIndex
from unify.matcher import Link, Matcher

RecordId = tuple[str, str]


class SourceRecord:
    """A source record's current normalized version, as the engine keeps it in memory."""

    __slots__ = ("rid", "attrs", "position", "event_ms", "first_ms", "keys")

    def __init__(self, rid: RecordId, attrs: dict, position: int, event_ms: int, first_ms: int,
                 keys: tuple):
        self.rid = rid
        self.attrs = attrs
        self.position = position
        self.event_ms = event_ms
        self.first_ms = first_ms
        self.keys = keys  # in each block (`Matcher.keys`)

    @property
    def block_keys(self) -> tuple[tuple[int, str], ...]:
        """Its (block, key) pairs, each once (derived: a tuple per record would cost 70 bytes)."""
        return Matcher.block_keys(self.keys)

    @property
    def age(self) -> tuple:
        """Oldest first: source event time of the first version, then the id."""
        return (self.first_ms, self.rid)


ALWAYS = Link("always_match", -1, 1.0)
_NO_LINKS: Mapping = MappingProxyType({})


def pair(a: RecordId, b: RecordId) -> tuple[RecordId, RecordId]:
    return (a, b) if a < b else (b, a)


class LinkGraph:
    """Records, blocks and links. Overrides are part of the state: an `always` pair is
    linked whatever the rules say, a `never` pair is not linked directly."""

    def __init__(self, matcher: Matcher, max_block_size: int):
        self.matcher = matcher
        # an index per block: a key is then its value alone, often the record's own string
        self.blocks = tuple(BlockIndex(max_block_size) for _ in matcher.block_attributes)
        self.records: dict[RecordId, SourceRecord] = {}
        self.edges: dict[RecordId, dict[RecordId, Link]] = {}
        self.overrides: dict[tuple[RecordId, RecordId], bool] = {}
        self._always: dict[RecordId, set[RecordId]] = {}
        self.changed_pairs: set[tuple[RecordId, RecordId]] = set()
        self.changed_keys: set[tuple[int, str]] = set()  # (block, key)
        # the best pair of values per condition of links made since the last drain, so that
        # explaining them does not score them again
        self.explained: dict[tuple[RecordId, RecordId], tuple | None] = {}
        self.unlinked = 0  # links removed so far: a change that removed none cannot split

    def forget_changes(self) -> None:
        """Start afresh: no changed pairs or keys, no match results kept for explaining."""
        self.changed_pairs, self.changed_keys, self.explained = set(), set(), {}

    def override(self, a: RecordId, b: RecordId, always: bool | None,
                 touched: set[RecordId]) -> None:
        """Set (True: always, False: never) or clear (None) a pair override."""
        key = pair(a, b)
        old = self.overrides.pop(key, None)
        if old:
            self._always[a].discard(b)
            self._always[b].discard(a)
        if always is not None:
            self.overrides[key] = always
            if always:
                self._always.setdefault(a, set()).add(b)
                self._always.setdefault(b, set()).add(a)
        if a in self.records and b in self.records:
            self._evaluate(a, b, touched)

    def neighbours(self, rid: RecordId) -> Mapping[RecordId, Link]:
        return self.edges.get(rid, _NO_LINKS)

    def add(self, record: SourceRecord, touched: set[RecordId]) -> None:
        """Insert a record and link it; `touched` collects records whose links changed."""
        rid = record.rid
        self.records[rid] = record
        candidates: set[RecordId] = set()
        for block, key in record.block_keys:
            index = self.blocks[block]
            if index.add(key, rid) == "became_generic":
                self.changed_keys.add((block, key))
                self._reevaluate_linked(index.members(key), touched)
            candidates |= index.candidates((key,))
        partners = self._always.get(rid)
        for other in (candidates | partners) if partners else candidates:
            if other != rid and other in self.records:
                self._evaluate(rid, other, touched)
        touched.add(rid)

    def remove(self, rid: RecordId, touched: set[RecordId]) -> SourceRecord:
        record = self.records.pop(rid)
        for other in list(self.edges.pop(rid, {})):
            self.unlinked += 1
            del self.edges[other][rid]
            if not self.edges[other]:
                del self.edges[other]
            self.changed_pairs.add(pair(rid, other))
            self.explained.pop(pair(rid, other), None)
            touched.add(other)
        for block, key in record.block_keys:
            index = self.blocks[block]
            if index.remove(key, rid) == "became_specific":
                self.changed_keys.add((block, key))
                self._evaluate_all_pairs(index.members(key), touched)
        touched.add(rid)
        return record

    def _link(self, a: RecordId, b: RecordId) -> tuple[Link, tuple | None] | None:
        """The pair's link, with its conditions' best values; `a` and `b` in pair order, so
        the result never depends on which of the two arrived first."""
        forced = self.overrides.get((a, b))
        if forced is not None:
            return (ALWAYS, None) if forced else None
        ra, rb = self.records[a], self.records[b]
        return self.matcher.match(a[0], ra.attrs, b[0], rb.attrs, self.is_generic, ra.keys, rb.keys)

    def is_generic(self, block: int, key: str) -> bool:
        return self.blocks[block].is_generic(key)

    def generic_keys(self) -> list[tuple[int, str]]:
        return [(block, key) for block, index in enumerate(self.blocks) for key in index.generic_keys()]

    def _evaluate(self, a: RecordId, b: RecordId, touched: set[RecordId]) -> None:
        a, b = key = pair(a, b)
        found = self._link(a, b)
        link = found[0] if found else None
        current = self.edges.get(a, _NO_LINKS).get(b)
        if link == current:
            return
        if link is None:
            self.unlinked += 1
            for x, y in ((a, b), (b, a)):
                del self.edges[x][y]
                if not self.edges[x]:
                    del self.edges[x]
            self.explained.pop(key, None)
        else:
            self.edges.setdefault(a, {})[b] = link
            self.edges.setdefault(b, {})[a] = link
            self.explained[key] = found[1]
        self.changed_pairs.add(key)
        touched.update((a, b))

    def _reevaluate_linked(self, members: Iterable[RecordId], touched: set[RecordId]) -> None:
        """A key turned generic: only existing links inside its block can change."""
        inside = set(members)
        for a in inside:
            for b in [b for b in self.neighbours(a) if b in inside and a < b]:
                self._evaluate(a, b, touched)

    def _evaluate_all_pairs(self, members: Iterable[RecordId], touched: set[RecordId]) -> None:
        """A key turned specific again: every pair in its (capped) block may now link."""
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                self._evaluate(a, b, touched)

    def component(self, seeds: Iterable[RecordId]) -> list[set[RecordId]]:
        """Connected components of the live records reachable from `seeds`."""
        seen: set[RecordId] = set()
        out = []
        for seed in seeds:
            if seed in seen or seed not in self.records:
                continue
            comp = {seed}
            frontier = [seed]
            while frontier:
                node = frontier.pop()
                for nb in self.neighbours(node):
                    if nb not in comp:
                        comp.add(nb)
                        frontier.append(nb)
            seen |= comp
            out.append(comp)
        return out
