"""Declared configuration of the core: frozen dataclasses, built once at the edge.

The YAML file is parsed and validated by `streams.settings` into these objects; nothing
here reads the environment or a file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CONTACT = "Contact"
SALES_ORDER = "SalesOrder"

# Precision levels of a rule, as batch matching suites name them.
LEVELS: dict[str, float] = {"exact": 1.0, "high": 0.8, "medium": 0.6, "low": 0.3}


@dataclass(frozen=True)
class FieldSpec:
    """Source column -> CDM attribute, with the normalizers applied in order.

    `parts` maps the sub-fields of a nested value (order lines) to CDM line attributes.
    """

    attribute: str
    column: str
    normalize: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SourceSpec:
    name: str
    topic: str
    kind: str
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    position: str = "lsn"
    customer_source: str | None = None


@dataclass(frozen=True)
class Condition:
    """An attribute compared with a comparator; holds when the score >= threshold.

    `attribute` may name several attributes joined by `|` (e.g. "telephone1|mobilePhone"):
    the condition then compares any value of one record with any value of the other.
    """

    attribute: str
    compare: str = "exact"
    threshold: float = 1.0

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.attribute.split("|"))


@dataclass(frozen=True)
class Rule:
    """Ordered match rule: all conditions must hold; `level` is its declared precision.

    `sources` restricts the rule to unordered pairs of source names (empty: any pair).
    """

    name: str
    conditions: tuple[Condition, ...]
    level: float = LEVELS["high"]
    sources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MatchSpec:
    """`shard_key` names an attribute (a region, brand or tenant): records with different
    values of it never match, so each shard can be resolved on its own. Records without a
    value form one shard of their own."""

    rules: tuple[Rule, ...]
    max_block_size: int = 50
    within_source: bool = True
    across_sources: bool = True
    shard_key: str | None = None


@dataclass(frozen=True)
class SurvivorshipSpec:
    """Attribute groups that move together (an address), each chosen by one policy."""

    default_policy: str = "most_recent"
    groups: tuple[tuple[str, tuple[str, ...]], ...] = (
        (
            "address",
            (
                "address1_line1",
                "address1_city",
                "address1_stateOrProvince",
                "address1_postalCode",
                "address1_country",
            ),
        ),
        ("name", ("firstName", "middleName", "lastName")),
    )
    policies: tuple[tuple[str, str], ...] = ()
    source_priority: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineSpec:
    sources: tuple[SourceSpec, ...]
    match: MatchSpec
    survivorship: SurvivorshipSpec = field(default_factory=SurvivorshipSpec)
    attributes: tuple[str, ...] = ()

    def source(self, name: str) -> SourceSpec:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)
