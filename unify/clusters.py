"""Stable customer ids over the components of the link graph, with lineage events.

Rules: a customer keeps its id while it exists; when customers merge, the older id (the
lower sequence number) survives; when one splits, the part holding its oldest source record
keeps the id and the other parts get new ids. Ids are opaque sequence numbers, never data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

RecordId = tuple[str, str]
ID_PREFIX = "C"
ID_DIGITS = 10


def format_id(n: int) -> str:
    return f"{ID_PREFIX}{n:0{ID_DIGITS}d}"


def id_number(customer_id: str) -> int:
    return int(customer_id[len(ID_PREFIX):])


@dataclass(frozen=True, slots=True)
class LineageEvent:
    event: str  # created | merged | split | deleted
    customer_id: str
    from_ids: tuple[str, ...]
    to_ids: tuple[str, ...]
    at_ms: int
    cause: str


class CustomerIds:
    def __init__(self, next_id: int = 1):
        self.next_id = next_id
        self.customer_of: dict[RecordId, str] = {}
        # sorted tuples, not sets: most customers have one or two records, and a set of any
        # size up to four takes 216 bytes, a tuple of two 56
        self.members: dict[str, tuple[RecordId, ...]] = {}

    def _new_id(self) -> str:
        cid = format_id(self.next_id)
        self.next_id += 1
        return cid

    def reassign(
        self,
        components: list[set[RecordId]],
        previous: Iterable[str],
        age: Callable[[RecordId], tuple],
        at_ms: int,
        cause: str,
    ) -> tuple[set[str], set[RecordId], list[LineageEvent]]:
        """Give ids to the recomputed components that replace the `previous` customers.

        Returns the ids whose membership changed (including deleted ones), the records whose
        customer id changed (or that got their first) and the lineage.
        """
        component_of = {rid: i for i, comp in enumerate(components) for rid in comp}
        claims: dict[int, list[str]] = {}
        events: list[LineageEvent] = []
        changed: set[str] = set()
        old_parts: dict[str, set[int]] = {}
        for cid in sorted(previous):
            live = [r for r in self.members.get(cid, ()) if r in component_of]
            if not live:
                events.append(LineageEvent("deleted", cid, (cid,), (), at_ms, cause))
                changed.add(cid)
                self.members.pop(cid, None)
                continue
            old_parts[cid] = {component_of[r] for r in live}
            claims.setdefault(component_of[min(live, key=age)], []).append(cid)

        assigned: list[str] = []
        for i, comp in enumerate(components):
            claimants = sorted(claims.get(i, ()))
            if claimants:
                cid = claimants[0]
                if len(claimants) > 1:
                    events.append(LineageEvent("merged", cid, tuple(claimants), (cid,), at_ms, cause))
                    for loser in claimants[1:]:
                        self.members.pop(loser, None)
            else:
                cid = self._new_id()
                if not any(self.customer_of.get(r) for r in comp):
                    events.append(LineageEvent("created", cid, (), (cid,), at_ms, cause))
            assigned.append(cid)

        for cid, parts in old_parts.items():
            if len(parts) > 1:
                to_ids = tuple(sorted(assigned[i] for i in parts))
                events.append(LineageEvent("split", cid, (cid,), to_ids, at_ms, cause))

        changed.update(set(previous).difference(assigned))
        moved: set[RecordId] = set()
        customer_of = self.customer_of
        for cid, comp in zip(assigned, components):
            members = tuple(sorted(comp))
            if self.members.get(cid) != members:
                changed.add(cid)
            self.members[cid] = members
            for rid in comp:
                if customer_of.get(rid) != cid:
                    customer_of[rid] = cid
                    moved.add(rid)
        return changed, moved, events

    def join(self, rid: RecordId, cid: str | None, at_ms: int, cause: str) -> tuple[str, list[LineageEvent]]:
        """A new record joins customer `cid`, or a new customer when None, and no other
        customer changes: `reassign` for the most common change, without its bookkeeping."""
        events = []
        if cid is None:
            cid = self._new_id()
            events.append(LineageEvent("created", cid, (), (cid,), at_ms, cause))
        self.members[cid] = tuple(sorted((*self.members.get(cid, ()), rid)))
        self.customer_of[rid] = cid
        return cid, events

    def forget(self, rid: RecordId) -> None:
        self.customer_of.pop(rid, None)

    def adopt(self, comp: Iterable[RecordId], cid: str) -> None:
        """Restore: a component takes its stored id without lineage."""
        self.members[cid] = tuple(sorted(comp))
        for rid in comp:
            self.customer_of[rid] = cid
        self.next_id = max(self.next_id, id_number(cid) + 1)


def carry_over(previous: dict[str, tuple[RecordId, ...]], components: list[set[RecordId]],
               age: Callable[[RecordId], tuple], next_id: int, at_ms: int,
               cause: str) -> tuple[CustomerIds, list[LineageEvent]]:
    """Ids for a partition built from scratch (a rebuild), taken over from the partition it
    replaces by the rules of an incremental change: a component keeps the id of the previous
    customer whose oldest record it holds, merged customers keep the oldest id, split ones
    give new ids to the parts without their oldest record. The same partition keeps every id.

    Returns the ids and the lineage events of the differences.
    """
    ids = CustomerIds(next_id)
    for cid, members in previous.items():
        ids.adopt(members, cid)
    _, _, events = ids.reassign(components, previous.keys(), age, at_ms, cause)
    final = CustomerIds(ids.next_id)  # without the previous records that are gone
    for cid, members in ids.members.items():
        final.adopt(members, cid)
    return final, events
