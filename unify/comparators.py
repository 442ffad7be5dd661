"""Comparators: score two normalized values in [0, 1]; some also give a blocking key.

A comparator that gives a key (exact, phonetic) can anchor a rule's block; the others only
score pairs that a block already brought together.

>>> score("jaro_winkler", "jonathan", "jonathon") > 0.9
True
>>> score("nickname", "bill", "william")
1.0
>>> score("date", "1985-11-03", "1985-03-11")
0.9
>>> score("number", "100", "95")
0.95
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jellyfish
from nicknames import NickNamer
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_set_ratio

from unify.errors import SpecError

_nicknamer = NickNamer()


@lru_cache(maxsize=65536)
def _name_forms(first: str) -> frozenset[str]:
    """A first name with its nickname and canonical forms (from the `nicknames` table)."""
    return frozenset({first}) | _nicknamer.nicknames_of(first) | _nicknamer.canonicals_of(first)


def _exact(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


def _nickname(a: str, b: str) -> float:
    if a == b or b in _name_forms(a) or a in _name_forms(b):
        return 1.0
    return JaroWinkler.similarity(a, b)


def _initial(a: str, b: str) -> float:
    """An initial matches the name it abbreviates ("j" ~ "john")."""
    if a == b:
        return 1.0
    if (len(a) == 1 or len(b) == 1) and a[:1] == b[:1]:
        return 0.9
    return JaroWinkler.similarity(a, b)


def _number(a: str, b: str) -> float:
    """Numeric closeness: 1 - relative difference (0 when either is not a number)."""
    try:
        x, y = float(a), float(b)
    except ValueError:
        return 0.0
    if x == y:
        return 1.0
    return max(0.0, 1.0 - abs(x - y) / max(abs(x), abs(y)))


def _date(a: str, b: str) -> float:
    """ISO dates: equal 1.0; day and month swapped 0.9; one field off by a digit 0.7."""
    if a == b:
        return 1.0
    ya, ma, da = a.split("-") if a.count("-") == 2 else (a, "", "")
    yb, mb, db = b.split("-") if b.count("-") == 2 else (b, "", "")
    if ya == yb and ma == db and da == mb:
        return 0.9
    if Levenshtein.distance(a, b) == 1:
        return 0.7
    return 0.0


@lru_cache(maxsize=65536)
def _phonetic_key(value: str) -> str:
    return jellyfish.metaphone(value)


def _phonetic(a: str, b: str) -> float:
    return 1.0 if _phonetic_key(a) == _phonetic_key(b) else 0.0


@dataclass(frozen=True)
class Comparator:
    name: str
    score: Callable[[str, str], float]
    key: Callable[[str], str] | None = None


COMPARATORS: dict[str, Comparator] = {
    c.name: c
    for c in (
        Comparator("exact", _exact, key=lambda v: v),
        Comparator("phonetic", _phonetic, key=_phonetic_key),
        Comparator("jaro_winkler", JaroWinkler.similarity),
        Comparator("levenshtein", Levenshtein.normalized_similarity),
        Comparator("token_set", lambda a, b: token_set_ratio(a, b) / 100.0),
        Comparator("nickname", _nickname),
        Comparator("initial", _initial),
        Comparator("date", _date),
        Comparator("number", _number),
    )
}


def comparator(name: str) -> Comparator:
    found = COMPARATORS.get(name)
    if found is None:
        raise SpecError(f"unknown comparator {name!r}; use one of {', '.join(sorted(COMPARATORS))}")
    return found


def score(name: str, a: str, b: str) -> float:
    return comparator(name).score(a, b)
