"""Clustering accuracy against a known truth: pairwise precision, recall and F1.

>>> pairwise({"a": 1, "b": 1, "c": 2}, {"a": "p", "b": "p", "c": "p"})
Accuracy(precision=1.0, recall=0.3333, f1=0.5, records=3)
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Hashable, Mapping


@dataclass(frozen=True)
class Accuracy:
    precision: float
    recall: float
    f1: float
    records: int


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> Accuracy:
    """Over the records present in both mappings; a perfect empty clustering scores 1.0."""
    common = [r for r in predicted if r in truth]
    cells = Counter((predicted[r], truth[r]) for r in common)
    together = sum(_pairs(n) for n in cells.values())
    predicted_pairs = sum(_pairs(n) for n in Counter(predicted[r] for r in common).values())
    true_pairs = sum(_pairs(n) for n in Counter(truth[r] for r in common).values())
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Accuracy(round(precision, 4), round(recall, 4), round(f1, 4), len(common))
