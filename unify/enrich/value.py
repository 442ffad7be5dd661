"""Lifetime value: historical spend, a predicted spend over the next horizon, and a band.

Predicted value = expected orders in the horizon (BG/NBD, Fader, Hardie & Lee 2005) times
the expected order value (Gamma-Gamma). Why these rather than an online regressor:

- they need per customer only the order count, first and last purchase and average order
  value, which the ledger's fold gives exactly, also across merges and splits;
- they are fitted on the whole customer base at once (4 + 3 parameters), so a customer
  with one order gets a value from the population prior at once, where a regressor on
  "spend in the next 12 months" would wait a year for its first label;
- the parameters and the probability of being alive explain the number.

A fit is a batch step over a snapshot of features sharing one `as_of_ms`: maximum likelihood
with scipy's Nelder-Mead from a fixed start on inputs sorted first, so the same customers
give the same parameters in any order. Refit on a cadence (the worker refits after new orders);
`predict_one` is cheap between refits. Order counts are orders, not distinct purchase days;
value is not discounted.

Bands: at each fit the predicted values of the fitted customers are sorted and the exact cut
points taken: `A` is the top 20 %, `B` the next 30 %, `C` the rest (`band_shares`); ties go to
the better band. The same cut points apply until the next fit.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

from unify.enrich.features import DAY, CustomerFeatures

BANDS = ("A", "B", "C")
_LOG_BOUND = 12.0  # parameters stay within e**±12: the likelihood is flat beyond


@dataclass(frozen=True, slots=True)
class ValueEstimate:
    historical_value: float  # lifetime spend so far
    expected_orders: float | None  # in the horizon
    expected_order_value: float | None
    predicted_value: float | None  # expected spend in the horizon; None before the first fit
    alive_probability: float | None
    band: str | None


def _summary(f: CustomerFeatures) -> tuple[float, float, float, float, int]:
    """(repeat orders x, last - first in days, age T in days, average order value, orders)."""
    t_x = max((f.last_purchase_ms - f.first_purchase_ms) / DAY, 0.0)
    return float(f.orders - 1), t_x, max((f.as_of_ms - f.first_purchase_ms) / DAY, t_x), \
        max(f.average_order_value or 0.0, 0.0), f.orders


def _bgnbd_nll(theta, x, t_x, big_t):
    r, alpha, a, b = np.exp(np.clip(theta, -_LOG_BOUND, _LOG_BOUND))
    repeat = x > 0
    ll = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + x)
          - gammaln(b) - gammaln(a + b + x))
    a3 = -(r + x) * np.log(alpha + big_t)
    a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                  -np.inf)
    return -np.mean(ll + np.logaddexp(a3, a4))


def _gamma_gamma_nll(theta, n, m):
    p, v = np.exp(np.clip(theta[[0, 2]], -_LOG_BOUND, _LOG_BOUND))
    q = 1.0 + np.exp(np.clip(theta[1], -_LOG_BOUND, _LOG_BOUND))  # q > 1: finite mean order value
    px = p * n
    return -np.mean(gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
                    + px * np.log(n) - (px + q) * np.log(n * m + v))


def _fit(nll, start, args) -> np.ndarray:
    result = minimize(nll, np.asarray(start, dtype=float), args=args, method="Nelder-Mead",
                      options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-10})
    return np.clip(result.x, -_LOG_BOUND, _LOG_BOUND)


class LifetimeValueModel:
    """BG/NBD + Gamma-Gamma over `horizon_days`, with bands by `band_shares` of the fitted customers.

    >>> from unify.enrich.features import DAY, FeatureSpec, summarize
    >>> from unify.enrich.aggregate import ActivityAggregate
    >>> from unify.enrich.orders import HeldOrder
    >>> def customer(days, cents=5000, as_of=400):
    ...     a = ActivityAggregate(FeatureSpec().half_life_ms)
    ...     for d in days:
    ...         a.add(HeldOrder(1, ("pos", "1"), d * DAY, cents, None, None))
    ...     return summarize(a, as_of * DAY, FeatureSpec())
    >>> base = [customer(range(s, 400, 30 + s)) for s in range(60)] + [customer([s]) for s in range(0, 300, 5)]
    >>> model = LifetimeValueModel()
    >>> model.fit(base)
    >>> loyal, lapsed = model.predict_one(customer(range(0, 400, 20))), model.predict_one(customer([0, 20]))
    >>> loyal.band, lapsed.band, loyal.predicted_value > 10 * lapsed.predicted_value
    ('A', 'C', True)
    """

    def __init__(self, horizon_days: float = 365.0, band_shares: tuple[float, float] = (0.2, 0.3)):
        if horizon_days <= 0 or min(band_shares) <= 0 or sum(band_shares) >= 1:
            raise ValueError("horizon_days must be positive and band shares positive, summing below 1")
        self.horizon_days = horizon_days
        self.band_shares = band_shares
        self.bgnbd: tuple[float, float, float, float] | None = None  # r, alpha (days), a, b
        self.gamma_gamma: tuple[float, float, float] | None = None  # p, q, v
        self.band_cuts: tuple[float, float] | None = None  # lowest predicted value of A, of B

    def fit(self, customers: Iterable[CustomerFeatures]) -> None:
        """Fit on a snapshot of customers at one `as_of_ms`; customers without orders are skipped.

        Raises ValueError with fewer than 10 buyers or no repeat buyer; the previous fit stays.
        """
        rows = sorted(_summary(f) for f in customers if f.orders > 0 and f.first_purchase_ms is not None)
        if len(rows) < 10 or not any(row[0] > 0 for row in rows):
            raise ValueError("need at least 10 customers with orders, some of them repeat buyers")
        x, t_x, big_t, m, n = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
        self.bgnbd = tuple(np.exp(_fit(_bgnbd_nll, [0.0, np.log(big_t.mean() + 1), 0.0, 0.0],
                                       (x, t_x, big_t))).tolist())
        spenders = m > 0
        mean_value = float(m[spenders].mean()) if spenders.any() else 0.0
        theta = _fit(_gamma_gamma_nll, [0.0, 0.0, np.log(mean_value + 1)], (n[spenders], m[spenders]))
        self.gamma_gamma = (float(np.exp(theta[0])), 1.0 + float(np.exp(theta[1])), float(np.exp(theta[2])))
        values = np.sort(self._predict(x, t_x, big_t, m, n)[0])[::-1]
        top = max(int(np.ceil(self.band_shares[0] * len(values))), 1)
        middle = max(int(np.ceil(sum(self.band_shares) * len(values))), top)
        self.band_cuts = (float(values[top - 1]), float(values[middle - 1]))

    def _predict(self, x, t_x, big_t, m, n):
        r, alpha, a, b = self.bgnbd
        p, q, v = self.gamma_gamma
        t = self.horizon_days
        with np.errstate(all="ignore"):
            tail = ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
            hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
            odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0.0)
            orders = (a + b + x - 1) / (a - 1) * (1 - tail * hyp) / (1 + odds)
            # Near a == 1 or for extreme inputs the closed form is unstable: fall back to the
            # customer's own rate, thinned by the chance of being alive.
            own_rate = (x + 1) / np.maximum(big_t, 1.0) * t / (1 + odds)
            orders = np.where(np.isfinite(orders) & (orders >= 0), orders, own_rate)
            order_value = np.where(m > 0, p * (v + n * m) / (p * n + q - 1), p * v / (q - 1))
        return orders * order_value, orders, order_value, 1 / (1 + odds)

    def band(self, predicted_value: float) -> str | None:
        if self.band_cuts is None:
            return None
        return BANDS[0] if predicted_value >= self.band_cuts[0] else BANDS[1] \
            if predicted_value >= self.band_cuts[1] else BANDS[2]

    def predict_one(self, features: CustomerFeatures) -> ValueEstimate:
        return self.predict_many([features])[0]

    def predict_many(self, customers: list[CustomerFeatures]) -> list[ValueEstimate]:
        """`predict_one` of each, in one pass over arrays (a pass costs about as much for one
        customer as for thousands)."""
        known = self.bgnbd is not None
        out = [ValueEstimate(f.total_spend, 0.0 if known else None, None, 0.0 if known else None, None,
                             self.band(0.0)) for f in customers]
        buyers = [i for i, f in enumerate(customers) if f.orders and f.first_purchase_ms is not None] if known else []
        if buyers:
            columns = zip(*(_summary(customers[i]) for i in buyers), strict=True)
            predicted = self._predict(*(np.array(column, dtype=float) for column in columns))
            for i, value, orders, order_value, alive in zip(buyers, *(p.tolist() for p in predicted), strict=True):
                out[i] = ValueEstimate(customers[i].total_spend, orders, order_value, value, alive, self.band(value))
        return out
