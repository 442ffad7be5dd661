"""The resolver: applies mapped changes to the link graph and keeps golden profiles.

One resolver is the single writer of a shard. `apply` takes changes one at a time (the same
code path for the live stream, a replay or a file backfill); `drain` returns what changed
since the last drain, one row per record and per customer, ready for a sink.

>>> from unify.spec import Condition, MatchSpec, Rule
>>> from unify.cdm import Change
>>> r = Resolver(MatchSpec(rules=(Rule("email", (Condition("emailAddress1"),)),)))
>>> r.apply(Change("crm", "1", "upsert", 1, 1000, {"emailAddress1": "a@x.com", "firstName": "ann"}))
>>> r.apply(Change("pos", "7", "upsert", 1, 2000, {"emailAddress1": "a@x.com", "firstName": "annie"}))
>>> out = r.drain()
>>> [(l.source, l.customer_id, l.rule) for l in out.links]
[('crm', 'C0000000001', 'email'), ('pos', 'C0000000001', 'email')]
>>> out.customers[0].attributes["firstName"], out.customers[0].source_count
('annie', 2)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from unify.cdm import Change
from unify.clusters import CustomerIds, LineageEvent, carry_over, id_number
from unify.graph import ALWAYS, LinkGraph, RecordId, SourceRecord, pair
from unify.matcher import ConditionResult, Link, Matcher
from unify.spec import MatchSpec, SurvivorshipSpec
from unify.survivorship import MostRecent, policy, recency


# Output rows are plain slotted dataclasses, not frozen ones: a batch makes several per
# change, and a frozen dataclass's __init__ costs about five times as much.
@dataclass(slots=True)
class LinkRow:
    source: str
    source_key: str
    customer_id: str | None
    rule: str | None
    score: float | None
    matched_source: str | None
    matched_key: str | None
    deleted: bool
    position: int
    event_ms: int
    first_ms: int
    attributes: dict


@dataclass(slots=True)
class CustomerRow:
    customer_id: str
    deleted: bool
    attributes: dict
    winners: dict
    source_count: int
    sources: tuple[str, ...]
    updated_ms: int
    first_ms: int


@dataclass(slots=True)
class ExplanationRow:
    """Why two records are linked: the rule and each condition's values, score, threshold.
    `deleted` rows retract a link that no longer holds."""

    left: RecordId
    right: RecordId
    rule: str | None
    level: float | None
    score: float | None
    conditions: tuple[ConditionResult, ...]
    deleted: bool


@dataclass(slots=True)
class GenericKeyRow:
    key: str
    attributes: str
    values: str
    records: int
    generic: bool


@dataclass
class Output:
    links: list[LinkRow] = field(default_factory=list)
    customers: list[CustomerRow] = field(default_factory=list)
    lineage: list[LineageEvent] = field(default_factory=list)
    explanations: list[ExplanationRow] = field(default_factory=list)
    generic_keys: list[GenericKeyRow] = field(default_factory=list)


class Resolver:
    def __init__(self, match: MatchSpec, survivorship: SurvivorshipSpec | None = None,
                 attributes: Iterable[str] = ()):
        self.matcher = Matcher(match)
        self.graph = LinkGraph(self.matcher, match.max_block_size)
        self.ids = CustomerIds()
        self.tombstones: dict[RecordId, tuple[int, int]] = {}
        survivorship = survivorship or SurvivorshipSpec()
        self._groups = [attrs for _, attrs in survivorship.groups]
        grouped = {a for attrs in self._groups for a in attrs}
        self._singles = [a for a in attributes if a not in grouped]
        chosen = dict(survivorship.policies)
        self._policy = {
            name: policy(chosen.get(name, survivorship.default_policy), survivorship.source_priority)
            for name in [*(n for n, _ in survivorship.groups), *self._singles]
        }
        self._group_names = [n for n, _ in survivorship.groups]
        # the newest record holding a value wins these: one pass over the records serves all
        self._newest_wins = frozenset(a for a in self._singles if type(self._policy[a]) is MostRecent)
        self._ranked_singles = [a for a in self._singles if a not in self._newest_wins]
        self._dirty_records: set[RecordId] = set()
        self._dirty_customers: set[str] = set()
        self._lineage: list[LineageEvent] = []
        self._override_at: dict[tuple[RecordId, RecordId], int] = {}

    def __len__(self) -> int:
        return len(self.graph.records)

    def apply(self, change: Change) -> None:
        """Apply one change; stale or duplicate versions (by source position) are no-ops."""
        rid = change.record_id
        current = self.graph.records.get(rid)
        seen = (current.position, current.event_ms) if current else self.tombstones.get(rid)
        if seen is not None and (change.position, change.event_ms) <= seen:
            return
        if (current is not None and change.op != "delete"
                and self.matcher.same_for_matching(current.attrs, change.attributes)):
            # a new version with the same links (a changed address, a consent flag): the
            # customer keeps its records and id, only its profile and this record change
            self.graph.records[rid] = SourceRecord(rid, change.attributes, change.position, change.event_ms,
                                                   min(current.first_ms, change.event_ms), current.keys)
            self._dirty_records.add(rid)
            self._dirty_customers.add(self.ids.customer_of[rid])
            return
        touched: set[RecordId] = set()
        cause = f"{change.op}:{rid[0]}/{rid[1]}"
        first_ms = change.event_ms
        if current is not None:
            first_ms = current.first_ms
            self.graph.remove(rid, touched)
        if change.op == "delete":
            self.tombstones[rid] = (change.position, change.event_ms)
            if current is None:
                return
        else:
            self.tombstones.pop(rid, None)
            record = SourceRecord(rid, change.attributes, change.position, change.event_ms,
                                  min(first_ms, change.event_ms), self.matcher.keys(change.attributes))
            unlinked = self.graph.unlinked
            self.graph.add(record, touched)
            if current is None and self.graph.unlinked == unlinked:
                # a new record that only made links, all its own: one component, no split
                linked = self.graph.neighbours(rid)
                if all(r in linked or r == rid for r in touched):
                    self._join(rid, touched, change.event_ms, cause)
                    return
        self._recluster(touched, change.event_ms, cause)

    def _join(self, rid: RecordId, touched: set[RecordId], at_ms: int, cause: str) -> None:
        """A new record linked to the records of at most one customer joins it (or starts
        one); linked to several, it merges them."""
        previous = {self.ids.customer_of[r] for r in self.graph.neighbours(rid)}
        if len(previous) > 1:
            self._recluster(touched, at_ms, cause, joined=True)
            return
        cid, events = self.ids.join(rid, previous.pop() if previous else None, at_ms, cause)
        self._lineage.extend(events)
        self._dirty_customers.add(cid)
        self._dirty_records |= touched

    def _recluster(self, touched: set[RecordId], at_ms: int, cause: str, joined: bool = False) -> None:
        """Recompute the customers of the `touched` records; `joined` when they and those
        customers' members are known to form one component."""
        previous = {self.ids.customer_of[r] for r in touched if r in self.ids.customer_of}
        seeds = set(touched)
        for cid in previous:
            seeds.update(self.ids.members.get(cid, ()))
        for rid in touched:
            if rid not in self.graph.records:
                self.ids.forget(rid)
        components = [seeds] if joined else self.graph.component(sorted(seeds))
        changed, moved, events = self.ids.reassign(
            components, previous, lambda r: self.graph.records[r].age, at_ms, cause
        )
        self._lineage.extend(events)
        self._dirty_customers |= changed
        for rid in touched:
            if rid in self.ids.customer_of:
                self._dirty_customers.add(self.ids.customer_of[rid])
        # a link row changes with its record, its links or its customer id: the other members
        # of a customer that grew or shrank keep theirs
        self._dirty_records |= touched
        self._dirty_records |= moved

    def override(self, a: RecordId, b: RecordId, kind: str, at_ms: int) -> None:
        """`always` links a pair, `never` forbids its direct link, `clear` removes either.

        Overrides hold for record ids, whether or not the records exist yet; the latest by
        `at_ms` wins for a pair, so their arrival order does not matter.
        """
        key = pair(a, b)
        if a == b or at_ms <= self._override_at.get(key, -1):
            return
        self._override_at[key] = at_ms
        always = {"always": True, "never": False, "clear": None}[kind]
        touched: set[RecordId] = set()
        self.graph.override(a, b, always, touched)
        if touched:
            self._recluster(touched, at_ms, f"{kind}_match:{a[0]}/{a[1]}~{b[0]}/{b[1]}")

    def erase(self, customer_id: str, at_ms: int) -> list[RecordId]:
        """Delete every source record of a customer (a person's erasure); returns them.

        Each record gets a tombstone at its current position, so replays of its history
        cannot bring it back; a newer change from its source would.
        """
        erased = sorted(self.ids.members.get(customer_id, ()))
        for rid in erased:
            record = self.graph.records[rid]
            self.apply(Change(rid[0], rid[1], "delete", record.position, record.event_ms + 1, {}))
        return erased

    def drain(self) -> Output:
        out = Output(lineage=self._lineage)
        for rid in sorted(self._dirty_records):
            out.links.append(self._link_row(rid))
        for cid in sorted(self._dirty_customers):
            out.customers.append(self.profile(cid))
        for a, b in sorted(self.graph.changed_pairs):
            out.explanations.append(self.explain(a, b))
        for block, key in sorted(self.graph.changed_keys):
            index = self.graph.blocks[block]
            out.generic_keys.append(GenericKeyRow(*self.matcher.describe_key(block, key), index.size(key),
                                                  index.is_generic(key)))
        self._dirty_records, self._dirty_customers, self._lineage = set(), set(), []
        self.graph.forget_changes()
        return out

    def snapshot(self, part: int = 20_000) -> Iterator[Output]:
        """Every link, explanation and generic key of the current state (as `drain` gives
        the changed ones), for a rebuild, in parts of at most `part` rows of each, so that a
        large state is never held twice; the lineage comes with the first part. Profiles
        are left to the caller (`profile`), which writes them beside the customers' features."""
        rids = sorted({*self.graph.records, *self.tombstones})
        pairs = [(a, b) for a in sorted(self.graph.edges) for b in sorted(self.graph.edges[a]) if a < b]
        keys = self.graph.generic_keys()
        lineage = self._lineage
        self._dirty_records, self._dirty_customers, self._lineage = set(), set(), []
        for start in range(0, max(len(rids), len(pairs), len(keys), 1), part):
            out = Output(lineage=lineage if start == 0 else [])
            out.links = [self._link_row(rid) for rid in rids[start:start + part]]
            out.explanations = [self.explain(a, b) for a, b in pairs[start:start + part]]
            for block, key in keys[start:start + part]:
                out.generic_keys.append(GenericKeyRow(*self.matcher.describe_key(block, key),
                                                      self.graph.blocks[block].size(key), True))
            yield out
        # the explanations above read the match-time results kept for the changed pairs
        self.graph.forget_changes()

    def carry_ids_over(self, previous: dict[str, set[RecordId]], next_id: int, at_ms: int) -> list[LineageEvent]:
        """Take the customer ids of a previous build of the same records (see `carry_over`).
        The lineage so far, in the ids being replaced, is dropped."""
        self._lineage = []
        components = [m for m in self.ids.members.values() if m]
        self.ids, events = carry_over(previous, components, lambda r: self.graph.records[r].age,
                                      max(next_id, self.ids.next_id), at_ms, "rebuild")
        return events

    def explain(self, a: RecordId, b: RecordId) -> ExplanationRow:
        link = self.graph.neighbours(a).get(b)
        if link is None:
            return ExplanationRow(a, b, None, None, None, (), True)
        if link is ALWAYS:
            return ExplanationRow(a, b, link.rule, 1.0, 1.0, (), False)
        conditions = tuple(self.matcher.explain(link.rule_index, self.graph.records[a].attrs,
                                                self.graph.records[b].attrs, self.graph.explained.get((a, b))))
        return ExplanationRow(a, b, link.rule, self.matcher.rules[link.rule_index].level,
                              link.score, conditions, False)

    def _link_row(self, rid: RecordId) -> LinkRow:
        record = self.graph.records.get(rid)
        if record is None:
            position, event_ms = self.tombstones.get(rid, (0, 0))
            return LinkRow(rid[0], rid[1], None, None, None, None, None, True,
                           position, event_ms, event_ms, {})
        links = self.graph.neighbours(rid)
        if not links:
            return LinkRow(rid[0], rid[1], self.ids.customer_of[rid], None, None, None, None, False,
                           record.position, record.event_ms, record.first_ms, record.attrs)
        if len(links) == 1:
            ((other, link),) = links.items()
        else:  # the strongest link: the highest level, then the first rule, the best score
            other, link = min(links.items(), key=self._link_rank)
        return LinkRow(rid[0], rid[1], self.ids.customer_of[rid], link.rule, link.score, other[0],
                       other[1], False, record.position, record.event_ms, record.first_ms,
                       record.attrs)

    def _link_rank(self, item: tuple[RecordId, Link]) -> tuple:
        other, link = item
        level = 2.0 if link is ALWAYS else self.matcher.rules[link.rule_index].level
        return (-level, link.rule_index, -link.score, other)

    def profile(self, cid: str) -> CustomerRow:
        """The golden profile of a customer by survivorship over its source records."""
        members = self.ids.members.get(cid)
        if not members:
            return CustomerRow(cid, True, {}, {}, 0, (), 0, 0)
        records = [self.graph.records[r] for r in members]
        if len(records) == 1:
            return self._sole_profile(cid, records[0])
        return self._merged_profile(cid, records)

    def _merged_profile(self, cid: str, records: list[SourceRecord]) -> CustomerRow:
        attributes: dict = {}
        winners: dict = {}
        records = sorted(records, key=recency, reverse=True)
        for name, group in zip(self._group_names, self._groups):
            # a group comes from a record holding its first attribute (a street, not just
            # a country), when any record does
            anchored = [r for r in records if group[0] in r.attrs]
            winner = self._policy[name].choose_newest_first(anchored or records, group)
            if winner is None:
                attributes.update(dict.fromkeys(group))
                continue
            source, values = f"{winner.rid[0]}/{winner.rid[1]}", winner.attrs
            for a in group:
                value = attributes[a] = values.get(a)
                if value is not None:
                    winners[a] = source
        pending = set(self._newest_wins)
        for r in records:
            won = pending.intersection(r.attrs)  # attrs hold only values that are not null
            if won:
                source = f"{r.rid[0]}/{r.rid[1]}"
                for a in won:
                    attributes[a] = r.attrs[a]
                    winners[a] = source
                pending -= won
                if not pending:
                    break
        attributes.update(dict.fromkeys(pending))
        for a in self._ranked_singles:
            winner = self._policy[a].choose_newest_first(records, (a,))
            attributes[a] = winner.attrs.get(a) if winner else None
            if winner is not None:
                winners[a] = f"{winner.rid[0]}/{winner.rid[1]}"
        return CustomerRow(
            cid, False, attributes, winners, len(records),
            tuple(sorted({r.rid[0] for r in records})),
            max(r.event_ms for r in records), min(r.first_ms for r in records),
        )

    def _sole_profile(self, cid: str, record: SourceRecord) -> CustomerRow:
        """A one-record customer's profile: every policy picks the only record, for each
        attribute group it fills (the common case, so it skips the policies)."""
        attrs, source = record.attrs, f"{record.rid[0]}/{record.rid[1]}"
        attributes: dict = {}
        for group in self._groups:
            filled = any(a in attrs for a in group)
            attributes.update((a, attrs.get(a) if filled else None) for a in group)
        attributes.update((a, attrs.get(a)) for a in self._singles)
        winners = {a: source for a in attributes if attributes[a] is not None}
        return CustomerRow(cid, False, attributes, winners, 1, (record.rid[0],),
                           record.event_ms, record.first_ms)

    def partition(self) -> set[frozenset[RecordId]]:
        """Current clusters as sets of record ids (for tests and accuracy checks)."""
        return {frozenset(m) for m in self.ids.members.values() if m}

    def restore(self, rows: Iterable[LinkRow], forget_every: int = 10_000) -> None:
        """Rebuild in-memory state from stored link rows, keeping their customer ids.

        The rows are stored already, so what their adding changed is dropped every
        `forget_every` rows instead of growing with all of them."""
        stored: dict[RecordId, str] = {}
        touched: set[RecordId] = set()
        self.graph.forget_changes()
        for n, row in enumerate(rows, 1):
            rid = (row.source, row.source_key)
            if row.deleted:
                self.tombstones[rid] = (row.position, row.event_ms)
                continue
            self.graph.add(SourceRecord(rid, row.attributes, row.position, row.event_ms,
                                        row.first_ms, self.matcher.keys(row.attributes)), touched)
            stored[rid] = row.customer_id
            if n % forget_every == 0:
                touched.clear()
                self.graph.forget_changes()
        self.graph.forget_changes()
        for comp in self.graph.component(sorted(self.graph.records)):
            ids = sorted({stored[r] for r in comp})
            self.ids.adopt(comp, ids[0])
            for extra in ids[1:]:
                self.ids.next_id = max(self.ids.next_id, id_number(extra) + 1)
