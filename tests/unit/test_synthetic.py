"""Synthetic world: determinism, CDC envelope invariants, truth consistency and noise rates."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict

import pytest
from anyascii import anyascii
from hypothesis import given, settings
from hypothesis import strategies as st

from unify.synthetic import SOURCES, WorldSpec, generate, truth, write_jsonl

CONTACTS = ("pos_customers", "crm_contacts", "erp_customers")
COLUMNS = {
    "pos_customers": {"member_id", "card_number", "first_name", "last_name", "email", "phone", "zip",
                      "birth_date", "signup_store"},
    "crm_contacts": {"contact_id", "given_name", "middle_name", "family_name", "email", "mobile", "phone",
                     "birthdate", "gender", "street", "city", "state", "postal_code", "country", "loyalty_card"},
    "erp_customers": {"customer_no", "name", "email", "phone", "address_line1", "city", "region", "zip",
                      "country", "birth_date"},
    "pos_tickets": {"ticket_id", "member_id", "store_id", "channel", "ts", "total", "currency", "lines"},
    "erp_orders": {"order_no", "customer_no", "order_date", "channel", "amount", "currency", "lines"},
}


def key_of(source: str, envelope: dict):
    row = envelope["after"] or envelope["before"]
    return row[SOURCES[source][3]]


@pytest.fixture(scope="module")
def world():
    spec = WorldSpec(people=2000, seed=3)
    return spec, list(generate(spec)), list(truth(spec))


@pytest.fixture(scope="module")
def chunked_world():
    # Small chunks so invariants are checked across chunk boundaries too.
    spec = WorldSpec(people=450, seed=5, noise="hard", chunk_size=100)
    return spec, list(generate(spec)), list(truth(spec))


def dump(items) -> str:
    return "\n".join(json.dumps(x, ensure_ascii=False, sort_keys=False) for x in items)


def test_same_spec_gives_byte_identical_output():
    spec = WorldSpec(people=300, seed=11, noise="hard", chunk_size=120)
    assert dump(generate(spec)) == dump(generate(WorldSpec(people=300, seed=11, noise="hard", chunk_size=120)))
    assert dump(truth(spec)) == dump(truth(spec))


def test_different_seed_gives_different_world():
    a = dump(itertools.islice(generate(WorldSpec(people=300, seed=1)), 500))
    b = dump(itertools.islice(generate(WorldSpec(people=300, seed=2)), 500))
    assert a != b


def check_cdc_invariants(events: list) -> dict:
    """Assert Debezium-style invariants; return the last version of every key per source."""
    last_lsn: dict[str, int] = {}
    versions: dict[tuple, dict] = {}
    for source, env in events:
        assert set(env) == {"before", "after", "op", "ts_ms", "source"}
        meta = env["source"]
        connector, db, table, _ = SOURCES[source]
        assert (meta["connector"], meta["db"], meta["table"]) == (connector, db, table)
        assert meta["lsn"] > last_lsn.get(source, 0)
        last_lsn[source] = meta["lsn"]
        assert env["ts_ms"] >= meta["ts_ms"]
        op, before, after = env["op"], env["before"], env["after"]
        assert op in ("c", "r", "u", "d")
        assert (before is None) == (op in ("c", "r"))
        assert (after is None) == (op == "d")
        for row in (before, after):
            assert row is None or set(row) == COLUMNS[source]
        key = (source, key_of(source, env))
        previous = versions.get(key)
        if op in ("c", "r"):
            assert previous is None, f"{key} created twice"
        else:
            assert previous is not None and previous["after"] is not None, f"{key} {op} without a live row"
            assert before == previous["after"]
            assert meta["lsn"] > previous["source"]["lsn"]
            assert meta["ts_ms"] >= previous["source"]["ts_ms"]
        if op == "u":
            assert before != after
        versions[key] = env
    return versions


def test_cdc_invariants(world, chunked_world):
    for _, events, _ in (world, chunked_world):
        check_cdc_invariants(events)


@settings(max_examples=12, deadline=None)
@given(people=st.integers(1, 60), seed=st.integers(0, 2**32), noise=st.sampled_from(["clean", "realistic", "hard"]),
       chunk=st.integers(1, 25))
def test_cdc_invariants_hold_for_any_small_world(people, seed, noise, chunk):
    spec = WorldSpec(people=people, seed=seed, noise=noise, chunk_size=chunk)
    versions = check_cdc_invariants(list(generate(spec)))
    truth_keys = {(r["source"], r["key"]) for r in truth(spec) if r["kind"] == "record"}
    assert {(s, str(k)) for s, k in versions if s in CONTACTS} == truth_keys


def test_truth_matches_every_contact_record(world, chunked_world):
    for spec, events, rows in (world, chunked_world):
        versions = check_cdc_invariants(events)
        records = {(r["source"], r["key"]): r for r in rows if r["kind"] == "record"}
        contacts = {(s, str(k)): env for (s, k), env in versions.items() if s in CONTACTS}
        assert set(records) == set(contacts)
        for key, env in contacts.items():
            assert records[key]["deleted"] == (env["op"] == "d")
        people = {r["person_id"] for r in rows if r["kind"] == "person"}
        assert len(people) == spec.people
        assert {r["person_id"] for r in records.values()} <= people


def test_orders_reference_live_customers(world, chunked_world):
    for _, events, _ in (world, chunked_world):
        live = {"pos_customers": set(), "erp_customers": set()}
        anonymous = tickets = 0
        for source, env in events:
            if source in live:
                key = key_of(source, env)
                (live[source].discard if env["op"] == "d" else live[source].add)(key)
            elif env["op"] == "c" and source == "pos_tickets":
                tickets += 1
                member = env["after"]["member_id"]
                anonymous += member is None
                assert member is None or member in live["pos_customers"]
            elif env["op"] == "c" and source == "erp_orders":
                assert env["after"]["customer_no"] in live["erp_customers"]
        assert 0 < anonymous < tickets


def test_order_totals_are_sums_of_lines(world):
    for source, env in world[1]:
        row = env["after"]
        if source in ("pos_tickets", "erp_orders") and row:
            total = row["total"] if source == "pos_tickets" else row["amount"]
            assert total == round(sum(line["qty"] * line["unit_price"] for line in row["lines"]), 2)
            assert row["lines"] and all(set(line) == {"sku", "brand", "category", "qty", "unit_price"}
                                        for line in row["lines"])


def test_keys_are_unique_and_formatted(chunked_world):
    _, events, _ = chunked_world
    cards = set()
    for source, env in events:
        row = env["after"]
        if env["op"] not in ("c", "r"):
            continue
        if source == "pos_customers":
            assert row["card_number"].startswith("LC") and len(row["card_number"]) == 12
            assert row["card_number"] not in cards
            cards.add(row["card_number"])
        elif source == "crm_contacts":
            assert row["contact_id"].startswith("CRM-") and row["country"] == "US"
        elif source == "erp_orders":
            assert row["order_no"].startswith("SO-") and row["channel"] in ("web", "phone", "marketplace")


def test_no_truth_leaks_into_events(world):
    _, events, rows = world
    text = dump(env for _, env in events)
    for word in ("person_id", "churn", "household"):
        assert word not in text
    sample = [r["person_id"] for r in rows if r["kind"] == "person"][:50]
    assert not any(f'"{pid}"' in text for pid in sample)


def test_rates_roughly_as_specified(world):
    spec, events, rows = world
    records = [r for r in rows if r["kind"] == "record"]
    people = [r for r in rows if r["kind"] == "person"]
    sources_per_person = defaultdict(set)
    for r in records:
        sources_per_person[r["person_id"]].add(r["source"])
    spread = Counter(len(s) for s in sources_per_person.values())
    assert len(sources_per_person) == spec.people
    for systems, share in ((1, 0.45), (2, 0.35), (3, 0.20)):
        assert abs(spread[systems] / spec.people - share) < 0.05
    per_source = Counter((r["person_id"], r["source"]) for r in records)
    assert 0.01 < sum(n > 1 for n in per_source.values()) / len(per_source) < 0.06
    assert 0.002 < sum(r["deleted"] for r in records) / len(records) < 0.025
    assert 0.2 < sum(r["churn_date"] is not None for r in people) / len(people) < 0.4
    ops = Counter((s, env["op"]) for s, env in events)
    tickets = [env["after"] for s, env in events if s == "pos_tickets" and env["op"] == "c"]
    assert 0.08 < sum(t["member_id"] is None for t in tickets) / len(tickets) < 0.25
    assert 0.003 < ops["erp_orders", "u"] / ops["erp_orders", "c"] < 0.03
    assert ops["pos_customers", "r"] and ops["crm_contacts", "u"] and ops["erp_customers", "d"]


def first_name_disagreement(spec: WorldSpec) -> float:
    """Share of POS/CRM record pairs of one person whose normalised first names differ."""
    owner = {(r["source"], r["key"]): r["person_id"] for r in truth(spec) if r["kind"] == "record"}
    names = defaultdict(lambda: defaultdict(set))
    for source, env in generate(spec):
        if env["op"] in ("c", "r") and source in ("pos_customers", "crm_contacts"):
            row = env["after"]
            first = row["first_name"] if source == "pos_customers" else row["given_name"]
            person = owner[source, str(key_of(source, env))]
            names[person][source].add(" ".join(anyascii(first).lower().split()))
    pairs = differing = 0
    for by_source in names.values():
        if len(by_source) == 2:
            for a, b in itertools.product(by_source["pos_customers"], by_source["crm_contacts"]):
                pairs += 1
                differing += a != b
    return differing / pairs


def test_clean_world_varies_less_than_hard_world():
    clean = first_name_disagreement(WorldSpec(people=1500, noise="clean"))
    realistic = first_name_disagreement(WorldSpec(people=1500, noise="realistic"))
    hard = first_name_disagreement(WorldSpec(people=1500, noise="hard"))
    assert clean < 0.02 < realistic < hard


def test_hard_world_has_shared_contacts_and_common_names():
    spec = WorldSpec(people=1500, noise="hard")
    people = [r for r in truth(spec) if r["kind"] == "person"]
    emails = Counter(p["email"] for p in people)
    assert any(n > 1 for n in emails.values())
    names = Counter((p["first_name"], p["last_name"]) for p in people)
    assert names["John", "Smith"] >= 2 or names["Maria", "Garcia"] >= 2
    junk = [env["after"]["email"] for s, env in generate(spec)
            if s in CONTACTS and env["op"] in ("c", "r") and env["after"]["email"] in ("test@example.com", "noemail@none.com")]
    assert junk


def test_emails_unique_outside_households(world):
    people = [r for r in world[2] if r["kind"] == "person" and r["household_id"] is None]
    assert len({p["email"] for p in people}) == len(people)


def test_million_person_world_streams_lazily():
    first = list(itertools.islice(generate(WorldSpec(people=1_000_000)), 1000))
    assert len(first) == 1000
    assert next(truth(WorldSpec(people=1_000_000)))["kind"] == "record"


def test_write_jsonl(tmp_path):
    spec = WorldSpec(people=40, seed=9)
    counts = write_jsonl(tmp_path, spec)
    assert set(counts) == {f"{name}.jsonl" for name in SOURCES} | {"truth.jsonl"}
    for name, n in counts.items():
        lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == n
        assert all(isinstance(json.loads(line), dict) for line in lines)
    assert counts["truth.jsonl"] == sum(1 for _ in truth(spec))


@pytest.mark.parametrize("kwargs", [{"noise": "messy"}, {"people": 0}, {"days": 10}, {"systems_mix": (0.5, 0.5, 0.5)}])
def test_invalid_spec_is_rejected(kwargs):
    with pytest.raises(ValueError):
        WorldSpec(**kwargs)
