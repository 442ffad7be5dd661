"""Online churn: delayed labels on event time, determinism, pickling, progressive metrics."""
from __future__ import annotations

import copy
import math
import pickle
import random

import pytest

from streams.churn_training import ChurnFeed, train
from unify.enrich import ChurnModel, ChurnMonitor, Enrichment, OrderEvent
from unify.enrich.features import DAY

WINDOW = 90 * DAY


def purchases(seed: int, customers: int = 60, days: int = 720) -> list[tuple[int, str]]:
    """(event time, customer) of purchases: each customer buys at a steady rate, some stop."""
    rng = random.Random(seed)
    out = []
    for c in range(customers):
        rate, stop = rng.choice([1 / 7, 1 / 120]), rng.choice([days, rng.randrange(days)])
        t = rng.randrange(60) * DAY
        while t < stop * DAY:
            out.append((t, f"C{c:03d}"))
            t += int(rng.expovariate(rate) * DAY) + 1
    return sorted(out)


def run(model: ChurnModel, events: list[tuple[int, str]]) -> None:
    last: dict[str, int] = {}
    for t, customer in events:
        model.advance(t)
        gap = (t - last.get(customer, t)) / DAY
        last[customer] = t
        model.observe(customer, {"log_gap_days": math.log1p(gap)}, t)


def test_labels_mature_on_event_time_only():
    model = ChurnModel(window_days=90, keep_matured=True)
    model.observe("A", {"x": 1.0}, 0)
    model.observe("B", {"x": 2.0}, 0)
    model.advance(WINDOW)  # exactly at the end of the window: nothing matures yet
    assert model.metrics()["labels"] == 0
    model.observe("A", {"x": 3.0}, WINDOW)  # bought on the last day of the window: not churned
    [a] = model.drain()
    assert (a.customer_id, a.churned, a.opened_ms, a.matured_ms, a.inputs) == ("A", False, 0, WINDOW, {"x": 1.0})
    model.advance(WINDOW + 1)
    [b] = model.drain()
    assert (b.customer_id, b.churned, b.matured_ms) == ("B", True, WINDOW)
    assert model.metrics()["pending"] == 1 and model.churn_probability("B") == 1.0


def test_predictions_are_made_before_the_label_is_known():
    model = ChurnModel(keep_matured=True)
    model.observe("A", {"x": 1.0}, 0)
    p = model.churn_probability("A")
    for _ in range(50):  # the model learns a lot from others before A's label matures
        model.learn_one({"x": 1.0}, True)
    model.advance(WINDOW + 1)
    [a] = model.drain()
    assert a.predicted == p == pytest.approx(0.5)


class Recorder:
    """A River-like classifier that records what it learns and when (in event time)."""

    def __init__(self):
        self.now, self.learned = None, []

    def learn_one(self, x, y):
        self.learned.append((self.now, x, y))

    def predict_proba_one(self, x):
        return {False: 0.5, True: 0.5}


def test_the_model_learns_only_matured_labels_and_never_from_the_future():
    recorder = Recorder()
    model = ChurnModel(model=recorder, keep_matured=True)
    last: dict[str, int] = {}
    events = purchases(7)
    for t, customer in events:
        recorder.now = t
        model.advance(t)
        model.observe(customer, {"days_since_previous": (t - last.get(customer, t)) / DAY}, t)
        last[customer] = t
    matured = model.drain()
    assert [(x, y) for _, x, y in recorder.learned] == [(m.inputs, m.churned) for m in matured]
    for (now, _, _), m in zip(recorder.learned, matured, strict=True):
        assert m.opened_ms < m.matured_ms <= now  # the label was known when it was learned
        assert m.matured_ms <= m.opened_ms + WINDOW
        assert m.churned == (m.matured_ms == m.opened_ms + WINDOW and not any(
            m.opened_ms < t <= m.opened_ms + WINDOW for t, c in events if c == m.customer_id))


def test_a_late_purchase_opens_no_example_in_the_past():
    model = ChurnModel(keep_matured=True)
    model.observe("A", {"x": 1.0}, 100 * DAY)
    model.observe("A", {"x": 9.0}, 50 * DAY)
    model.observe("A", {"x": 2.0}, 100 * DAY)  # same moment: same example, latest features
    model.advance(10_000 * DAY)
    [a] = model.drain()
    assert (a.opened_ms, a.inputs, a.churned) == (100 * DAY, {"x": 2.0}, True)


def test_pending_examples_are_one_per_customer():
    model = ChurnModel()
    events = purchases(1)
    run(model, events)
    customers = {c for _, c in events}
    assert model.metrics()["pending"] <= len(customers)
    # every purchase became exactly one example: matured, or still pending at the end
    assert model.metrics()["labels"] + model.metrics()["pending"] == len(events)
    assert len(model._due) <= sum(1 for t, _ in events if t > events[-1][0] - WINDOW) + len(customers)


def test_stale_due_times_are_dropped_and_every_label_still_matures_right():
    """Daily buyers leave a stale due time per purchase; once those outnumber the live ones
    they are dropped, and every example still matures with the label its gaps give."""
    model = ChurnModel(keep_matured=True)
    buys = {f"C{c}": [d * DAY for d in range(c % 5, 300)] + [(400 + c) * DAY] for c in range(30)}
    events = sorted((t, c) for c, times in buys.items() for t in times)
    for t, customer in events:
        model.advance(t)
        model.observe(customer, {"x": 1.0}, t)
        assert len(model._due) <= 2 * model.metrics()["pending"] + 1024
    model.advance(10_000 * DAY)
    expected = {(c, a, min(b, a + WINDOW), b - a > WINDOW)
                for c, times in buys.items() for a, b in zip(times, times[1:] + [math.inf])}
    assert {(m.customer_id, m.opened_ms, m.matured_ms, m.churned) for m in model.drain()} == expected
    assert sum(len(times) for times in buys.values()) > 3 * 1024  # enough to have dropped some


def test_replay_gives_the_same_model_and_metrics():
    first, second = ChurnModel(), ChurnModel()
    run(first, purchases(2))
    run(second, purchases(2))
    assert first.metrics() == second.metrics()
    x = {"log_gap_days": 2.5}
    assert first.predict_proba_one(x) == second.predict_proba_one(x)


def test_pickled_model_carries_on_identically():
    events = purchases(3)
    half = len(events) // 2
    model = ChurnModel(keep_matured=True)
    run(model, events[:half])
    restored = pickle.loads(pickle.dumps(model))
    run(model, events[half:])
    run(restored, events[half:])
    assert restored.metrics() == model.metrics()
    assert restored.drain() == model.drain()
    assert restored.predict_proba_one({"log_gap_days": 1.4}) == model.predict_proba_one({"log_gap_days": 1.4})


def test_it_learns_that_slow_buyers_churn():
    model = ChurnModel()
    run(model, purchases(4, customers=300))
    m = model.metrics()
    assert m["roc_auc"] > 0.65 and m["log_loss"] < 0.69
    assert model.predict_proba_one({"log_gap_days": 4.8})[True] > model.predict_proba_one({"log_gap_days": 1.1})[True]


def test_input_features_are_not_mutated_or_shared():
    model = ChurnModel(keep_matured=True)
    x = {"gap_days": 1.0}
    frozen = copy.deepcopy(x)
    model.observe("A", x, 0)
    x["gap_days"] = 99.0
    model.advance(WINDOW + 1)
    assert model.drain()[0].inputs == frozen


def test_merge_keeps_the_latest_pending_example_and_forget_drops_it():
    model = ChurnModel(keep_matured=True)
    model.observe("C1", {"x": 1.0}, 0)
    model.observe("C2", {"x": 2.0}, 10 * DAY)
    model.merge("C1", ["C2"])
    assert model.metrics()["pending"] == 1 and model.churn_probability("C2") is None
    model.advance(10 * DAY + WINDOW + 1)
    [merged] = model.drain()
    assert (merged.customer_id, merged.opened_ms, merged.inputs) == ("C1", 10 * DAY, {"x": 2.0})
    model.observe("C3", {"x": 1.0}, 0)
    model.forget("C3")
    model.advance(10_000 * DAY)
    assert model.drain() == [] and model.metrics()["pending"] == 0


def test_monitor_calibration_equals_the_batch_answer_and_drift_is_flagged():
    rng = random.Random(5)
    monitor = ChurnMonitor()
    pairs = []
    for n in range(4000):
        p = rng.random()
        y = rng.random() < (p if n < 2000 else 1 - p)  # the relation flips halfway
        pairs.append((y, p))
        monitor.update(y, p, at_ms=n)
    snapshot = monitor.snapshot()
    assert snapshot["drifts"] >= 1 and 2000 <= snapshot["last_drift_ms"] < 2600
    for row in snapshot["calibration"]:
        members = [(y, p) for y, p in pairs if min(int(p * 10), 9) == row["decile"]]
        assert row["count"] == len(members)
        assert row["mean_predicted"] == pytest.approx(sum(p for _, p in members) / len(members))
        assert row["observed_rate"] == pytest.approx(sum(y for y, _ in members) / len(members))
    assert snapshot["positive_rate"] == pytest.approx(sum(y for y, _ in pairs) / len(pairs))


def test_enrichment_feeds_the_model_from_orders_and_lineage():
    customer_of = {("pos_customers", "1"): "C1", ("pos_customers", "2"): "C2"}
    members = {"C1": [("pos_customers", "1")], "C2": [("pos_customers", "2")]}
    enrichment = Enrichment(churn=ChurnModel(keep_matured=True))

    def order(key, ref, day, position=1, op="upsert"):
        body = {"customerSource": "pos_customers", "customerRef": ref, "orderedMs": day * DAY, "totalAmount": 5.0}
        enrichment.apply(OrderEvent("pos_tickets", key, op, position, day * DAY, body if op == "upsert" else {}),
                         customer_of.get, members.get)

    order("T1", "1", 0)
    order("T1", "1", 0, position=2)  # a correction is not a new purchase
    order("T2", "2", 5)
    order("T3", None, 6)  # anonymous: no example
    order("T9", "9", 7)  # record not linked yet: counts in features later, no example
    assert enrichment.churn.metrics()["pending"] == 2
    customer_of[("pos_customers", "2")] = "C1"
    members["C1"].append(("pos_customers", "2"))
    enrichment.apply_lineage(type("Event", (), {"event": "merged", "customer_id": "C1", "from_ids": ("C1", "C2")}))
    order("T4", "2", 20)
    [matured] = enrichment.churn.drain()
    assert (matured.customer_id, matured.opened_ms, matured.churned) == ("C1", 5 * DAY, False)
    assert enrichment.features("C1", members.get, 20 * DAY).orders == 3


def test_enrichment_pickles_with_its_ledger_and_model():
    customer_of, members = {("pos_customers", "1"): "C1"}.get, {"C1": [("pos_customers", "1")]}.get
    enrichment, restored = Enrichment(), None
    for n, (t, _) in enumerate(purchases(6, customers=1)):
        if n == 5:
            restored = pickle.loads(pickle.dumps(enrichment))
        for e in [enrichment] + ([restored] if restored else []):
            body = {"customerSource": "pos_customers", "customerRef": "1", "orderedMs": t, "totalAmount": 7.5}
            e.apply(OrderEvent("pos_tickets", str(n), "upsert", n, t, body), customer_of, members)
    assert restored.churn.metrics() == enrichment.churn.metrics()
    assert restored.features("C1", members, t) == enrichment.features("C1", members, t)


def test_a_model_trained_from_a_feed_of_the_calls_is_the_same_model():
    """A rebuild folds orders in one process and trains the churn model in another, from
    the calls the fold made, sent in chunks over a pipe."""
    class Pipe:
        def __init__(self):
            self.sent = []

        def send(self, message):
            self.sent.append(pickle.loads(pickle.dumps(message)))

    pipe = Pipe()
    direct, fed = ChurnModel(), ChurnModel()
    run(direct, purchases(4))
    feed = ChurnFeed(pipe, chunk=7)
    run(feed, purchases(4))
    feed.observe("C900", {"log_gap_days": 0.5, "log_orders": 0.7}, 10**12)  # another layout
    direct.observe("C900", {"log_gap_days": 0.5, "log_orders": 0.7}, 10**12)
    feed.close()
    assert all(ok for ok, _ in pipe.sent) and pipe.sent[-1] == (True, None)
    for _, calls in pipe.sent[:-1]:
        train(fed, calls)
    assert fed.metrics() == direct.metrics()
    assert fed.churn_probability("C001") == direct.churn_probability("C001")
    x = {"log_gap_days": 2.5}
    assert fed.predict_proba_one(x) == direct.predict_proba_one(x)
