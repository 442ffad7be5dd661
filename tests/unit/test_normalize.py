import phonenumbers
import pytest
from hypothesis import given, settings, strategies as st

from unify.errors import InvalidRecord
from unify.normalize import compile_chain, country, email, gender, name, phone, postal_code, text


@pytest.mark.parametrize("raw,expected", [
    ("  José   GARCÍA ", "jose garcia"), ("Zoë", "zoe"), ("", None), ("   ", None),
])
def test_text_folds_unicode_case_and_space(raw, expected):
    assert text(raw) == expected


def test_name_drops_punctuation_but_keeps_hyphen_and_apostrophe():
    assert name("O'Brien-Smith, Jr.") == "o'brien-smith jr"
    assert name("...") is None


@pytest.mark.parametrize("raw,expected", [
    ("John.Smith+promo@GMail.com", "johnsmith@gmail.com"),
    ("j.smith@googlemail.com", "jsmith@gmail.com"),
    ("a.b+tag@example.org", "a.b+tag@example.org"),
    ("not-an-email", None), ("@x.com", None),
])
def test_email_canonical_form(raw, expected):
    assert email(raw) == expected


@pytest.mark.parametrize("raw", ["(415) 555-0134", "415.555.0134", "+1 415 555 0134", "4155550134"])
def test_phone_formats_agree_on_e164(raw):
    assert phone(raw, "US") == "+14155550134"


def _by_libphonenumber(raw: str, region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) \
        if phonenumbers.is_possible_number(parsed) else None


DIGITS = st.text("0123456789", min_size=1, max_size=5)
SEPARATOR = st.sampled_from(["", " ", "-", ".", "  ", " - "])
PREFIX = st.sampled_from(["", "1", "+1", "+", "1 ", "+1 ", "11", "0", "01", "+44 ", "2"])
SHAPED = st.builds(lambda pre, a, s1, b, s2, c, paren, pad: (
    pad + pre + (f"({a})" if paren else a) + s1 + b + s2 + c + pad),
    PREFIX, st.text("0123456789", min_size=2, max_size=4), SEPARATOR, DIGITS, SEPARATOR, DIGITS,
    st.booleans(), st.sampled_from(["", " "]))
REGION = st.sampled_from(["US", "CA", "PR", "GB", "DE"])


@settings(max_examples=3000)
@given(st.one_of(SHAPED, st.text("0123456789 ()+-.x", max_size=20)), REGION)
def test_phone_matches_libphonenumber(raw, region):
    """The fast path for North American shapes gives libphonenumber's answer, for any region."""
    assert phone(raw, region) == _by_libphonenumber(raw, region)


def test_phone_rejects_garbage():
    assert phone("call me", "US") is None
    assert phone("12", "US") is None


def test_dates_in_several_formats_and_orders():
    assert compile_chain(["date:dmy"])("03/11/1985") == "1985-11-03"
    assert compile_chain(["date:mdy"])("11/03/1985") == "1985-11-03"
    assert compile_chain(["date:ymd"])("1985-11-03") == "1985-11-03"
    with pytest.raises(InvalidRecord, match="unparseable date"):
        compile_chain(["date:ymd"])("not a date")


def test_postal_country_gender():
    assert postal_code("94110-1234") == "94110"
    assert postal_code("sw1a 1aa", "GB") == "SW1A1AA"
    assert country("USA") == "US" and country("United States") == "US"
    assert gender("female") == "F" and gender("?") is None


def test_chain_rejects_oversized_and_nested_values():
    chain = compile_chain(["name"])
    with pytest.raises(InvalidRecord, match="exceeds"):
        chain("x" * 10_000)
    with pytest.raises(InvalidRecord, match="scalar"):
        chain({"a": 1})
    assert chain(None) is None


def test_a_chain_remembers_values_without_changing_its_answers():
    chain, fresh = compile_chain(["text", "name"]), lambda v: compile_chain(["text", "name"])(v)
    values = ["  Ann-Marie  O'Neil ", "ANN-MARIE O'NEIL", "", "Zoë", "  Ann-Marie  O'Neil ", 42, "Zoë"]
    assert [chain(v) for v in values] == [fresh(v) for v in values]
    dates = compile_chain(["date:ymd"])
    for _ in range(2):  # a value that failed fails again: failures are not remembered as None
        with pytest.raises(InvalidRecord, match="unparseable date"):
            dates("not a date")
