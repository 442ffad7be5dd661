"""Brand and category affinity: a customer's top names by share of decayed spend, with a level.

The score of a name is its share of the customer's decayed spend over all names of that kind
(0-1), so recent purchases weigh more than old ones. Levels use fixed cut points on the
share, chosen against what an even spread would give: with the ~20 brands and 8 categories of
a typical catalogue an even spread is 0.05-0.125 per name, so

- `low`       below 0.10: no more than an even spread would give,
- `medium`    0.10 to 0.25: clearly favoured,
- `high`      0.25 to 0.50: a quarter of the wallet or more,
- `very high` 0.50 and above: most of the wallet.

Ties in score are broken by name, so the ranking is deterministic.

>>> top_affinities({"Lumen": 60.0, "Cobalt": 30.0, "Vireo": 10.0, "Strata": 0.0}, k=2)
(Affinity(name='Lumen', score=0.6, level='very high'), Affinity(name='Cobalt', score=0.3, level='high'))
>>> affinity_level(0.1), affinity_level(0.0999)
('medium', 'low')
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MEDIUM, HIGH, VERY_HIGH = 0.10, 0.25, 0.50  # lower bounds of the levels, on the share of spend
LEVELS = ("low", "medium", "high", "very high")
TOP_K = 5


@dataclass(frozen=True, slots=True)
class Affinity:
    name: str
    score: float  # share of decayed spend, 0-1
    level: str


def affinity_level(score: float) -> str:
    if score >= VERY_HIGH:
        return LEVELS[3]
    if score >= HIGH:
        return LEVELS[2]
    if score >= MEDIUM:
        return LEVELS[1]
    return LEVELS[0]


def top_affinities(spend: Mapping[str, float], k: int = TOP_K) -> tuple[Affinity, ...]:
    """The `k` names with the largest positive share of `spend` (decayed spend per name)."""
    positive = {name: value for name, value in spend.items() if value > 0}
    total = sum(sorted(positive.values()))  # sorted: the same float sum in any input order
    if total <= 0:
        return ()
    ranked = sorted(positive.items(), key=lambda item: (-item[1], item[0]))[:k]
    return tuple(Affinity(name, value / total, affinity_level(value / total)) for name, value in ranked)
