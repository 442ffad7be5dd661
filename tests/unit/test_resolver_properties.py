"""Invariants of the resolver, driven by hypothesis: order independence, idempotence,
incremental == batch (including merges, splits and generic keys), stable ids."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from unify.cdm import Change
from unify.resolver import Resolver
from unify.spec import Condition, MatchSpec, Rule

SPEC = MatchSpec(
    rules=(
        Rule("email", (Condition("emailAddress1"), Condition("firstName", "nickname", 0.85))),
        Rule("phone", (Condition("telephone1|mobilePhone"),), level=0.6),
        Rule("name_zip", (Condition("lastName"), Condition("address1_postalCode"),
                          Condition("firstName", "jaro_winkler", 0.9))),
    ),
    max_block_size=3,
)

attrs = st.fixed_dictionaries({}, optional={
    "emailAddress1": st.sampled_from(["a@x.com", "b@x.com", "c@x.com"]),
    "firstName": st.sampled_from(["william", "bill", "anna", "ann"]),
    "lastName": st.sampled_from(["smith", "jones"]),
    "telephone1": st.sampled_from(["+1", "+2", "+3", "+4"]),
    "mobilePhone": st.sampled_from(["+1", "+2", "+5"]),
    "address1_postalCode": st.sampled_from(["94110", "10001"]),
})

keys = st.tuples(st.sampled_from(["crm", "pos", "erp"]), st.sampled_from([str(i) for i in range(8)]))


@dataclass(frozen=True)
class Override:
    left: tuple
    right: tuple
    kind: str
    at_ms: int


@st.composite
def histories(draw, overrides=False):
    """A CDC history: per key, increasing positions; some updates, deletes and overrides."""
    events, last = [], {}
    for i, (source, key) in enumerate(draw(st.lists(keys, min_size=1, max_size=30))):
        if overrides and draw(st.integers(0, 5)) == 0:
            events.append(Override((source, key), draw(keys), draw(st.sampled_from(["always", "never", "clear"])), 1000 + i))
            continue
        op = draw(st.sampled_from(["upsert", "upsert", "upsert", "delete"]))
        values = draw(attrs) if op == "upsert" else {}
        if op == "upsert" and (source, key) in last and draw(st.booleans()):
            # a new version that changes only what no rule reads: its links stay as they were
            values = {**last[(source, key)], "address1_city": draw(st.sampled_from(["paris", "lyon"]))}
        last[(source, key)] = values
        events.append(Change(source, key, op, i + 1, 1000 + i, values))
    return events


def apply(resolver, event):
    if isinstance(event, Override):
        resolver.override(event.left, event.right, event.kind, event.at_ms)
    else:
        resolver.apply(event)


def final_records(events):
    last = {}
    for e in sorted((e for e in events if isinstance(e, Change)), key=lambda e: e.position):
        last[e.record_id] = e
    return {rid: e for rid, e in last.items() if e.op == "upsert"}


def reference_partition(events):
    """Brute force: every pair, generic keys decided over the final records, union-find."""
    from unify.matcher import Matcher
    records = final_records(events)
    forced = {}
    for o in sorted((e for e in events if isinstance(e, Override)), key=lambda o: o.at_ms):
        forced[tuple(sorted((o.left, o.right)))] = {"always": True, "never": False, "clear": None}[o.kind]
    m = Matcher(SPEC)
    counts = {}
    for rid, e in records.items():
        for k in m.block_keys(m.keys(e.attributes)):
            counts[k] = counts.get(k, 0) + 1
    parent = {rid: rid for rid in records}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in itertools.combinations(sorted(records), 2):
        link = m.compare(a[0], records[a].attributes, b[0], records[b].attributes,
                         lambda block, key: counts.get((block, key), 0) > SPEC.max_block_size)
        if forced.get((a, b)) is not None:
            link = forced[(a, b)]
        if link:
            parent[find(a)] = find(b)
    groups = {}
    for rid in records:
        groups.setdefault(find(rid), set()).add(rid)
    return {frozenset(g) for g in groups.values()}


def run(events):
    r = Resolver(SPEC, attributes=("emailAddress1", "firstName", "lastName", "telephone1", "address1_city"))
    for e in events:
        apply(r, e)
    return r


@settings(max_examples=300, deadline=None)
@given(histories(overrides=True), st.randoms(use_true_random=False))
def test_partition_is_order_independent_and_equals_batch(events, rnd):
    expected = reference_partition(events)
    assert run(events).partition() == expected
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert run(shuffled).partition() == expected


@settings(max_examples=200, deadline=None)
@given(histories(overrides=True))
def test_incremental_equals_batch_after_every_prefix(events):
    r = Resolver(SPEC)
    for i, e in enumerate(events):
        apply(r, e)
        assert r.partition() == reference_partition(events[: i + 1])


@settings(max_examples=200, deadline=None)
@given(histories(overrides=True))
def test_replaying_events_changes_nothing(events):
    r = run(events)
    r.drain()
    before = (r.partition(), dict(r.ids.customer_of))
    for e in events:
        apply(r, e)
    out = r.drain()
    assert (r.partition(), dict(r.ids.customer_of)) == before
    assert not out.links and not out.customers and not out.lineage


@settings(max_examples=200, deadline=None)
@given(histories())
def test_profiles_depend_only_on_the_current_records(events):
    def profiles(r):
        return {frozenset(m): r.profile(cid).attributes for cid, m in r.ids.members.items() if m}
    assert profiles(run(events)) == profiles(run(list(final_records(events).values())))


@settings(max_examples=200, deadline=None)
@given(histories(overrides=True), st.integers(1, 4))
def test_a_snapshot_in_parts_holds_what_one_part_holds(events, part):
    """A rebuild writes its final state in parts: together they are the whole state."""
    def rows(parts):
        return [[row for p in parts for row in getattr(p, kind)] for kind in ("links", "explanations", "generic_keys")]
    parts, (whole,) = list(run(events).snapshot(part)), list(run(events).snapshot(10**6))
    assert rows(parts) == rows([whole])
    assert parts[0].lineage == whole.lineage and not any(p.lineage for p in parts[1:])
    assert len(rows([whole])[0]) <= part or len(parts) > 1


@settings(max_examples=200, deadline=None)
@given(histories())
def test_every_record_has_one_customer_and_ids_are_consistent(events):
    r = run(events)
    members = r.ids.members
    live = set(r.graph.records)
    assert set(r.ids.customer_of) >= live
    assert {rid for m in members.values() for rid in m} == live
    for cid, m in members.items():
        assert all(r.ids.customer_of[rid] == cid for rid in m)


@pytest.mark.parametrize("forget_every", [10_000, 2])
@settings(max_examples=200, deadline=None)
@given(events=histories())
def test_restore_from_rows_keeps_partition_and_ids(events, forget_every):
    r = run(events)
    rows = [r._link_row(rid) for rid in sorted(set(r.graph.records) | set(r.tombstones))]
    restored = Resolver(SPEC)
    restored.restore(iter(rows), forget_every)
    assert not (restored.graph.changed_pairs or restored.graph.changed_keys or restored.graph.explained)
    assert restored.partition() == r.partition()
    assert {rid: restored.ids.customer_of[rid] for rid in r.graph.records} == \
           {rid: r.ids.customer_of[rid] for rid in r.graph.records}
    assert restored.ids.next_id >= max((int(c[1:]) for c in r.ids.members), default=0) + 1


SHARDED = MatchSpec(rules=SPEC.rules, max_block_size=SPEC.max_block_size, shard_key="region")


def in_regions(events, regions):
    """The events with each record's region (a shard key does not change for a record)."""
    return [Change(e.source, e.key, e.op, e.position, e.event_ms,
                   {**e.attributes, "region": regions[e.record_id]} if e.op == "upsert" else {})
            for e in events]


@settings(max_examples=200, deadline=None)
@given(histories(), st.dictionaries(keys, st.sampled_from(["north", "south"])))
def test_records_in_different_shards_never_match_and_each_shard_resolves_alone(events, drawn):
    regions = {e.record_id: drawn.get(e.record_id, "north") for e in events}
    events = in_regions(events, regions)
    whole = Resolver(SHARDED)
    for e in events:
        whole.apply(e)
    partition = whole.partition()
    assert all(len({regions[rid] for rid in customer}) == 1 for customer in partition)
    # what lets each shard have a writer of its own: resolved apart, the same customers
    apart = set()
    for region in ("north", "south"):
        alone = Resolver(SHARDED)
        for e in events:
            if regions[e.record_id] == region:
                alone.apply(e)
        apart |= alone.partition()
    assert apart == partition


def test_identical_records_in_two_shards_stay_two_customers():
    r = Resolver(SHARDED)
    same = {"emailAddress1": "a@x.com", "firstName": "anna"}
    r.apply(Change("crm", "1", "upsert", 1, 1000, {**same, "region": "north"}))
    r.apply(Change("pos", "1", "upsert", 2, 1001, {**same, "region": "south"}))
    r.apply(Change("erp", "1", "upsert", 3, 1002, {**same, "region": "north"}))
    assert r.partition() == {frozenset({("crm", "1"), ("erp", "1")}), frozenset({("pos", "1")})}


def test_merge_keeps_older_id_and_split_keeps_oldest_records_id():
    r = Resolver(SPEC)
    r.apply(Change("crm", "1", "upsert", 1, 100, {"telephone1": "+1"}))
    r.apply(Change("pos", "1", "upsert", 1, 200, {"telephone1": "+2"}))
    first, second = r.ids.customer_of[("crm", "1")], r.ids.customer_of[("pos", "1")]
    assert first < second
    # a bridge record links both: merge, the older id survives
    r.apply(Change("erp", "1", "upsert", 1, 300, {"telephone1": "+1", "emailAddress1": "a@x.com", "firstName": "bill"}))
    r.apply(Change("erp", "2", "upsert", 1, 310, {"telephone1": "+2", "emailAddress1": "a@x.com", "firstName": "william"}))
    assert len({r.ids.customer_of[k] for k in r.graph.records}) == 1
    assert r.ids.customer_of[("pos", "1")] == first
    merged = [e for e in r.drain().lineage if e.event == "merged"]
    assert merged and merged[-1].customer_id == first and second in merged[-1].from_ids
    # removing the bridge splits it: the part holding the oldest record keeps the id
    r.apply(Change("erp", "2", "delete", 2, 400, {}))
    assert r.ids.customer_of[("crm", "1")] == first
    assert r.ids.customer_of[("pos", "1")] not in (first, second)
    split = [e for e in r.drain().lineage if e.event == "split"]
    assert split and split[0].customer_id == first and len(split[0].to_ids) == 2


def test_stale_and_duplicate_versions_are_ignored():
    r = Resolver(SPEC)
    r.apply(Change("crm", "1", "upsert", 5, 500, {"telephone1": "+1"}))
    r.apply(Change("crm", "1", "upsert", 3, 300, {"telephone1": "+9"}))
    assert r.graph.records[("crm", "1")].attrs["telephone1"] == "+1"
    r.apply(Change("crm", "1", "delete", 6, 600, {}))
    r.apply(Change("crm", "1", "upsert", 4, 400, {"telephone1": "+1"}))
    assert ("crm", "1") not in r.graph.records


def test_generic_key_links_nothing_whatever_the_order():
    spec = MatchSpec(rules=(Rule("phone", (Condition("telephone1"),)),), max_block_size=2)
    changes = [Change("pos", str(i), "upsert", 1, i, {"telephone1": "+shop"}) for i in range(3)]
    for order in itertools.permutations(changes):
        r = Resolver(spec)
        for c in order:
            r.apply(c)
        assert len(r.partition()) == 3


def _generated_world_changes():
    """A generated retail world's contact changes (updates and deletes included), decoded
    through the stream's own codec and matched by the bundled rules."""
    import json
    from pathlib import Path

    from streams.codec import SourceCodec
    from streams.settings import load
    from unify.synthetic import WorldSpec, generate
    settings = load(Path(__file__).resolve().parents[2] / "examples" / "retail" / "unify.yaml")
    codecs = {s.name: SourceCodec(s) for s in settings.engine.sources}
    changes = [codecs[n].decode(json.dumps(e).encode()) for n, e in
               generate(WorldSpec(people=250, seed=31, noise="hard")) if codecs[n].is_contact]
    return settings.engine, changes


_ENGINE, _WORLD = _generated_world_changes()


@settings(max_examples=12, deadline=None)
@given(st.randoms(use_true_random=False))
def test_generated_world_partition_does_not_depend_on_arrival_order(rnd):
    def partition(changes):
        r = Resolver(_ENGINE.match, _ENGINE.survivorship, _ENGINE.attributes)
        for c in changes:
            r.apply(c)
        return r.partition()

    shuffled = list(_WORLD)
    rnd.shuffle(shuffled)
    assert partition(shuffled) == partition(_WORLD)


@given(attrs | st.fixed_dictionaries({}, optional={"address1_city": st.just("paris"),
                                                   "address1_line1": st.just("1 rue"),
                                                   "middleName": st.just("j")}),
       st.sampled_from(["most_recent", "least_recent", "most_filled", "most_frequent", "source_priority"]))
def test_a_one_record_profile_is_what_every_policy_gives(record_attrs, default_policy):
    from unify.graph import SourceRecord
    from unify.spec import SurvivorshipSpec
    attributes = ("firstName", "middleName", "lastName", "emailAddress1", "telephone1", "mobilePhone",
                  "address1_line1", "address1_city", "address1_postalCode", "birthDate")
    resolver = Resolver(SPEC, SurvivorshipSpec(default_policy=default_policy, source_priority=("pos",)), attributes)
    record = SourceRecord(("crm", "1"), record_attrs, 3, 1_000, 900, resolver.matcher.keys(record_attrs))
    assert resolver._sole_profile("C1", record) == resolver._merged_profile("C1", [record])


def _by_policies(resolver, records):
    """A golden profile straight from the survivorship policies: the reference."""
    attributes, winners = {}, {}
    for name, group in zip(resolver._group_names, resolver._groups):
        anchored = [r for r in records if group[0] in r.attrs]
        winner = resolver._policy[name].choose(anchored or records, group)
        for a in group:
            attributes[a] = winner.attrs.get(a) if winner else None
            if winner is not None and attributes[a] is not None:
                winners[a] = f"{winner.rid[0]}/{winner.rid[1]}"
    for a in resolver._singles:
        winner = resolver._policy[a].choose(records, (a,))
        attributes[a] = winner.attrs.get(a) if winner else None
        if winner is not None:
            winners[a] = f"{winner.rid[0]}/{winner.rid[1]}"
    return attributes, winners


@given(st.lists(st.tuples(attrs, st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=4),
       st.sampled_from(["most_recent", "least_recent", "most_filled", "most_frequent", "source_priority"]))
def test_a_merged_profile_is_what_the_policies_give(drawn, default_policy):
    from unify.graph import SourceRecord
    from unify.spec import SurvivorshipSpec
    attributes = ("firstName", "middleName", "lastName", "emailAddress1", "telephone1", "mobilePhone",
                  "address1_postalCode")
    resolver = Resolver(SPEC, SurvivorshipSpec(default_policy=default_policy, source_priority=("pos",),
                                               policies=(("telephone1", "most_frequent"),)), attributes)
    records = [SourceRecord((("crm", "pos")[i % 2], str(i)), a, position, event_ms, 0, resolver.matcher.keys(a))
               for i, (a, position, event_ms) in enumerate(drawn)]
    row = resolver._merged_profile("C1", records)
    assert (row.attributes, row.winners) == _by_policies(resolver, records)
