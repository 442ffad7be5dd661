"""Compile declared match rules once into a matcher over normalized records.

Blocking is derived from the rules: each rule's key conditions (comparators that give a key,
such as `exact` and `phonetic`) form its block key, so a pair is only compared when it
shares one. Rules with the same key conditions share a block, numbered from 0. Which rule
links a pair depends only on the two records and on which block keys are generic, never on
arrival order.

>>> from unify.spec import Condition, MatchSpec, Rule
>>> m = Matcher(MatchSpec(rules=(Rule("email", (Condition("emailAddress1"),
...     Condition("firstName", "nickname", 0.85))),)))
>>> a = {"emailAddress1": "ann@x.com", "firstName": "ann"}
>>> b = {"emailAddress1": "ann@x.com", "firstName": "annie"}
>>> m.block_keys(m.keys(a))
((0, 'ann@x.com'),)
>>> m.block_keys(m.keys(a)) == m.block_keys(m.keys(b))
True
>>> m.compare("crm", a, "pos", b, is_generic=lambda block, key: False).rule
'email'
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Union

from unify.comparators import comparator
from unify.errors import SpecError
from unify.spec import MatchSpec, Rule

KEY_SEPARATOR = "\x1f"

# A record's keys in one block: None, one key, or several (multi-attribute conditions).
# Kept this small because every record holds one per block. A key is the key value itself
# (the block is known by position): an exact key on one attribute is the record's own value,
# no string of its own; other keys are interned, so that equal keys share memory.
RuleKeys = Union[None, str, tuple[str, ...]]
IsGeneric = Callable[[int, str], bool]  # (block, key)
# A condition's best-scoring pair of values: (score, value a, value b).
Best = tuple[float, object, object]


@dataclass(frozen=True, slots=True)
class Link:
    """Why two records are one customer: the first rule that held, and its mean score."""

    rule: str
    rule_index: int
    score: float


@dataclass(slots=True)
class ConditionResult:  # not frozen: made for every new link (see resolver's output rows)
    attribute: str
    compare: str
    left: object
    right: object
    score: float
    threshold: float


class _CompiledRule:
    __slots__ = ("name", "index", "block", "key_parts", "scorers", "level", "pairs", "rule",
                 "single")

    def __init__(self, index: int, rule: Rule, block: int):
        keyed = [c for c in rule.conditions if comparator(c.compare).key is not None]
        if not keyed:
            raise SpecError(
                f"match.rules[{index}] '{rule.name}': no condition gives a blocking key; "
                "add an exact (or phonetic) condition"
            )
        self.rule = rule
        self.name = rule.name
        self.index = index
        self.block = block
        self.level = rule.level
        self.key_parts = tuple((c.attributes, comparator(c.compare).key) for c in keyed)
        # (attribute, key function) per key condition, when each is on one attribute
        self.single = (tuple((attributes[0], key_fn) for attributes, key_fn in self.key_parts)
                       if all(len(attributes) == 1 for attributes, _ in self.key_parts) else None)
        self.scorers = tuple(
            (c.attributes, comparator(c.compare).score, c.threshold) for c in rule.conditions
        )
        self.pairs = frozenset(frozenset(p) for p in rule.sources)

    def keys(self, attrs: Mapping[str, object], shard: str = "") -> RuleKeys:
        """Block keys of a record for this rule: one per combination of its key values, each
        after the record's `shard` (empty, or its shard value and a separator)."""
        if self.single is not None:  # the common case: one value per key condition, one key
            parts = []
            for attribute, key_fn in self.single:
                value = attrs.get(attribute)
                if value is None:
                    return None
                parts.append(f"{key_fn(value)}")
            if len(parts) == 1:
                return _key(shard, value, parts[0])
            return sys.intern(shard + KEY_SEPARATOR.join(parts))
        if len(self.key_parts) == 1:
            attributes, key_fn = self.key_parts[0]
            values = {_key(shard, v, key_fn(v)) for a in attributes if (v := attrs.get(a)) is not None}
            if not values:
                return None
            keys = tuple(sorted(values))
            return keys[0] if len(keys) == 1 else keys
        combos: list[tuple[str, ...]] = [()]
        for attributes, key_fn in self.key_parts:
            values = {key_fn(v) for v in _values(attrs, attributes)}
            if not values:
                return None
            combos = [(*c, v) for c in combos for v in sorted(values)]
        keys = tuple(sys.intern(shard + KEY_SEPARATOR.join(c)) for c in combos)
        return keys[0] if len(keys) == 1 else keys

    def allows(self, source_a: str, source_b: str) -> bool:
        return not self.pairs or frozenset((source_a, source_b)) in self.pairs

    def evaluate(self, a: Mapping[str, object], b: Mapping[str, object]) -> tuple[Best, ...] | None:
        """Each condition's best pair of values when every condition holds, else None."""
        bests = []
        for attributes, score_fn, threshold in self.scorers:
            best = _best_pair(a, b, attributes, score_fn)
            if best is None or best[0] < threshold:
                return None
            bests.append(best)
        return tuple(bests)


class Matcher:
    """Block keys for a record, and the link (if any) between two records."""

    def __init__(self, spec: MatchSpec):
        self.spec = spec
        blocks: dict[tuple, int] = {}
        self.rules: list[_CompiledRule] = []
        for i, rule in enumerate(spec.rules):
            signature = tuple(
                (c.attribute, c.compare)
                for c in rule.conditions
                if comparator(c.compare).key is not None
            )
            self.rules.append(_CompiledRule(i, rule, blocks.setdefault(signature, len(blocks))))
        sharded = (spec.shard_key,) if spec.shard_key else ()
        # every attribute a link can depend on: records equal on these link alike
        self.attributes = tuple(sorted({*sharded, *(a for rule in spec.rules for c in rule.conditions
                                                     for a in c.attributes)}))
        # each block's attributes, in block order, for people to read
        self.block_attributes = tuple("+".join((*sharded, *(a for a, _ in sig))) for sig in blocks)
        # equal links are one object (at most one per rule and score to four places): most
        # are exact, of score 1, and a graph holds one per linked pair
        self._links: dict[tuple[int, float], Link] = {}
        representatives: dict[int, _CompiledRule] = {}
        for rule in self.rules:
            representatives.setdefault(rule.block, rule)
        self._block_representatives = tuple(representatives.values())  # in block order

    def same_for_matching(self, a: Mapping[str, object], b: Mapping[str, object]) -> bool:
        """Whether two versions of a record have the same links: equal on every attribute
        the rules (and the shard key) read."""
        return all(a.get(name) == b.get(name) for name in self.attributes)

    def describe_key(self, block: int, key: str) -> tuple[str, str, str]:
        """A block key as (its name, attributes, values) for people to read; the name is the
        block number and the key, one string."""
        return (f"{block}{KEY_SEPARATOR}{key}", self.block_attributes[block],
                " + ".join(key.split(KEY_SEPARATOR)))

    def keys(self, attrs: Mapping[str, object]) -> tuple[RuleKeys, ...]:
        """A record's keys in each block (computed once, when the record arrives)."""
        shard = ""
        if self.spec.shard_key is not None:
            shard = f"{attrs.get(self.spec.shard_key) or ''}{KEY_SEPARATOR}"
        return tuple(rule.keys(attrs, shard) for rule in self._block_representatives)

    @staticmethod
    def block_keys(keys: tuple[RuleKeys, ...]) -> tuple[tuple[int, str], ...]:
        """`keys` as (block, key) pairs, each once."""
        flat: set[tuple[int, str]] = set()
        for block, found in enumerate(keys):
            if found is not None:
                flat.update((block, k) for k in ((found,) if isinstance(found, str) else found))
        return tuple(sorted(flat))

    def compare(
        self,
        source_a: str,
        a: Mapping[str, object],
        source_b: str,
        b: Mapping[str, object],
        is_generic: IsGeneric,
        keys_a: tuple[RuleKeys, ...] | None = None,
        keys_b: tuple[RuleKeys, ...] | None = None,
    ) -> Link | None:
        found = self.match(source_a, a, source_b, b, is_generic, keys_a, keys_b)
        return found[0] if found else None

    def match(self, source_a: str, a: Mapping[str, object], source_b: str, b: Mapping[str, object],
              is_generic: IsGeneric, keys_a: tuple[RuleKeys, ...] | None = None,
              keys_b: tuple[RuleKeys, ...] | None = None) -> tuple[Link, tuple[Best, ...]] | None:
        """`compare`, with the best pair of values per condition of the rule that held (what
        `explain` shows, kept so a new link is not scored twice)."""
        same_source = source_a == source_b
        if (same_source and not self.spec.within_source) or (
            not same_source and not self.spec.across_sources
        ):
            return None
        shard_key = self.spec.shard_key
        if shard_key is not None and a.get(shard_key) != b.get(shard_key):
            return None
        keys_a = keys_a or self.keys(a)
        keys_b = keys_b or self.keys(b)
        for rule in self.rules:
            block = rule.block
            if not _share_specific_key(block, keys_a[block], keys_b[block], is_generic):
                continue
            if not rule.allows(source_a, source_b):
                continue
            bests = rule.evaluate(a, b)
            if bests is not None:
                score = round(sum(best[0] for best in bests) / len(bests), 4)
                link = self._links.get((rule.index, score))
                if link is None:
                    link = self._links[rule.index, score] = Link(rule.name, rule.index, score)
                return link, bests
        return None

    def explain(self, rule_index: int, a: Mapping[str, object], b: Mapping[str, object],
                bests: tuple[Best, ...] | None = None):
        """Each condition of a rule over two records: values, score and threshold (from
        `bests` when `match` already found them)."""
        rule = self.rules[rule_index]
        if bests is None:
            bests = [_best_pair(a, b, attributes, fn) for attributes, fn, _ in rule.scorers]
        return [ConditionResult(cond.attribute, cond.compare, va, vb, round(s, 4), cond.threshold)
                for cond, (s, va, vb) in zip(rule.rule.conditions,
                                             (best or (0.0, None, None) for best in bests))]


def _best_pair(a: Mapping[str, object], b: Mapping[str, object], attributes: tuple[str, ...],
               score_fn: Callable) -> Best | None:
    """The best-scoring pair of the two records' values for a condition, as (score, value a,
    value b); None when either has no value."""
    if len(attributes) == 1:  # the common case: one value on each side
        va, vb = a.get(attributes[0]), b.get(attributes[0])
        return None if va is None or vb is None else (score_fn(va, vb), va, vb)
    pairs = [(score_fn(va, vb), va, vb) for va in _values(a, attributes) for vb in _values(b, attributes)]
    return max(pairs, key=lambda p: p[0]) if pairs else None


def _key(shard: str, value: object, key: str) -> str:
    """One value's key: an exact key on a text is the value itself (f"{value}" is the same
    str), others are interned."""
    return key if key is value and not shard else sys.intern(f"{shard}{key}")


def _share_specific_key(block: int, ka: RuleKeys, kb: RuleKeys, is_generic: IsGeneric) -> bool:
    if ka is None or kb is None:
        return False
    if isinstance(ka, str) and isinstance(kb, str):
        return ka == kb and not is_generic(block, ka)
    shared = {ka} if isinstance(ka, str) else set(ka)
    shared &= {kb} if isinstance(kb, str) else set(kb)
    return any(not is_generic(block, k) for k in shared)


def _values(attrs: Mapping[str, object], attributes: tuple[str, ...]) -> tuple:
    """The record's values for a condition; a multi-attribute condition takes any of them."""
    if len(attributes) == 1:
        value = attrs.get(attributes[0])
        return () if value is None else (value,)
    return tuple(v for v in (attrs.get(a) for a in attributes) if v is not None)
