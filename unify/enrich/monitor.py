"""Progressive validation of a probabilistic classifier on matured labels, with drift detection.

Each matured label is scored against the probability the model gave when the example was
created (before it could know the label). ROC AUC and log loss are River's; calibration is
kept per probability decile ([0, 0.1), [0.1, 0.2), ... [0.9, 1]: mean predicted vs observed
rate, and their count-weighted gap, the expected calibration error); River's ADWIN watches
the absolute error |y - p| and raises `drift_detected` when its mean shifts.

River's ROC AUC counts a confusion matrix per threshold; 100 thresholds keep its error well
under 0.01 for probabilities spread over [0, 1].
"""
from __future__ import annotations

from river import drift, metrics

DECILES = 10


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

    def __init__(self, drift_delta: float = 0.002, roc_thresholds: int = 50):
        self.roc_auc = metrics.ROCAUC(n_thresholds=roc_thresholds)
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
        self.roc_auc.update(bool(y), p)
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

    def calibration(self) -> list[dict]:
        return [{"decile": i, "count": n, "mean_predicted": total / n, "observed_rate": pos / n}
                for i, (n, total, pos) in enumerate(self._bins) if n]

    def snapshot(self) -> dict:
        rows = self.calibration()
        ece = sum(r["count"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in rows)
        return {
            "labels": self.labels,
            "positive_rate": self.positives / self.labels if self.labels else None,
            "roc_auc": float(self.roc_auc.get()) if self.labels else None,
            "log_loss": float(self.log_loss.get()) if self.labels else None,
            "expected_calibration_error": ece / self.labels if self.labels else None,
            "calibration": rows,
            "error_mean": float(self.detector.estimation) if self.labels else None,
            "drift_detected": self.drift_detected,
            "drifts": self.drifts,
            "last_drift_ms": self.last_drift_ms,
        }
