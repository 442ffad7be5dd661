"""Exponentially decayed sums that add, remove and merge exactly.

A decayed sum at time `s` is `sum(amount_i * 2 ** (-(s - t_i) / half_life))`. It is kept at a
reference time and rescaled when the reference moves. The reference is always a whole number
of half-lives from the epoch, so rescaling is a multiplication by a power of two, and the
scaled amounts are integers (`FRACTION_BITS` below the unit): moving the reference is a bit
shift, and adding, removing and merging are exact. That is what lets orders arrive in any
order, be corrected or cancelled, and records be merged and split without drift: removing
everything that was added leaves exactly zero, which floats would not.
"""
from __future__ import annotations

from collections.abc import Iterator
from math import ldexp
from typing import Self

FRACTION_BITS = 32  # resolution below one unit of amount; 2**-32 cent is far below any rounding
_MANTISSA_BITS = 62  # integers are cut to this many leading bits before becoming floats


def scale(at_ms: int, half_life_ms: int) -> tuple[int, float]:
    """(whole half-lives since the epoch, the factor that turns an amount at `at_ms` into
    units at that reference): one per order, for all its amounts."""
    whole, rest = divmod(at_ms, half_life_ms)
    return whole, 2.0 ** (rest / half_life_ms) * (1 << FRACTION_BITS)


def to_float(units: int, reference: int, as_of_ms: int, half_life_ms: int) -> float:
    """Integer `units` at `reference` half-lives, decayed to `as_of_ms`.

    The integer is cut to its leading bits first, so the same quantity stored at different
    references (a shift apart) gives the identical float.
    """
    return _decayed(units, reference, *_as_of(as_of_ms, half_life_ms))


def _as_of(as_of_ms: int, half_life_ms: int) -> tuple[int, float]:
    """`to_float`'s part that depends on the time only: (whole half-lives, decay of the rest)."""
    whole, rest = divmod(as_of_ms, half_life_ms)
    return whole, 2.0 ** (-rest / half_life_ms)


def _decayed(units: int, reference: int, whole: int, factor: float) -> float:
    cut = max(units.bit_length() - _MANTISSA_BITS, 0)
    return ldexp(float(units >> cut) * factor, cut + reference - whole - FRACTION_BITS)


class DecayedSums:
    """Per-key decayed sums of integer amounts, sharing one reference time.

    `reference` only ever moves back (to the earliest contribution seen), so every stored
    contribution is a left shift of its own units. Keys whose sum returns to zero are dropped.

    >>> sums = DecayedSums(half_life_ms=1000)
    >>> sums.add("shoes", 1000, at_ms=0)      # amounts are integers (cents)
    >>> sums.add("shoes", 1000, at_ms=1000)
    >>> sums.value("shoes", as_of_ms=1000)    # 1000 halved once, plus 1000
    1500.0
    >>> sums.remove("shoes", 1000, at_ms=0)
    >>> sums.value("shoes", as_of_ms=2000)
    500.0
    >>> sums.remove("shoes", 1000, at_ms=1000)
    >>> len(sums), sums.value("shoes", as_of_ms=2000)
    (0, 0.0)
    """

    __slots__ = ("half_life_ms", "reference", "units")

    def __init__(self, half_life_ms: int):
        if half_life_ms <= 0:
            raise ValueError("half_life_ms must be positive")
        self.half_life_ms = half_life_ms
        self.reference: int | None = None
        self.units: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.units)

    def __iter__(self) -> Iterator[str]:
        return iter(self.units)

    def _rebase(self, reference: int) -> None:
        if self.reference is None:
            self.reference = reference
        elif reference < self.reference:
            shift = self.reference - reference
            self.units = {key: value << shift for key, value in self.units.items()}
            self.reference = reference

    def _put(self, key: str, units: int) -> None:
        total = self.units.get(key, 0) + units
        if total:
            self.units[key] = total
        else:
            del self.units[key]

    def add(self, key: str, amount: int, at_ms: int) -> None:
        self.add_scaled(key, amount, scale(at_ms, self.half_life_ms))

    def remove(self, key: str, amount: int, at_ms: int) -> None:
        """Take back an earlier `add` of the same amount at the same time."""
        self.add_scaled(key, -amount, scale(at_ms, self.half_life_ms))

    def add_scaled(self, key: str, amount: int, scaling: tuple[int, float]) -> None:
        """`add` (or, with a negative amount, `remove`) with the time's `scale` given: the
        same units, as an amount times a power of two rounds the same either way."""
        whole, factor = scaling
        units = round(amount * factor)
        if units:
            self._rebase(whole)
            self._put(key, units << (whole - self.reference))

    def __iadd__(self, other: DecayedSums) -> Self:
        if other.half_life_ms != self.half_life_ms:
            raise ValueError("cannot merge sums with different half-lives")
        if other.reference is None:
            return self
        self._rebase(other.reference)
        shift = other.reference - self.reference
        for key, value in other.units.items():
            self._put(key, value << shift)
        return self

    def copy(self) -> DecayedSums:
        clone = DecayedSums(self.half_life_ms)
        clone.reference, clone.units = self.reference, dict(self.units)
        return clone

    def value(self, key: str, as_of_ms: int) -> float:
        units = self.units.get(key)
        if not units:
            return 0.0
        return to_float(units, self.reference, as_of_ms, self.half_life_ms)

    def values(self, as_of_ms: int) -> dict[str, float]:
        """Every key's decayed sum at `as_of_ms`, sorted by key: `value` of each, with the
        decay to that time computed once."""
        at = _as_of(as_of_ms, self.half_life_ms)
        return {key: _decayed(self.units[key], self.reference, *at) for key in sorted(self.units)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DecayedSums):
            return NotImplemented
        if self.half_life_ms != other.half_life_ms or self.units.keys() != other.units.keys():
            return False
        if not self.units:
            return True
        low = min(self.reference, other.reference)
        mine, theirs = self.reference - low, other.reference - low
        return all(value << mine == other.units[key] << theirs for key, value in self.units.items())

    def __repr__(self) -> str:
        return f"DecayedSums(half_life_ms={self.half_life_ms}, keys={sorted(self.units)})"

    @classmethod
    def restored(cls, half_life_ms: int, reference: int | None, units: dict[str, int]) -> DecayedSums:
        """Sums from their parts, as `__getstate__` gives them."""
        sums = cls.__new__(cls)
        sums.half_life_ms, sums.reference, sums.units = half_life_ms, reference, units
        return sums

    def __getstate__(self):
        return self.half_life_ms, self.reference, self.units

    def __setstate__(self, state) -> None:
        self.half_life_ms, self.reference, self.units = state
