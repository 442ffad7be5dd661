"""The fast path of name splitting gives exactly nameparser's parts."""
from hypothesis import given, settings, strategies as st
from nameparser import HumanName
from nameparser.config import CONSTANTS

from unify.names import name_parts

PLAIN = ["mary", "Ann", "JOHN", "José", "Anne-Marie", "O'Neil", "d'Arcy", "li", "Ng", "Zoë", "smith"]
SPECIAL = ["Dr.", "dr", "jr", "Jr.", "III", "iv", "x", "j.", "J", "de", "van", "la", "y", "&", "and",
           "Ph.D.", "king", "Dean", "st.", "bin", "mc", "e", "O'", "-", "3", "(Bob)", '"Bo"',
           "A.", "v.", "I.", "V.", "É.", "J.J."]
SPECIAL += sorted(CONSTANTS.titles)[:40:4] + sorted(CONSTANTS.prefixes)[:40:4] + sorted(CONSTANTS.suffix_acronyms)[:40:4]
words = st.lists(st.sampled_from(PLAIN + SPECIAL), min_size=1, max_size=5)


@settings(max_examples=3000)
@given(words, st.integers(min_value=0, max_value=5), st.sampled_from([" ", "  ", "\t"]))
def test_name_parts_match_nameparser(ws, comma_at, space):
    """Any mix of plain and special words, in "First Last" or "Last, First" form."""
    if 0 < comma_at < len(ws):
        full = space.join(ws[:comma_at]) + "," + space + space.join(ws[comma_at:])
    else:
        full = space.join(ws)
    parsed = HumanName(full)
    assert name_parts(full) == (parsed.first, parsed.middle, parsed.last)


@given(st.lists(st.sampled_from(PLAIN), min_size=2, max_size=3))
def test_plain_names_split_by_position(ws):
    assert name_parts(" ".join(ws)) == (ws[0], " ".join(ws[1:-1]), ws[-1])


@given(st.sampled_from(PLAIN), st.characters(categories=["Lu", "Ll"]), st.sampled_from(PLAIN))
def test_middle_initials_match_nameparser(first, initial, last):
    for full in (f"{first} {initial}. {last}", f"{last}, {first} {initial}."):
        parsed = HumanName(full)
        assert name_parts(full) == (parsed.first, parsed.middle, parsed.last)
