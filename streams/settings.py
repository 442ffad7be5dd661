"""The YAML configuration, validated at the edge with pydantic into the core's specs.

Every problem is reported at once, one line each, naming the key and the fix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from sinks import versions
from sinks.lake import LakeError, is_remote, location

from unify.cdm import CONTACT_ATTRIBUTES
from unify.comparators import COMPARATORS
from unify.errors import SpecError, UnifyError
from unify.matcher import Matcher
from unify.normalize import compile_normalizer
from unify.spec import (
    CONTACT, LEVELS, SALES_ORDER, Condition, EngineSpec, FieldSpec, MatchSpec, Rule,
    SourceSpec, SurvivorshipSpec,
)
from unify.survivorship import policy


class ConfigError(UnifyError):
    """The configuration is invalid; the message lists every problem, one per line."""


IDENTIFIER = r"^[a-z_][a-z0-9_]*$"  # measure and segment names become SQL column and view names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerModel(_Strict):
    bootstrap: str = Field("embedded", description="'embedded' or host:port[,host:port]")


class StreamModel(_Strict):
    app_id: str = "unify"
    batch_size: int = Field(10_000, gt=0)
    batch_seconds: float = Field(0.2, gt=0)
    dead_letter_topic: str = "unify.dead-letters"
    overrides_topic: str = "unify.overrides"
    lineage_topic: str = "unify.lineage"
    segment_events_topic: str = "unify.segment-events"
    segments_every_seconds: float = Field(10.0, ge=0)
    compact_every_seconds: float = Field(900.0, ge=0)
    compact_when_idle_seconds: float = Field(5.0, ge=0)
    compact_after_share: float = Field(0.2, ge=0)
    compact_after_rows: int = Field(50_000, ge=0)
    merge_after_files: int = Field(30, ge=0)
    max_event_bytes: int = Field(1_000_000, gt=0)
    partitions: int = Field(1, gt=0)
    session_timeout: float = Field(10.0, gt=1)


class EnrichModel(_Strict):
    half_life_days: float = Field(90.0, gt=0)
    churn_window_days: float = Field(90.0, gt=0)


class FieldModel(_Strict):
    column: str
    normalize: list[str] = []
    parts: dict[str, str] = {}


class SourceModel(_Strict):
    name: str
    topic: str
    kind: Literal["Contact", "SalesOrder"]
    key: list[str] = Field(min_length=1)
    position: str = "lsn"
    customer_source: str | None = None
    fields: dict[str, Union[str, FieldModel]]


class ConditionModel(_Strict):
    attribute: str
    compare: str = "exact"
    threshold: float = Field(1.0, ge=0, le=1)

    @field_validator("compare")
    @classmethod
    def _known_compare(cls, v: str) -> str:
        if v not in COMPARATORS:
            raise ValueError(f"unknown comparator {v!r}; use one of {', '.join(sorted(COMPARATORS))}")
        return v


class RuleModel(_Strict):
    name: str
    level: Union[Literal["exact", "high", "medium", "low"], float] = "high"
    conditions: list[ConditionModel] = Field(min_length=1)
    sources: list[list[str]] = []


class MatchModel(_Strict):
    max_block_size: int = Field(50, gt=1)
    within_source: bool = True
    across_sources: bool = True
    shard_key: str | None = None
    rules: list[RuleModel] = Field(min_length=1)


class SurvivorshipModel(_Strict):
    default: str = "most_recent"
    groups: dict[str, list[str]] | None = None
    policies: dict[str, str] = {}
    source_priority: list[str] = []


class ConfigModel(_Strict):
    broker: BrokerModel = BrokerModel()
    lake: str = "lake"
    warehouse: str | None = None
    stream: StreamModel = StreamModel()
    sources: list[SourceModel] = Field(min_length=1)
    match: MatchModel
    survivorship: SurvivorshipModel = SurvivorshipModel()
    enrich: EnrichModel = EnrichModel()
    measures: dict[Annotated[str, StringConstraints(pattern=IDENTIFIER)], str] = {}
    segments: dict[Annotated[str, StringConstraints(pattern=IDENTIFIER)], str] = {}


class Settings:
    """A loaded configuration: runtime settings plus the core's EngineSpec."""

    def __init__(self, model: ConfigModel, base: Path):
        self.model, self.base = model, base
        self.broker = model.broker.bootstrap
        self.stream = model.stream
        self.enrich = model.enrich
        try:
            self.lake = location(model.lake, base)
        except LakeError as exc:
            raise ConfigError(str(exc)) from None
        # the warehouse is a local file: beside a local lake, in the config's folder otherwise
        beside = base if is_remote(self.lake) else self.lake.parent
        self.warehouse = ((base / model.warehouse).resolve() if model.warehouse
                          else beside / f"{self.lake.name}.duckdb")
        self.engine = _engine_spec(model)

    @property
    def current_lake(self) -> Path:
        """The folder of the current version of the dimension's tables (see sinks.versions)."""
        return versions.current(self.lake)

    @property
    def view_options(self) -> dict:
        """Measures, segments and the decay half-life, as the warehouse's views take them."""
        return {"measures": dict(self.model.measures), "segments": dict(self.model.segments),
                "half_life_days": self.enrich.half_life_days}

    @property
    def input_topics(self) -> list[str]:
        """Every topic the worker consumes: the sources' and the overrides topic."""
        return [s.topic for s in self.engine.sources] + [self.stream.overrides_topic]

    @property
    def relay_topic(self) -> str:
        """The one-partition topic through which every worker hands its share of the input to
        the lake's single writer (see streams.worker)."""
        return f"{self.stream.app_id}.relay"

    @property
    def embedded(self) -> bool:
        return self.broker == "embedded"

    def with_overrides(self, bootstrap: str | None = None, lake: str | Path | None = None,
                       partitions: int | None = None, warehouse: str | Path | None = None) -> "Settings":
        data = self.dump()
        if bootstrap:
            data["broker"]["bootstrap"] = bootstrap
        if partitions:
            data["stream"]["partitions"] = partitions
        if lake is not None and str(location(lake)) != str(self.lake):
            data["lake"] = str(location(lake))
            data["warehouse"] = None  # a different lake gets its own warehouse beside it
        if warehouse is not None:
            data["warehouse"] = str(Path(warehouse).resolve())
        return Settings(ConfigModel.model_validate(data), self.base)

    def dump(self) -> dict:
        """The configuration with absolute paths, as YAML-ready data."""
        data = self.model.model_dump(exclude_defaults=False)
        data["lake"] = str(self.lake)
        data["warehouse"] = str(self.warehouse)
        return data


def _field(attribute: str, value) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(attribute, value)
    return FieldSpec(attribute, value.column, tuple(value.normalize), tuple(value.parts.items()))


def _engine_spec(model: ConfigModel) -> EngineSpec:
    problems: list[str] = []
    names = [s.name for s in model.sources]
    sources = []
    for i, s in enumerate(model.sources):
        if names.count(s.name) > 1:
            problems.append(f"sources[{i}].name: {s.name!r} is used twice; give each source its own name")
        fields = tuple(_field(a, v) for a, v in s.fields.items())
        for f in fields:
            for n in f.normalize:
                try:
                    compile_normalizer(n)
                except SpecError as exc:
                    problems.append(f"sources[{i}].fields.{f.attribute}.normalize: {exc}")
        if s.kind == SALES_ORDER:
            if s.customer_source not in names:
                problems.append(f"sources[{i}].customer_source: name the Contact source its customerRef points into (one of {', '.join(names)})")
            for required in ("customerRef", "orderedAt"):
                if required not in s.fields:
                    problems.append(f"sources[{i}].fields: add '{required}' (a SalesOrder needs it)")
        sources.append(SourceSpec(s.name, s.topic, s.kind, tuple(s.key), fields, s.position, s.customer_source))
    mapped = {f.attribute for s in sources if s.kind == CONTACT for f in s.fields}
    if "fullName" in mapped:  # first, middle and last names are parsed from a full name
        mapped |= {"firstName", "middleName", "lastName"}
    attributes = (*(a for a in CONTACT_ATTRIBUTES if a in mapped),
                  *sorted(mapped - set(CONTACT_ATTRIBUTES)))
    rules = []
    for i, r in enumerate(model.match.rules):
        level = LEVELS[r.level] if isinstance(r.level, str) else float(r.level)
        for j, c in enumerate(r.conditions):
            if any(a not in attributes for a in c.attribute.split("|")):
                problems.append(f"match.rules[{i}].conditions[{j}].attribute: {c.attribute!r} is not mapped by any Contact source; map it or fix the name")
        for pair in r.sources:
            if len(pair) != 2 or any(p not in names for p in pair):
                problems.append(f"match.rules[{i}].sources: each entry is a pair of source names from {', '.join(names)}")
        rules.append(Rule(r.name, tuple(Condition(c.attribute, c.compare, c.threshold) for c in r.conditions),
                          level, tuple(tuple(p) for p in r.sources if len(p) == 2)))
    shard_key = model.match.shard_key
    if shard_key is not None and shard_key not in attributes:
        problems.append(f"match.shard_key: {shard_key!r} is not mapped by any Contact source; map it or fix the name")
    match = MatchSpec(tuple(rules), model.match.max_block_size, model.match.within_source,
                      model.match.across_sources, shard_key)
    try:
        Matcher(match)
    except SpecError as exc:
        problems.append(str(exc))
    sv = model.survivorship
    for where, name in [("survivorship.default", sv.default), *((f"survivorship.policies.{k}", v) for k, v in sv.policies.items())]:
        try:
            policy(name)
        except SpecError as exc:
            problems.append(f"{where}: {exc}")
    survivorship = SurvivorshipSpec(
        sv.default,
        tuple((k, tuple(v)) for k, v in sv.groups.items()) if sv.groups is not None else SurvivorshipSpec().groups,
        tuple(sv.policies.items()), tuple(sv.source_priority))
    if problems:
        raise ConfigError("\n".join(problems))
    return EngineSpec(tuple(sources), match, survivorship, attributes)


_UNION_TAGS = {"str", "float", "FieldModel"}


def _pydantic_problems(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"] if str(p) not in _UNION_TAGS
                         and not str(p).startswith(("function-", "literal["))) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling in the README's configuration section"
        elif e["type"] == "missing":
            msg = "required key is missing; add it"
        lines.append(f"{where}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def load(path: str | Path) -> Settings:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; pass -c with the path of your unify.yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping of keys (broker, lake, sources, match)")
    try:
        model = ConfigModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc)) from None
    return Settings(model, path.parent.resolve())
