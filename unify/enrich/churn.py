"""Online churn with delayed labels: will a customer buy again within the window?

Each purchase of a customer at event time `t` opens an example: the customer's features at
`t`. It matures with label 0 (`False`) when the same customer buys again in `(t, t + window]`,
or with label 1 (`True`, churned) once the event-time clock (`advance`) passes `t + window`
without one. The model learns an example only when its label matures, so it never sees the
future, and everything runs on event time, so replaying the same events rebuilds the same
model. The probability given when the example opened is kept with it and scored against the
label when it matures: progressive validation as `river.evaluate` does it with a delay.

One pending example per customer (the one of its latest purchase) loses nothing: the next
purchase matures the previous example, so every purchase gets its label. Memory: about 330
bytes per customer with a pending example (its inputs packed as doubles) and 200 once it
matured (purchase time and the probability stay, for `churn_probability`), about 130 bytes
per pending example in the heap of due times (entries a purchase made stale are dropped once
they are as many as the live ones), ~1 KB for the River pipeline and ~20 KB for the monitor.

Model: `StandardScaler | LogisticRegression` by default. It has no randomness at all (so no
seed to get wrong), a state that pickles in ~1 KB, O(inputs) per label, and it outputs
calibrated probabilities. `churn_inputs` gives it log-scaled purchase rates and gaps, on
which the churn boundary is close to linear; on the generated worlds it beats gradient-boosted
trees trained in batch on a time split (`bench/churn_quality.py`), as trees cannot extrapolate
when tenures grow past the training period. Pass any River classifier as `model` to change
it (fix its seed if it has one).
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from heapq import heappop, heappush
from math import log1p

from river import linear_model, optim, preprocessing

from unify.enrich.aggregate import ORDERS, ActivityAggregate
from unify.enrich.features import DAY, CustomerFeatures
from unify.enrich.monitor import ChurnMonitor


@dataclass(frozen=True, slots=True)
class MaturedExample:
    customer_id: str
    opened_ms: int  # the purchase that opened the example
    matured_ms: int  # when its label became known, in event time
    inputs: dict[str, float]
    churned: bool
    predicted: float  # churn probability given when the example opened


def churn_inputs(features: CustomerFeatures) -> dict[str, float]:
    """Model inputs from a customer's features at a purchase."""
    gap = 0.0
    if features.previous_purchase_ms is not None and features.last_purchase_ms is not None:
        gap = (features.last_purchase_ms - features.previous_purchase_ms) / DAY
    return _inputs(features.orders, features.tenure_days or 0.0, gap, features.decayed_orders,
                   features.average_order_value or 0.0, features.orders_by_channel.get("store", 0))


def activity_inputs(activity: ActivityAggregate, at_ms: int) -> dict[str, float]:
    """`churn_inputs` of the customer whose activity is `activity`, at `at_ms`, without
    summarizing it first: the fold computes one per purchase."""
    orders, last, previous = activity.orders, activity.last_ms, activity.previous_ms
    tenure = (at_ms - activity.first_ms) / DAY if activity.first_ms is not None else 0.0
    gap = (last - previous) / DAY if previous is not None and last is not None else 0.0
    return _inputs(orders, tenure, gap, activity.activity.value(ORDERS, at_ms),
                   activity.cents / 100 / orders if orders else 0.0, activity.channels.get("store", 0))


def _inputs(orders: int, tenure: float, gap: float, decayed_orders: float, average_order_value: float,
            store_orders: int) -> dict[str, float]:
    """Counts and spans are log-scaled because purchase rates are spread over orders of
    magnitude."""
    return {
        "log_orders": log1p(orders),
        "log_tenure_days": log1p(max(tenure, 0.0)),
        # orders per month, with short tenures damped to a month so one order is not a high rate
        "log_monthly_rate": log1p(30.4375 * orders / max(tenure, 30.0)),
        "log_gap_days": log1p(max(gap, 0.0)),
        "first_purchase": float(orders <= 1),
        "log_decayed_orders": log1p(decayed_orders),
        "log_average_order_value": log1p(max(average_order_value, 0.0)),
        "store_share": store_orders / orders if orders else 0.0,
    }


def default_model():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(optimizer=optim.SGD(0.01))


class ChurnModel:
    """Delayed-label churn classifier with River method names; `window_days` defines churn.

    >>> DAY = 86_400_000
    >>> model = ChurnModel(window_days=90)
    >>> model.observe("C1", {"log_orders": 0.7}, event_ms=0)
    >>> model.observe("C1", {"log_orders": 1.1}, event_ms=30 * DAY)   # bought again: label 0
    >>> model.advance(200 * DAY)                                       # 90 days passed: label 1
    >>> m = model.metrics()
    >>> m["labels"], m["positive_rate"], m["pending"]
    (2, 0.5, 0)
    >>> model.churn_probability("C1"), model.churn_probability("C2")
    (1.0, None)
    """

    def __init__(self, window_days: float = 90.0, model=None, drift_delta: float = 0.002,
                 keep_matured: bool = False):
        if window_days <= 0:
            raise ValueError("window_days must be positive")
        self.window_ms = round(window_days * DAY)
        self.model = default_model() if model is None else model
        self.monitor = ChurnMonitor(drift_delta)
        self.keep_matured = keep_matured  # collect matured examples for `drain` (sinks, benchmarks)
        self.clock_ms: int | None = None
        self._last: dict[str, tuple[int, tuple | None, float]] = {}  # id -> (purchase, packed inputs while pending, p)
        self._layouts: dict[tuple, tuple] = {}  # the input names, one tuple shared by all pending examples
        self._due: list[tuple[int, str, int]] = []  # (due, id, purchase); stale entries are skipped
        self._pending = 0
        self._matured: list[MaturedExample] = []

    def learn_one(self, x: dict, y: bool) -> None:
        self.model.learn_one(x, bool(y))

    def predict_proba_one(self, x: dict) -> dict[bool, float]:
        proba = self.model.predict_proba_one(x)
        churned = float(proba.get(True, 0.0))
        return {False: 1.0 - churned, True: churned}

    def _pack(self, x: dict) -> tuple[tuple, bytes]:
        # A key tuple shared by every customer and the values as doubles: a sixth of a dict.
        names = tuple(x)
        return self._layouts.setdefault(names, names), array("d", x.values()).tobytes()

    @staticmethod
    def _unpack(packed: tuple[tuple, bytes]) -> dict:
        names, values = packed
        doubles = array("d")
        doubles.frombytes(values)
        return dict(zip(names, doubles))

    def _push_due(self, customer_id: str, opened: int) -> None:
        heappush(self._due, (opened + self.window_ms, customer_id, opened))
        if len(self._due) > 2 * self._pending + 1024:
            # as many stale entries as live ones: keep the live ones (sorted is a heap)
            self._due = sorted((at + self.window_ms, cid, at) for cid, (at, inputs, _) in self._last.items()
                               if inputs is not None)

    def observe(self, customer_id: str, x: dict, event_ms: int) -> None:
        """A purchase by `customer_id` at `event_ms`, with its features `x` at that time."""
        last = self._last.get(customer_id)
        if last is not None:
            opened, inputs, predicted = last
            if event_ms < opened or (event_ms == opened and inputs is None):
                return  # older than the latest purchase known: its example would open in the past
            if event_ms == opened:  # same moment: one example, with the latest features
                self._last[customer_id] = (opened, self._pack(x), predicted)
                return
            if inputs is not None:
                churned = event_ms - opened > self.window_ms
                self._mature(customer_id, opened, inputs, predicted, churned,
                             min(event_ms, opened + self.window_ms))
        self._last[customer_id] = (event_ms, self._pack(x), self.predict_proba_one(x)[True])
        self._pending += 1
        self._push_due(customer_id, event_ms)

    def advance(self, now_ms: int) -> None:
        """Move the event-time clock; examples whose window ended before it mature as churned."""
        if self.clock_ms is not None and now_ms <= self.clock_ms:
            return
        self.clock_ms = now_ms
        while self._due and self._due[0][0] < now_ms:
            due, customer_id, opened = heappop(self._due)
            last = self._last.get(customer_id)
            if last is not None and last[0] == opened and last[1] is not None:
                self._mature(customer_id, opened, last[1], last[2], True, due)
                self._last[customer_id] = (opened, None, last[2])

    def _mature(self, customer_id: str, opened: int, packed: tuple, p: float, churned: bool, at_ms: int) -> None:
        x = self._unpack(packed)
        self._pending -= 1
        self.monitor.update(churned, p, at_ms)
        self.learn_one(x, churned)
        if self.keep_matured:
            self._matured.append(MaturedExample(customer_id, opened, at_ms, x, churned, p))

    def merge(self, into: str, absorbed: Iterable[str]) -> None:
        """Customers merged into `into`: it keeps the latest pending example among them; the
        others are dropped unlearned, their labels being ambiguous across the merge."""
        entries = [(cid, self._last.pop(cid)) for cid in [into, *absorbed] if cid in self._last]
        if not entries:
            return
        self._pending -= sum(1 for _, entry in entries if entry[1] is not None)
        _, latest = max(entries, key=lambda item: (item[1][0], item[0] == into))
        self._last[into] = latest
        if latest[1] is not None:
            self._pending += 1
            self._push_due(into, latest[0])

    def forget(self, customer_id: str) -> None:
        """A customer that no longer exists; its pending example is dropped unlearned."""
        last = self._last.pop(customer_id, None)
        if last is not None and last[1] is not None:
            self._pending -= 1

    def churn_probability(self, customer_id: str) -> float | None:
        """Churn probability given at the customer's latest purchase; 1.0 once its window
        passed without a purchase; None for a customer never observed."""
        last = self._last.get(customer_id)
        if last is None:
            return None
        return last[2] if last[1] is not None else 1.0

    def drain(self) -> list[MaturedExample]:
        """Examples matured since the last drain (kept only with `keep_matured=True`)."""
        matured, self._matured = self._matured, []
        return matured

    def metrics(self) -> dict:
        return {**self.monitor.snapshot(), "pending": self._pending, "customers": len(self._last),
                "clock_ms": self.clock_ms, "window_days": self.window_ms / DAY}
