"""Per-customer features from a folded activity aggregate, at an event time.

Everything is relative to `as_of_ms`, an argument: recency, tenure and the decayed sums are
evaluated there, never at the wall clock, so a replay gives the same features.
"""
from __future__ import annotations

from dataclasses import dataclass

from unify.enrich.affinity import TOP_K, Affinity, top_affinities
from unify.enrich.aggregate import ORDERS, SPEND, ActivityAggregate

DAY = 86_400_000


@dataclass(frozen=True)
class FeatureSpec:
    """`half_life_days`: decayed spend halves over this span; `top_k`: affinities kept per kind."""

    half_life_days: float = 90.0
    top_k: int = TOP_K

    def __post_init__(self) -> None:
        if self.half_life_days <= 0 or self.top_k < 1:
            raise ValueError("half_life_days must be positive and top_k at least 1")

    @property
    def half_life_ms(self) -> int:
        return round(self.half_life_days * DAY)


@dataclass(frozen=True)
class CustomerFeatures:
    """A customer's purchase features at `as_of_ms`. Money is in the orders' currency units;
    `monetary_value`, `decayed_orders` and the spend mixes are decayed with the half-life.

    >>> from unify.enrich.aggregate import ActivityAggregate
    >>> from unify.enrich.orders import HeldOrder
    >>> spec = FeatureSpec(half_life_days=90)
    >>> a = ActivityAggregate(spec.half_life_ms)
    >>> a.add(HeldOrder(1, ("pos", "1"), 0, 4000, "store", "S1", ("Lumen", "home", 4000)))
    >>> a.add(HeldOrder(1, ("pos", "1"), 90 * DAY, 1000, "web", None, ("Playgrove", "toys", 1000)))
    >>> f = summarize(a, as_of_ms=180 * DAY, spec=spec)
    >>> f.orders, f.total_spend, f.average_order_value, f.recency_days, f.tenure_days
    (2, 50.0, 25.0, 90.0, 180.0)
    >>> f.category_spend                       # 40 halved twice, 10 halved once
    {'home': 10.0, 'toys': 5.0}
    >>> [(a.name, round(a.score, 3), a.level) for a in f.top_categories]
    [('home', 0.667, 'very high'), ('toys', 0.333, 'high')]
    """

    as_of_ms: int
    orders: int
    total_spend: float  # lifetime spend: the historical value
    average_order_value: float | None
    monetary_value: float  # recency-weighted spend
    decayed_orders: float
    first_purchase_ms: int | None
    previous_purchase_ms: int | None
    last_purchase_ms: int | None
    recency_days: float | None
    tenure_days: float | None  # since the first purchase
    orders_by_channel: dict[str, int]
    orders_by_store: dict[str, int]
    category_spend: dict[str, float]
    brand_spend: dict[str, float]
    distinct_categories: int
    distinct_brands: int
    top_categories: tuple[Affinity, ...]
    top_brands: tuple[Affinity, ...]


def _days(later: int | None, earlier: int | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier) / DAY


def summarize(aggregate: ActivityAggregate, as_of_ms: int, spec: FeatureSpec,
              mixes: bool = True) -> CustomerFeatures:
    """`mixes=False` skips the brand and category spend and affinities (the costly part),
    for callers that need only the activity measures, such as the churn model's inputs."""
    if aggregate.half_life_ms != spec.half_life_ms:
        raise ValueError("aggregate was built with another half-life than the spec")
    categories = aggregate.categories.values(as_of_ms) if mixes else {}
    brands = aggregate.brands.values(as_of_ms) if mixes else {}
    return CustomerFeatures(
        as_of_ms=as_of_ms,
        orders=aggregate.orders,
        total_spend=aggregate.cents / 100,
        average_order_value=aggregate.cents / 100 / aggregate.orders if aggregate.orders else None,
        monetary_value=aggregate.activity.value(SPEND, as_of_ms) / 100,
        decayed_orders=aggregate.activity.value(ORDERS, as_of_ms),
        first_purchase_ms=aggregate.first_ms,
        previous_purchase_ms=aggregate.previous_ms,
        last_purchase_ms=aggregate.last_ms,
        recency_days=_days(as_of_ms, aggregate.last_ms),
        tenure_days=_days(as_of_ms, aggregate.first_ms),
        orders_by_channel=dict(sorted(aggregate.channels.items())),
        orders_by_store=dict(sorted(aggregate.stores.items())),
        category_spend={name: value / 100 for name, value in categories.items()},
        brand_spend={name: value / 100 for name, value in brands.items()},
        distinct_categories=len(categories),
        distinct_brands=len(brands),
        top_categories=top_affinities(categories, spec.top_k),
        top_brands=top_affinities(brands, spec.top_k),
    )
