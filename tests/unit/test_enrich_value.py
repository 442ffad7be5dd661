"""Lifetime value: BG/NBD + Gamma-Gamma fitted on simulated customers whose parameters are known."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from unify.enrich import ActivityAggregate, FeatureSpec, HeldOrder, LifetimeValueModel, summarize
from unify.enrich.features import DAY

SPEC = FeatureSpec()
TRUE = {"r": 0.8, "alpha": 40.0, "a": 0.6, "b": 2.5}  # BG/NBD, rates per day


def simulate(customers: int, seed: int, horizon_days: int = 365):
    """BG/NBD customers observed for up to two years, plus their spend in the next horizon."""
    rng = np.random.default_rng(seed)
    history, future = [], []
    for c in range(customers):
        rate = rng.gamma(TRUE["r"], 1 / TRUE["alpha"])
        dropout = rng.beta(TRUE["a"], TRUE["b"])
        value = rng.gamma(6.0, 10.0)  # this customer's mean order value
        age = float(rng.uniform(30, 730))
        times, t, alive = [0.0], 0.0, True
        while alive:
            t += rng.exponential(1 / rate)
            if t > age + horizon_days:
                break
            times.append(t)
            alive = rng.random() > dropout
        aggregate = ActivityAggregate(SPEC.half_life_ms)
        for t in (x for x in times if x <= age):
            aggregate.add(HeldOrder(1, ("pos", str(c)), round(t * DAY), round(value * rng.gamma(20, 1 / 20) * 100),
                                    None, None))
        history.append(summarize(aggregate, round(age * DAY), SPEC))
        future.append(sum(value for x in times if x > age))
    return history, np.array(future)


@pytest.fixture(scope="module")
def fitted():
    history, future = simulate(3000, seed=11)
    model = LifetimeValueModel()
    model.fit(history)
    return model, history, future


def test_fit_recovers_the_simulated_parameters(fitted):
    model, _, _ = fitted
    r, alpha, a, b = model.bgnbd
    assert r / alpha == pytest.approx(TRUE["r"] / TRUE["alpha"], rel=0.25)  # mean purchase rate
    assert a / (a + b) == pytest.approx(TRUE["a"] / (TRUE["a"] + TRUE["b"]), rel=0.3)  # mean dropout


def test_predicted_value_ranks_future_spend_and_totals_are_close(fitted):
    model, history, future = fitted
    predicted = np.array([model.predict_one(f).predicted_value for f in history])
    ranks_predicted, ranks_future = np.argsort(np.argsort(predicted)), np.argsort(np.argsort(future))
    assert np.corrcoef(ranks_predicted, ranks_future)[0, 1] > 0.5
    assert predicted.sum() == pytest.approx(future.sum(), rel=0.3)


def test_bands_split_the_fitted_population_20_30_50(fitted):
    model, history, _ = fitted
    bands = [model.predict_one(f).band for f in history]
    assert bands.count("A") / len(bands) == pytest.approx(0.2, abs=0.01)
    assert bands.count("B") / len(bands) == pytest.approx(0.3, abs=0.01)
    estimate = model.predict_one(history[0])
    assert estimate.historical_value == history[0].total_spend
    assert 0 < estimate.alive_probability <= 1


def test_fit_is_deterministic_and_independent_of_input_order(fitted):
    model, history, _ = fitted
    shuffled = list(history)
    random.Random(3).shuffle(shuffled)
    again = LifetimeValueModel()
    again.fit(shuffled)
    assert (again.bgnbd, again.gamma_gamma, again.band_cuts) == (model.bgnbd, model.gamma_gamma, model.band_cuts)
    restored = pickle.loads(pickle.dumps(model))
    assert restored.predict_one(history[5]) == model.predict_one(history[5])


def test_before_a_fit_there_is_only_the_historical_value():
    history, _ = simulate(5, seed=1)
    model = LifetimeValueModel()
    estimate = model.predict_one(history[0])
    assert estimate.predicted_value is None and estimate.band is None
    assert estimate.historical_value == history[0].total_spend
    with pytest.raises(ValueError):
        model.fit(history)
