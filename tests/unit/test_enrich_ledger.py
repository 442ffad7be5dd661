"""The activity ledger against a brute-force recomputation from the final set of orders."""
from __future__ import annotations

import copy
import pickle
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unify.enrich import ActivityLedger, FeatureSpec, OrderEvent, summarize
from unify.enrich.aggregate import PackedAggregates
from unify.enrich.features import DAY

SPEC = FeatureSpec(half_life_days=30)
RECORDS = [("pos_customers", "1"), ("pos_customers", "2"), ("erp_customers", "9"), ("crm_contacts", "4")]
KEYS = [("pos_tickets", str(n)) for n in range(5)] + [("erp_orders", "A1"), ("erp_orders", "A2")]
BRANDS = ["Lumen", "Cobalt", "Vireo", None]
CATEGORIES = ["home", "toys", "beauty", None]
CUSTOMERS = [RECORDS[:2], RECORDS[2:3], RECORDS[3:], RECORDS]

lines = st.lists(st.fixed_dictionaries({
    "product": st.just("SKU"), "brand": st.sampled_from(BRANDS), "category": st.sampled_from(CATEGORIES),
    "quantity": st.integers(0, 3), "price": st.integers(-500, 40_000).map(lambda c: c / 100)}), max_size=3)
orders = st.builds(
    lambda record, day, cents, channel, store, lines: {
        "customerSource": record[0] if record else "pos_customers", "customerRef": record[1] if record else None,
        "orderedMs": day * DAY + 3_600_000, "totalAmount": cents / 100, "currency": "USD",
        "storeId": store, "channel": channel, "lines": lines},
    st.sampled_from(RECORDS + [None]), st.integers(0, 400), st.integers(-1000, 90_000),
    st.sampled_from(["store", "web", None]), st.sampled_from(["S1", "S2", None]), lines)
events = st.lists(
    st.builds(lambda key, op, position, order: OrderEvent(key[0], key[1], op, position, position * 1000,
                                                          order if op == "upsert" else {}),
              st.sampled_from(KEYS), st.sampled_from(["upsert", "upsert", "delete"]), st.integers(1, 6), orders),
    max_size=25, unique_by=lambda e: (e.source, e.key, e.position))


def live_orders(applied: list[OrderEvent]) -> list[dict]:
    """The last version (by position) of each order key, if it is a live upsert with a record."""
    latest: dict = {}
    for e in applied:
        if (e.source, e.key) not in latest or e.position > latest[(e.source, e.key)].position:
            latest[(e.source, e.key)] = e
    return [e.order for e in latest.values() if e.op == "upsert" and e.order["customerRef"] is not None]


def brute_force(applied: list[OrderEvent], records: list, as_of_ms: int) -> dict:
    mine = [o for o in live_orders(applied) if (o["customerSource"], o["customerRef"]) in records]
    times = sorted(o["orderedMs"] for o in mine)
    decay = [2 ** (-(as_of_ms - o["orderedMs"]) / SPEC.half_life_ms) for o in mine]
    cents = [round(o["totalAmount"] * 100) for o in mine]

    def mix(attribute):
        spend: Counter = Counter()
        for o, w in zip(mine, decay, strict=True):
            for line in o["lines"]:
                if line[attribute] is not None:
                    spend[line[attribute]] += round(line["quantity"] * line["price"] * 100) * w / 100
        return spend

    return {
        "orders": len(mine), "total_spend": sum(cents) / 100,
        "monetary_value": sum(c * w for c, w in zip(cents, decay, strict=True)) / 100, "decayed_orders": sum(decay),
        "first_purchase_ms": times[0] if times else None, "last_purchase_ms": times[-1] if times else None,
        "previous_purchase_ms": times[-2] if len(times) > 1 else None,
        "orders_by_channel": dict(Counter(o["channel"] for o in mine if o["channel"])),
        "orders_by_store": dict(Counter(o["storeId"] for o in mine if o["storeId"])),
        "category_spend": mix("category"), "brand_spend": mix("brand"),
    }


def assert_matches(features, expected: dict) -> None:
    for name in ("orders", "first_purchase_ms", "last_purchase_ms", "previous_purchase_ms",
                 "orders_by_channel", "orders_by_store"):
        assert getattr(features, name) == expected[name], name
    for name in ("total_spend", "monetary_value", "decayed_orders"):
        assert getattr(features, name) == pytest.approx(expected[name], rel=1e-9, abs=1e-9), name
    for name in ("category_spend", "brand_spend"):
        got, want = getattr(features, name), {k: v for k, v in expected[name].items() if abs(v) > 1e-9}
        assert got.keys() == want.keys(), name
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), name


@settings(max_examples=60, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_brute_force_features_after_every_prefix(batch, rng):
    shuffled = list(batch)
    rng.shuffle(shuffled)
    ledger = ActivityLedger(SPEC)
    as_of = 400 * DAY
    for n, event in enumerate(shuffled, 1):
        ledger.apply(event)
        for records in CUSTOMERS:
            assert_matches(ledger.features(records, as_of), brute_force(shuffled[:n], records, as_of))
    in_order = ActivityLedger(SPEC)
    for event in batch:
        in_order.apply(event)
    for records in CUSTOMERS:  # exact, not approximately: the sums are integers
        assert in_order.features(records, as_of) == ledger.features(records, as_of)


@settings(max_examples=60, deadline=None)
@given(events.flatmap(st.permutations), st.integers(1, 3))
def test_packed_aggregates_answer_as_aggregates_in_memory_after_every_change(shuffled, hot):
    plain = ActivityLedger(SPEC)
    packed = ActivityLedger(SPEC, packed=True)
    packed._aggregates = PackedAggregates(hot=hot)  # so few kept as objects that most uses unpack
    for event in shuffled + shuffled[: len(shuffled) // 2]:  # and some redelivered
        assert packed.apply(event) == plain.apply(event)
        assert list(packed.records()) == list(plain.records())
        for records in CUSTOMERS:
            assert packed.features(records, 400 * DAY) == plain.features(records, 400 * DAY)


@settings(max_examples=40, deadline=None)
@given(events, st.data())
def test_applying_an_event_again_changes_nothing(batch, data):
    ledger = ActivityLedger(SPEC)
    for event in batch:
        ledger.apply(event)
    before = pickle.dumps(ledger)
    for event in data.draw(st.lists(st.sampled_from(batch), max_size=5)) if batch else ():
        ledger.apply(event)
        assert pickle.dumps(ledger) == before


@settings(max_examples=40, deadline=None)
@given(events)
def test_input_is_not_mutated(batch):
    snapshot = copy.deepcopy(batch)
    ledger = ActivityLedger(SPEC)
    for event in batch:
        ledger.apply(event)
        ledger.features(RECORDS, 10 * DAY)
    assert batch == snapshot


@settings(max_examples=40, deadline=None)
@given(events)
def test_merging_customers_equals_the_fold_over_the_union(batch):
    ledger = ActivityLedger(SPEC)
    for event in batch:
        ledger.apply(event)
    left, right = RECORDS[:2], RECORDS[2:]
    merged = ledger.aggregate(left) + ledger.aggregate(right)
    assert merged == ledger.aggregate(RECORDS)
    assert summarize(merged, 123 * DAY, SPEC) == ledger.features(RECORDS, 123 * DAY)
    # and a split gives back each part's own features
    assert ledger.features(left, 5 * DAY) == summarize(ledger.aggregate(left), 5 * DAY, SPEC)


@settings(max_examples=30, deadline=None)
@given(events)
def test_ledger_pickles_and_carries_on_identically(batch):
    half = len(batch) // 2
    ledger = ActivityLedger(SPEC)
    for event in batch[:half]:
        ledger.apply(event)
    restored = pickle.loads(pickle.dumps(ledger))
    for event in batch[half:]:
        ledger.apply(event)
        restored.apply(event)
    for records in CUSTOMERS:
        assert restored.features(records, 50 * DAY) == ledger.features(records, 50 * DAY)


def test_cancelling_every_order_leaves_nothing_behind():
    ledger = ActivityLedger(SPEC)
    order = {"customerSource": "pos_customers", "customerRef": "1", "orderedMs": 0, "totalAmount": 0.1,
             "channel": "web", "lines": [{"brand": "Lumen", "category": "home", "quantity": 3, "price": 0.1}]}
    for n in range(200):
        ledger.apply(OrderEvent("pos_tickets", str(n), "upsert", 1, 0, dict(order, orderedMs=n * 7_777_777)))
    for n in range(200):
        ledger.apply(OrderEvent("pos_tickets", str(n), "delete", 2, 0, {}))
    assert len(ledger) == 0 and list(ledger.records()) == []
    empty = ledger.features([RECORDS[0]], 0)
    assert (empty.orders, empty.total_spend, empty.brand_spend, empty.last_purchase_ms) == (0, 0.0, {}, None)


def test_an_older_version_cannot_resurrect_a_deleted_order():
    ledger = ActivityLedger(SPEC)
    order = {"customerSource": "pos_customers", "customerRef": "1", "orderedMs": 0, "totalAmount": 9.0}
    ledger.apply(OrderEvent("pos_tickets", "T", "delete", 5, 0, {}))
    ledger.apply(OrderEvent("pos_tickets", "T", "upsert", 4, 0, order))
    assert ledger.features([RECORDS[0]], 0).orders == 0
    ledger.apply(OrderEvent("pos_tickets", "T", "upsert", 6, 0, order))
    assert ledger.features([RECORDS[0]], 0).orders == 1


@settings(max_examples=100, deadline=None)
@given(events.flatmap(st.permutations))
def test_a_change_says_which_record_the_order_counted_for_and_names_and_a_key_purchases_once(shuffled):
    ledger = ActivityLedger(SPEC)
    held: dict = {}  # order key -> (latest position applied, the record its order counts for)
    for event in shuffled + shuffled[: len(shuffled) // 2]:  # and some redelivered
        key = (event.source, event.key)
        named = (event.order["customerSource"], event.order["customerRef"]) if event.op == "upsert" else None
        named = named if named is not None and named[1] is not None else None
        applied = ledger.apply(event)
        assert applied.before == held.get(key, (0, None))[1]
        assert applied.after == named
        assert applied.purchase == (key not in held and named is not None)
        if key not in held or event.position > held[key][0]:
            held[key] = (event.position, named)
