"""Decayed sums, affinity levels, and what the ledger costs in memory."""
from __future__ import annotations

import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unify.enrich import ActivityLedger, DecayedSums, FeatureSpec, OrderEvent, affinity_level, top_affinities
from unify.enrich.affinity import HIGH, MEDIUM, VERY_HIGH
from unify.enrich.features import DAY

HALF_LIFE = 90 * DAY
contributions = st.lists(st.tuples(st.sampled_from("abc"), st.integers(-10**7, 10**7),
                                   st.integers(-10**12, 4 * 10**12)), max_size=30)


def sums_of(items) -> DecayedSums:
    sums = DecayedSums(HALF_LIFE)
    for key, amount, at_ms in items:
        sums.add(key, amount, at_ms)
    return sums


@settings(max_examples=80, deadline=None)
@given(contributions, contributions, st.integers(0, 5 * 10**12))
def test_decayed_sums_are_the_batch_formula_and_merge_exactly(left, right, as_of):
    a, b = sums_of(left), sums_of(right)
    merged = a.copy()
    merged += b
    assert merged == sums_of(left + right) == sums_of(right + left)
    for key in "abc":
        expected = sum(amount * 2 ** (-(as_of - t) / HALF_LIFE) for k, amount, t in left + right if k == key)
        scale = sum(abs(amount) * 2 ** (-(as_of - t) / HALF_LIFE) for k, amount, t in left + right if k == key)
        assert merged.value(key, as_of) == pytest.approx(expected, rel=1e-9, abs=1e-9 * scale + 1e-12)
        # the same quantity at another reference gives the identical float
        assert merged.value(key, as_of) == sums_of(right + left).value(key, as_of)


@settings(max_examples=60, deadline=None)
@given(contributions, st.randoms(use_true_random=False))
def test_removing_everything_in_any_order_leaves_exactly_zero(items, rng):
    sums = sums_of(items)
    undo = list(items)
    rng.shuffle(undo)
    for key, amount, at_ms in undo:
        sums.remove(key, amount, at_ms)
    assert len(sums) == 0 and sums == DecayedSums(HALF_LIFE)


def test_affinity_cut_points_are_the_documented_ones():
    assert (MEDIUM, HIGH, VERY_HIGH) == (0.10, 0.25, 0.50)
    assert [affinity_level(s) for s in (0.0, 0.0999, 0.1, 0.2499, 0.25, 0.4999, 0.5, 1.0)] == \
        ["low", "low", "medium", "medium", "high", "high", "very high", "very high"]


def test_top_affinities_are_the_top_five_shares_with_ties_by_name():
    spend = {name: 10.0 for name in "gfedcba"} | {"z": 30.0, "y": -5.0}
    top = top_affinities(spend)
    assert [a.name for a in top] == ["z", "a", "b", "c", "d"]
    assert top[0].score == pytest.approx(0.3) and top[0].level == "high"
    assert top_affinities({}) == () and top_affinities({"x": 0.0}) == ()


def footprint(obj, seen: set) -> int:
    """Bytes reachable from `obj`, each object counted once (shared strings once overall)."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(footprint(k, seen) + footprint(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(footprint(item, seen) for item in obj)
    elif hasattr(obj, "__slots__") or hasattr(obj, "__dict__"):
        names = getattr(type(obj), "__slots__", ()) or vars(obj)
        size += sum(footprint(getattr(obj, name), seen) for name in names if hasattr(obj, name))
    return size


def realistic_orders(count: int, records: int, seed: int = 1):
    rng = random.Random(seed)
    brands = [f"Brand {n}" for n in range(20)]
    categories = [f"category {n}" for n in range(8)]
    for n in range(count):
        lines = [{"product": f"SKU-{rng.randrange(900):04d}", "brand": rng.choice(brands),
                  "category": rng.choice(categories), "quantity": 1, "price": rng.randrange(500, 30000) / 100}
                 for _ in range(rng.choice([1, 1, 2, 3]))]
        order = {"customerSource": "pos_customers", "customerRef": str(100000 + rng.randrange(records)),
                 "orderedMs": 1_704_067_200_000 + n * 600_000, "totalAmount": sum(line["price"] for line in lines),
                 "currency": "USD", "storeId": f"S{rng.randrange(60):03d}", "channel": "store", "lines": lines}
        yield OrderEvent("pos_tickets", str(5_000_000 + n), "upsert", n + 1, order["orderedMs"], order)


def test_memory_per_order_and_per_record_is_bounded():
    orders, records = 6000, 1000
    ledger = ActivityLedger(FeatureSpec())
    for event in realistic_orders(orders, records):
        ledger.apply(event)
    seen: set = set()  # the record index points at the held orders: count them once
    held = ledger._orders
    per_order = (footprint(held._live, seen) + footprint(held._of, seen)) / orders
    per_record = footprint(ledger._aggregates, set()) / len(ledger._aggregates)
    assert per_order < 500, per_order  # measured: ~450 bytes
    assert per_record < 2600, per_record  # measured: ~2.2 KB for ~6 orders over ~9 brands
    packed = sum(sys.getsizeof(a.packed()) for a in ledger._aggregates.values()) / len(ledger._aggregates)
    assert packed < per_record / 3, (packed, per_record)  # measured: ~540 bytes, a quarter
    for n in range(orders // 2):  # cancelled orders keep only their key and position
        ledger.apply(OrderEvent("pos_tickets", str(5_000_000 + n), "delete", 10**9, 0, {}))
    assert footprint(held._passive, set()) / (orders // 2) < 120  # measured: ~90 bytes
