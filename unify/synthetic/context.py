"""Values derived once from a WorldSpec and shared by every simulation step."""

from __future__ import annotations

from random import Random

from .spec import WorldSpec
from .timeline import DAY, day_ms
from .vocab import CITIES, store_city

_MASK64 = (1 << 64) - 1

# Random-number streams of one person. TRAITS drives everything the truth
# depends on; DETAILS only how records and baskets look, so truth() can skip it.
TRAITS, DETAILS = 1, 2


def mix(*parts: int) -> int:
    """splitmix64-style hash of integers: independent, platform-stable seeds."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & _MASK64)) * 0xBF58476D1CE4E5B9) & _MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 29
    return h


class Context:
    """Derived, read-only world parameters (kept as plain attributes for speed)."""

    __slots__ = ("spec", "profile", "start_ms", "end_ms", "email_modulus", "email_offset",
                 "phone_offset", "stores_by_city")

    def __init__(self, spec: WorldSpec):
        self.spec = spec
        self.profile = spec.profile
        self.start_ms = day_ms(spec.start)
        self.end_ms = self.start_ms + spec.days * DAY
        # E-mail numbers are a permutation of person indexes, so no two people
        # ever get the same address unless the world says they share one.
        self.email_modulus = 10 ** max(3, len(str(spec.people - 1)))
        self.email_offset = mix(spec.seed, 11) % self.email_modulus
        self.phone_offset = mix(spec.seed, 13)
        by_city: list[list[int]] = [[] for _ in CITIES]
        for store in range(spec.stores):
            by_city[store_city(store)].append(store)
        self.stores_by_city = tuple(tuple(s) for s in by_city)

    def rng(self, index: int, stream: int) -> Random:
        return Random(mix(self.spec.seed, index, stream))
