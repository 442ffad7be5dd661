"""Churn model quality on a generated world: the online model against a batch model.

    .venv/bin/python bench/churn_quality.py [--people N] [--seed S] [--out bench/churn_quality.json]

The world's order changes go through the stream's codec, are sorted by event time and fed to
`unify.enrich.Enrichment`, with source records mapped to the generator's true person (so the
numbers measure the model, not the matching). Reported:

- the online model's progressive ROC AUC over every matured label (predicted when the example
  opened, scored when its label matured), exact (scikit-learn) and as River tracks it;
- a time split: labels that matured before the cut (the 70th percentile of maturity times)
  train scikit-learn's HistGradientBoostingClassifier (and, for reference, a logistic
  regression) on the same inputs; both and the online model are scored on the labels that
  matured after the cut, among examples whose whole window ended inside the world (near
  its end only "bought again" can mature yet, which would skew the test set);
- for reference, the same batch model on a random 70/30 split (no time order, optimistic);
- lifetime value: BG/NBD + Gamma-Gamma fitted one year in, its predicted next-year spend
  against the spend that followed.

Goals: online AUC on the test split at most 0.03 below the batch model's, and above 0.75.
Needs scikit-learn (benchmark only; `unify` does not import it).
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from streams.codec import SourceCodec
from streams.settings import load
from unify.enrich import ChurnModel, Enrichment, LifetimeValueModel
from unify.enrich.features import DAY
from unify.enrich.orders import record_of
from unify.synthetic import WorldSpec, generate, truth

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "retail" / "unify.yaml"
TRAIN_SHARE = 0.7
GOAL_GAP, GOAL_AUC = 0.03, 0.75
ONLINE, BATCH = "online (River, progressive)", "batch HistGradientBoosting"


def world_orders(spec: WorldSpec):
    """Order changes sorted by event time, and the truth: record -> person, person -> records."""
    codecs = {s.name: SourceCodec(s) for s in load(CONFIG).engine.sources if s.kind != "Contact"}
    changes = [codecs[name].decode(json.dumps(envelope).encode())
               for name, envelope in generate(spec) if name in codecs]
    changes.sort(key=lambda change: change.event_ms)  # stable: ties keep emission order
    person_of, members = {}, defaultdict(list)
    for row in truth(spec):
        if row["kind"] == "record":
            record = (row["source"], row["key"])
            person_of[record] = row["person_id"]
            members[row["person_id"]].append(record)
    return changes, person_of, dict(members)


def value_check(enrichment: Enrichment, members: dict, cut_ms: int) -> dict:
    """Fit the value model on everyone's features at `cut_ms`; keep each buyer's features and estimate."""
    features = {p: enrichment.features(p, members.get, cut_ms) for p in sorted(members)}
    model = LifetimeValueModel()
    started = time.perf_counter()
    model.fit(f for f in features.values() if f.orders)
    return {"model": model, "fit_seconds": time.perf_counter() - started,
            "customers": {p: (f, model.predict_one(f)) for p, f in features.items() if f.orders}}


def next_year_spend(changes, person_of: dict, cut_ms: int) -> dict:
    """Spend per person of the live orders placed in the year after `cut_ms`."""
    latest = {}
    for c in changes:
        if (c.source, c.key) not in latest or c.position > latest[(c.source, c.key)].position:
            latest[(c.source, c.key)] = c
    spend = defaultdict(float)
    for c in latest.values():
        if c.op == "upsert" and cut_ms < c.order["orderedMs"] <= cut_ms + 365 * DAY:
            person = person_of.get(record_of(c.order))
            if person is not None:
                spend[person] += c.order["totalAmount"]
    return spend


def churn_report(churn: ChurnModel) -> dict:
    matured = churn.drain()
    keys = sorted(matured[0].inputs)
    x = np.array([[m.inputs[k] for k in keys] for m in matured])
    y = np.array([m.churned for m in matured])
    online = np.array([m.predicted for m in matured])
    matured_ms = np.array([m.matured_ms for m in matured])
    decidable = np.array([m.opened_ms for m in matured]) + churn.window_ms <= churn.clock_ms
    cut_ms = int(np.sort(matured_ms)[int(TRAIN_SHARE * len(matured_ms))])
    train, test = matured_ms < cut_ms, (matured_ms >= cut_ms) & decidable
    batch = HistGradientBoostingClassifier(random_state=0).fit(x[train], y[train])
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x[train], y[train])
    scores = {ONLINE: online[test], BATCH: batch.predict_proba(x[test])[:, 1],
              "batch logistic regression": linear.predict_proba(x[test])[:, 1]}
    split = {name: {"roc_auc": roc_auc_score(y[test], p), "log_loss": log_loss(y[test], np.clip(p, 1e-6, 1 - 1e-6))}
             for name, p in scores.items()}
    shuffled = np.random.default_rng(0).random(len(y)) < TRAIN_SHARE
    random_split = HistGradientBoostingClassifier(random_state=0).fit(x[shuffled], y[shuffled])
    progressive = roc_auc_score(y, online)
    gap = split[ONLINE]["roc_auc"] - split[BATCH]["roc_auc"]
    river = churn.metrics()
    return {
        "window_days": river["window_days"], "matured_labels": len(matured), "churn_rate": float(y.mean()),
        "pending_at_end": river["pending"], "inputs": keys,
        "online_progressive_roc_auc": progressive, "online_progressive_roc_auc_monitor": river["roc_auc"],
        "online_log_loss": river["log_loss"], "online_expected_calibration_error": river["expected_calibration_error"],
        "drifts_detected": river["drifts"], "calibration": river["calibration"],
        "time_split": {"cut_ms": cut_ms, "train": int(train.sum()), "test": int(test.sum()),
                       "test_churn_rate": float(y[test].mean()), "models": split},
        "reference_random_split": {
            BATCH: roc_auc_score(y[~shuffled], random_split.predict_proba(x[~shuffled])[:, 1]),
            ONLINE: roc_auc_score(y[~shuffled], online[~shuffled])},
        "goals": {"online_at_most_0.03_below_batch": gap >= -GOAL_GAP, "gap_to_batch": gap,
                  "online_above_0.75": progressive > GOAL_AUC and split[ONLINE]["roc_auc"] > GOAL_AUC},
    }


def value_report(valued: dict, spend: dict, cut_ms: int) -> dict:
    people = sorted(valued["customers"])
    predicted = np.array([valued["customers"][p][1].predicted_value for p in people])
    historical = np.array([valued["customers"][p][0].total_spend for p in people])
    actual = np.array([spend.get(p, 0.0) for p in people])
    band_a = np.array([valued["customers"][p][1].band == "A" for p in people])
    model = valued["model"]
    return {
        "fitted_at_ms": cut_ms, "customers": len(people), "fit_seconds": valued["fit_seconds"],
        "bgnbd_r_alpha_a_b": model.bgnbd, "gamma_gamma_p_q_v": model.gamma_gamma,
        "predicted_next_year_spend": float(predicted.sum()), "actual_next_year_spend": float(actual.sum()),
        "spearman_predicted_vs_actual": float(spearmanr(predicted, actual)[0]),
        "spearman_historical_vs_actual": float(spearmanr(historical, actual)[0]),
        "band_a_share_of_customers": float(band_a.mean()),
        "band_a_share_of_next_year_spend": float(actual[band_a].sum() / actual.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noise", default="realistic")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "churn_quality.json")
    args = parser.parse_args()
    started = time.perf_counter()
    spec = WorldSpec(people=args.people, seed=args.seed, noise=args.noise)
    changes, person_of, members = world_orders(spec)
    decoded = time.perf_counter()

    enrichment = Enrichment(churn=ChurnModel(keep_matured=True))
    value_cut = changes[0].event_ms - changes[0].event_ms % DAY + 365 * DAY
    valued = None
    for change in changes:
        if valued is None and change.event_ms > value_cut:
            valued = value_check(enrichment, members, value_cut)
        enrichment.apply(change, person_of.get, members.get)
    streamed = time.perf_counter()

    report = {
        "world": {"people": args.people, "seed": args.seed, "noise": args.noise, "order_changes": len(changes)},
        "churn": churn_report(enrichment.churn),
        "value": value_report(valued, next_year_spend(changes, person_of, value_cut), value_cut),
    }
    report["seconds"] = {"decode": decoded - started, "stream": streamed - decoded,
                         "total": time.perf_counter() - started}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.out}")


def print_table(report: dict) -> None:
    churn, value = report["churn"], report["value"]
    split = churn["time_split"]
    print(f"world: {report['world']['people']:,} people, {report['world']['order_changes']:,} order changes; "
          f"{churn['matured_labels']:,} matured labels, churn rate {churn['churn_rate']:.3f}")
    print(f"online progressive ROC AUC (all matured labels): {churn['online_progressive_roc_auc']:.4f} "
          f"(the stream monitor's binned estimate {churn['online_progressive_roc_auc_monitor']:.4f}), "
          f"log loss {churn['online_log_loss']:.4f}, ECE {churn['online_expected_calibration_error']:.4f}, "
          f"drifts {churn['drifts_detected']}")
    print(f"\ntime split: train {split['train']:,} labels matured before the cut, test {split['test']:,} after "
          f"(churn rate {split['test_churn_rate']:.3f})")
    print(f"{'model':<32} {'ROC AUC':>8} {'log loss':>9}")
    for name, m in split["models"].items():
        print(f"{name:<32} {m['roc_auc']:>8.4f} {m['log_loss']:>9.4f}")
    reference = churn["reference_random_split"]
    print(f"(random split, for reference: batch {reference[BATCH]:.4f}, online {reference[ONLINE]:.4f})")
    goals = churn["goals"]
    verdict = "met" if goals["online_at_most_0.03_below_batch"] else "MISSED"
    print(f"\ngoal: online at most {GOAL_GAP} below batch: {verdict} "
          f"(online - batch = {goals['gap_to_batch']:+.4f}); "
          f"online above {GOAL_AUC}: {'met' if goals['online_above_0.75'] else 'MISSED'}")
    print(f"\nvalue, fitted one year in on {value['customers']:,} customers ({value['fit_seconds']:.2f} s): "
          f"next-year spend predicted {value['predicted_next_year_spend']:,.0f} vs actual "
          f"{value['actual_next_year_spend']:,.0f}; Spearman {value['spearman_predicted_vs_actual']:.3f} "
          f"(historical spend alone {value['spearman_historical_vs_actual']:.3f}); band A holds "
          f"{value['band_a_share_of_customers']:.0%} of customers and {value['band_a_share_of_next_year_spend']:.0%} "
          f"of next-year spend")
    print(f"seconds: decode {report['seconds']['decode']:.1f}, stream {report['seconds']['stream']:.1f}, "
          f"total {report['seconds']['total']:.1f}")


if __name__ == "__main__":
    main()
