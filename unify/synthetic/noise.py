"""Small, pure variation functions: how a true value gets mangled by one system."""

from __future__ import annotations

from functools import lru_cache
from random import Random

from anyascii import anyascii
from nicknames import NickNamer

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_KEYBOARD_ROWS):
    for _i, _ch in enumerate(_row):
        near = _row[max(0, _i - 1):_i] + _row[_i + 1:_i + 2]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_KEYBOARD_ROWS):
                near += _KEYBOARD_ROWS[_other][max(0, _i - 1):_i + 1]
        _NEIGHBOURS[_ch] = near

# Nicknames people actually use; the package also lists archaic ones (Robert -> Dobbin).
_EVERYDAY_NICKNAMES = frozenset(
    "bill billy will willy bob bobby rob robbie dick rick ricky jim jimmy jamie mike mikey "
    "dave davy joe joey tom tommy tony chris matt dan danny andy drew steve ken kenny ron ronnie "
    "don donnie sam sammy ben benny nick alex al ed eddie ted greg jeff jerry larry pat patty "
    "liz lizzy beth betty betsy kate katie kathy cathy sue susie jen jenny jenn meg maggie peggy "
    "becky abby debbie deb sandy cindy mandy pam barb vicky nikki nancy sally molly jess jessie "
    "tina trish kim kimmy val vince fred freddy charlie chuck hank harry jack johnny".split()
)
_NICKNAMER = NickNamer()


@lru_cache(maxsize=4096)
def _nickname_options(first: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    options = sorted(n for n in _NICKNAMER.nicknames_of(first) if len(n) >= 2)
    prefix = first[:2].lower()
    weights = tuple(6 if n in _EVERYDAY_NICKNAMES else 3 if n.startswith(prefix) else 1 for n in options)
    return tuple(n.title() for n in options), weights


def nickname(rng: Random, first: str) -> str | None:
    """A nickname for `first` (William -> Bill), or None when the name has none."""
    options, weights = _nickname_options(first)
    if not options:
        return None
    return rng.choices(options, weights)[0]


def typo(rng: Random, word: str) -> str:
    """One keyboard-plausible edit (substitute, drop, double or transpose), never a no-op."""
    if len(word) < 3:
        return word + word[-1]
    # Typos rarely hit the first letter, which people check.
    i = 1 + int(rng.random() * (len(word) - 1))
    ch = word[i]
    kind = rng.random()
    if kind < 0.25 and i < len(word) - 1 and word[i + 1] != ch:
        return word[:i] + word[i + 1] + ch + word[i + 2:]
    if kind < 0.5:
        return word[:i] + word[i + 1:]
    if kind < 0.7:
        return word[:i] + ch + word[i:]
    near = _NEIGHBOURS.get(ch.lower())
    if not near:
        return word[:i] + word[i + 1:]
    sub = near[int(rng.random() * len(near))]
    return word[:i] + (sub.upper() if ch.isupper() else sub) + word[i + 1:]


def fold(text: str) -> str:
    """ASCII transliteration, as done by systems that cannot store accents (Zoë -> Zoe)."""
    return anyascii(text)


def cased(text: str, style: int) -> str:
    """0: as entered (title-ish), 1: UPPER, 2: lower."""
    return text if style == 0 else text.upper() if style == 1 else text.lower()


def format_phone(digits: str, style: int) -> str:
    """Render 10 US digits in one of the formats seen across retail systems."""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    if style == 0:
        return f"({a}) {b}-{c}"
    if style == 1:
        return f"{a}.{b}.{c}"
    if style == 2:
        return f"+1 {a} {b} {c}"
    if style == 3:
        return digits
    if style == 4:
        return f"{a}-{b}-{c}"
    if style == 5:
        return f"+1{digits}"
    return f"1-{a}-{b}-{c}"


def transpose_digits(rng: Random, digits: str) -> str:
    i = 3 + int(rng.random() * 6)
    if digits[i] == digits[i + 1]:
        i = 3 if i > 3 else 4
    return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]


def email_alias(rng: Random, email: str) -> str:
    """Same mailbox, different spelling: gmail dots, +tags, upper case."""
    local, domain = email.split("@", 1)
    kind = rng.random()
    if domain == "gmail.com" and kind < 0.4:
        if "." in local:
            local = local.replace(".", "")
        else:
            cut = 1 + int(rng.random() * (len(local) - 1))
            local = local[:cut] + "." + local[cut:]
        if rng.random() < 0.2:
            domain = "googlemail.com"
    elif kind < 0.7:
        local = f"{local}+{rng.choice(('shop', 'promo', 'news', 'rewards', 'store'))}"
    else:
        return email.upper() if rng.random() < 0.5 else email[0].upper() + email[1:]
    return f"{local}@{domain}"


def swap_day_month(ymd: tuple[int, int, int]) -> tuple[int, int, int]:
    y, m, d = ymd
    return (y, d, m) if d <= 12 and d != m else ymd
