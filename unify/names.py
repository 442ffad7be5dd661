"""Full names split into first, middle and last name.

nameparser handles titles, suffixes, prefixes ("de la"), conjunctions and "Last, First", at
about 150 µs a name. Most names are plain words, perhaps with a middle initial ("Mary J.
Smith"), which it splits by position; those take a fast path that gives the same parts (a
property test holds it to nameparser).

>>> name_parts("GARCIA, María")
('María', '', 'GARCIA')
>>> name_parts("Mary Ann Smith")
('Mary', 'Ann', 'Smith')
>>> name_parts("Dr. Jean de la Fontaine Jr.")
('Jean', '', 'de la Fontaine')
"""
from __future__ import annotations

import re

from nameparser import HumanName
from nameparser.config import CONSTANTS

_WORD = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")  # letters, with inner hyphens or apostrophes
_SPECIAL = frozenset().union(CONSTANTS.titles, CONSTANTS.suffix_acronyms, CONSTANTS.suffix_not_acronyms,
                             CONSTANTS.prefixes, CONSTANTS.conjunctions)
_ROMAN = CONSTANTS.regexes.roman_numeral
_INITIAL = re.compile(r"^[^\W\d_]\.$")


def _plain(word: str) -> bool:
    return _WORD.match(word) is not None and word.lower() not in _SPECIAL and _ROMAN.match(word) is None


def name_parts(full: str) -> tuple[str, str, str]:
    last, comma, rest = full.partition(",")
    if comma:
        firsts, lasts = rest.split(), last.split()
    else:
        words = full.split()
        firsts, lasts = words[:-1], words[-1:]
    if ("," not in rest and len(lasts) == 1 and 1 <= len(firsts) <= 2 and _plain(firsts[0]) and _plain(lasts[0])
            and all(_plain(w) or _INITIAL.match(w) for w in firsts[1:])):
        return firsts[0], " ".join(firsts[1:]), lasts[0]
    parsed = HumanName(full)
    return parsed.first, parsed.middle, parsed.last
