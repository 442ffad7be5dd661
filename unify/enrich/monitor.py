"""Progressive validation of a probabilistic classifier on matured labels, with drift detection.

Each matured label is scored against the probability the model gave when the example was
created (before it could know the label). Log loss is River's; ROC AUC is the Mann-Whitney
statistic over scores kept in 1,000 bins (ties within a bin count half), which costs O(1) per
label where River's per-threshold confusion matrices cost one update each; calibration is
kept per probability decile ([0, 0.1), [0.1, 0.2), ... [0.9, 1]: mean predicted vs observed
rate, and their count-weighted gap, the expected calibration error); River's ADWIN watches
the absolute error |y - p| and raises `drift_detected` when its mean shifts.
"""
from __future__ import annotations

from river import drift, metrics

DECILES = 10
AUC_BINS = 1000


class ChurnMonitor:
    """Running churn metrics; `update` with each matured label, `snapshot` to read them.

    >>> monitor = ChurnMonitor()
    >>> for y, p in [(True, 0.9), (False, 0.2), (True, 0.7), (False, 0.4)]:
    ...     monitor.update(y, p, at_ms=0)
    >>> snapshot = monitor.snapshot()
    >>> snapshot["labels"], snapshot["positive_rate"], snapshot["roc_auc"]
    (4, 0.5, 1.0)
    >>> [(row["decile"], row["count"]) for row in snapshot["calibration"]]
    [(2, 1), (4, 1), (7, 1), (9, 1)]
    """

    def __init__(self, drift_delta: float = 0.002):
        self._scores = {True: [0] * AUC_BINS, False: [0] * AUC_BINS}  # label -> count per score bin
        self.log_loss = metrics.LogLoss()
        self.detector = drift.ADWIN(delta=drift_delta)
        self.labels = 0
        self.positives = 0
        self.drifts = 0
        self.drift_detected = False  # on the latest label
        self.last_drift_ms: int | None = None
        self._bins = [[0, 0.0, 0] for _ in range(DECILES)]  # count, sum of p, positives

    def update(self, y: bool, p: float, at_ms: int) -> None:
        """One matured label `y` against the probability `p` predicted for it, at event time `at_ms`."""
        self.labels += 1
        self.positives += bool(y)
        self._scores[bool(y)][min(int(p * AUC_BINS), AUC_BINS - 1)] += 1
        self.log_loss.update(bool(y), p)
        row = self._bins[min(int(p * DECILES), DECILES - 1)]
        row[0] += 1
        row[1] += p
        row[2] += bool(y)
        self.detector.update(abs(float(y) - p))
        self.drift_detected = self.detector.drift_detected
        if self.drift_detected:
            self.drifts += 1
            self.last_drift_ms = at_ms

    def roc_auc(self) -> float | None:
        """P(a positive scores above a negative), ties counted half; None with one class only."""
        positives, negatives = self._scores[True], self._scores[False]
        total_pos, total_neg = sum(positives), sum(negatives)
        if not total_pos or not total_neg:
            return None
        below = wins = 0.0
        for pos, neg in zip(positives, negatives):
            wins += pos * (below + neg / 2)
            below += neg
        return wins / (total_pos * total_neg)

    def calibration(self) -> list[dict]:
        return [{"decile": i, "count": n, "mean_predicted": total / n, "observed_rate": pos / n}
                for i, (n, total, pos) in enumerate(self._bins) if n]

    def snapshot(self) -> dict:
        rows = self.calibration()
        ece = sum(r["count"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in rows)
        return {
            "labels": self.labels,
            "positive_rate": self.positives / self.labels if self.labels else None,
            "roc_auc": self.roc_auc(),
            "log_loss": float(self.log_loss.get()) if self.labels else None,
            "expected_calibration_error": ece / self.labels if self.labels else None,
            "calibration": rows,
            "error_mean": float(self.detector.estimation) if self.labels else None,
            "drift_detected": self.drift_detected,
            "drifts": self.drifts,
            "last_drift_ms": self.last_drift_ms,
        }
