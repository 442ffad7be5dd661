"""Name, place and e-mail vocabularies, with fast weighted sampling.

Names come from Faker's locale tables (frequency-weighted for en_US), read as
plain data: no Faker instance, so sampling stays fast and fully seed-driven.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from random import Random

from faker.providers.person.en_US import Provider as _EnUS
from faker.providers.person.es_MX import Provider as _EsMX


class Weighted:
    """Sample items by weight with one random draw (bisect over cumulative weights)."""

    __slots__ = ("items", "_cum", "_total")

    def __init__(self, items: Mapping[str, float] | Sequence):
        if isinstance(items, Mapping):
            self.items, weights = tuple(items), tuple(items.values())
        else:
            self.items, weights = tuple(items), (1.0,) * len(items)
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: Random):
        return self.items[bisect_right(self._cum, rng.random() * self._total)]


def _tidy(names) -> dict[str, float]:
    # Faker's es_MX has entries like "Alta  Gracia"; collapse whitespace.
    if isinstance(names, Mapping):
        return {" ".join(n.split()): w for n, w in names.items()}
    return {" ".join(n.split()): 1.0 for n in names}


US_FIRST = {"F": Weighted(_tidy(_EnUS.first_names_female)), "M": Weighted(_tidy(_EnUS.first_names_male))}
US_LAST = Weighted(_tidy(_EnUS.last_names))
MX_FIRST = {"F": Weighted(_tidy(_EsMX.first_names_female)), "M": Weighted(_tidy(_EsMX.first_names_male))}
MX_LAST = Weighted(_tidy(_EsMX.last_names))

# Names whose accents systems tend to mangle.
ACCENTED_FIRST = {
    "F": Weighted(("Zoë", "Chloë", "Renée", "Anaïs", "Amélie", "Léa", "Hélène", "Agnès", "Inés", "Mónica", "Björk", "Åsa")),
    "M": Weighted(("José", "Björn", "François", "Jürgen", "Søren", "Raúl", "Héctor", "André", "Noël", "Ramón", "Jörg", "Zoltán")),
}
ACCENTED_LAST = Weighted(
    ("Müller", "Núñez", "Peña", "Schröder", "Gómez", "Ibáñez", "Lefèvre", "Østergaard",
     "Dvořák", "Šimić", "Jiménez", "Martínez", "Côté", "Gauthier-Léger", "O'Brien", "Nguyễn")
)
# Recur across many distinct people so a matcher cannot link on name alone.
COMMON_FULL_NAMES = Weighted(
    (("John", "Smith", "M"), ("Maria", "Garcia", "F"), ("James", "Johnson", "M"), ("Michael", "Brown", "M"),
     ("Mary", "Williams", "F"), ("David", "Jones", "M"), ("Jennifer", "Miller", "F"), ("Robert", "Davis", "M"),
     ("Jose", "Rodriguez", "M"), ("Linda", "Martinez", "F"))
)

EMAIL_DOMAINS = Weighted(
    {"gmail.com": 35, "yahoo.com": 14, "hotmail.com": 9, "outlook.com": 9, "icloud.com": 8, "aol.com": 5,
     "comcast.net": 4, "live.com": 4, "att.net": 3, "msn.com": 3, "protonmail.com": 2, "verizon.net": 2}
)
JUNK_EMAILS = ("test@example.com", "noemail@none.com", "none@none.com", "na@na.com")
JUNK_PHONES = ("0000000000", "5555555555", "9999999999", "1234567890")

# (city, state, zip3, area codes, relative weight)
CITIES = (
    ("New York", "NY", "100", ("212", "646", "917"), 84), ("Brooklyn", "NY", "112", ("718", "347"), 26),
    ("Los Angeles", "CA", "900", ("213", "310", "323"), 39), ("San Francisco", "CA", "941", ("415", "628"), 9),
    ("San Diego", "CA", "921", ("619", "858"), 14), ("San Jose", "CA", "951", ("408", "669"), 10),
    ("Sacramento", "CA", "958", ("916",), 5), ("Chicago", "IL", "606", ("312", "773"), 27),
    ("Houston", "TX", "770", ("713", "281", "832"), 23), ("Dallas", "TX", "752", ("214", "469", "972"), 13),
    ("Austin", "TX", "787", ("512", "737"), 10), ("San Antonio", "TX", "782", ("210",), 15),
    ("Phoenix", "AZ", "850", ("602", "480"), 16), ("Tucson", "AZ", "857", ("520",), 5),
    ("Philadelphia", "PA", "191", ("215", "267"), 16), ("Pittsburgh", "PA", "152", ("412",), 3),
    ("Seattle", "WA", "981", ("206",), 7), ("Portland", "OR", "972", ("503", "971"), 6),
    ("Denver", "CO", "802", ("303", "720"), 7), ("Miami", "FL", "331", ("305", "786"), 5),
    ("Orlando", "FL", "328", ("407",), 3), ("Tampa", "FL", "336", ("813",), 4),
    ("Atlanta", "GA", "303", ("404", "678"), 5), ("Boston", "MA", "021", ("617", "857"), 7),
    ("Detroit", "MI", "482", ("313",), 6), ("Minneapolis", "MN", "554", ("612",), 4),
    ("St. Louis", "MO", "631", ("314",), 3), ("Kansas City", "MO", "641", ("816",), 5),
    ("Nashville", "TN", "372", ("615",), 7), ("Charlotte", "NC", "282", ("704", "980"), 9),
    ("Raleigh", "NC", "276", ("919",), 5), ("Columbus", "OH", "432", ("614",), 9),
    ("Cleveland", "OH", "441", ("216",), 4), ("Indianapolis", "IN", "462", ("317",), 9),
    ("Las Vegas", "NV", "891", ("702",), 6), ("Salt Lake City", "UT", "841", ("801",), 2),
    ("Albuquerque", "NM", "871", ("505",), 6), ("Baltimore", "MD", "212", ("410", "443"), 6),
    ("Washington", "DC", "200", ("202",), 7), ("Newark", "NJ", "071", ("973",), 3),
    ("Milwaukee", "WI", "532", ("414",), 6), ("New Orleans", "LA", "701", ("504",), 4),
)
CITY_PICKER = Weighted({i: c[4] for i, c in enumerate(CITIES)})
CITY_ALIASES = {
    "New York": ("New York City", "NYC"), "St. Louis": ("Saint Louis", "St Louis"),
    "Washington": ("Washington DC",), "Brooklyn": ("New York",),
}
STATE_NAMES = {
    "NY": "New York", "CA": "California", "IL": "Illinois", "TX": "Texas", "AZ": "Arizona",
    "PA": "Pennsylvania", "WA": "Washington", "OR": "Oregon", "CO": "Colorado", "FL": "Florida",
    "GA": "Georgia", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MO": "Missouri",
    "TN": "Tennessee", "NC": "North Carolina", "OH": "Ohio", "IN": "Indiana", "NV": "Nevada",
    "UT": "Utah", "NM": "New Mexico", "MD": "Maryland", "DC": "District of Columbia",
    "NJ": "New Jersey", "WI": "Wisconsin", "LA": "Louisiana",
}
STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Walnut",
    "Sunset", "Lincoln", "Jackson", "Church", "Highland", "River", "Willow", "Madison", "Franklin",
    "Jefferson", "Adams", "Spring", "Meadow", "Forest", "Ridge", "Chestnut", "Center", "Mill",
    "Valley", "1st", "2nd", "3rd", "4th", "5th", "Market", "Union", "Hillcrest", "Lakeview", "Dogwood",
)
STREET_SUFFIXES = (
    ("St", "Street"), ("Ave", "Avenue"), ("Rd", "Road"), ("Dr", "Drive"), ("Ln", "Lane"),
    ("Blvd", "Boulevard"), ("Ct", "Court"), ("Pl", "Place"), ("Way", "Way"), ("Ter", "Terrace"),
)


def store_city(store: int) -> int:
    """City index of store S<store+1>: stores are spread over the cities in order."""
    return store % len(CITIES)


def store_id(store: int) -> str:
    return f"S{store + 1:03d}"


def store_phone(store: int) -> str:
    # 555-01xx numbers are reserved as fictional, so no person ever gets one.
    city = CITIES[store_city(store)]
    return f"{city[3][0]}5550{100 + store % 100}"
