"""Clustering accuracy against a known truth: pairwise and B-cubed precision, recall, F1.

Pairwise counts pairs of records put together; B-cubed averages, per record, the share of
its cluster that truly belongs with it (precision) and the share of its true group that its
cluster found (recall), so large clusters do not dominate.

>>> pairwise({"a": 1, "b": 1, "c": 2}, {"a": "p", "b": "p", "c": "p"})
Accuracy(precision=1.0, recall=0.3333, f1=0.5, records=3)
>>> bcubed({"a": 1, "b": 1, "c": 2}, {"a": "p", "b": "p", "c": "p"})
Accuracy(precision=1.0, recall=0.5556, f1=0.7143, records=3)
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


def bcubed(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> Accuracy:
    common = [r for r in predicted if r in truth]
    if not common:
        return Accuracy(1.0, 1.0, 1.0, 0)
    cells = Counter((predicted[r], truth[r]) for r in common)
    cluster_size = Counter(predicted[r] for r in common)
    group_size = Counter(truth[r] for r in common)
    precision = sum(cells[(predicted[r], truth[r])] / cluster_size[predicted[r]] for r in common) / len(common)
    recall = sum(cells[(predicted[r], truth[r])] / group_size[truth[r]] for r in common) / len(common)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Accuracy(round(precision, 4), round(recall, 4), round(f1, 4), len(common))
