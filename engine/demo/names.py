"""Who the demo people are: word lists, places, phone spellings (no real people or domains).

`draw_customer` and `draw_person` build a person (names, e-mail, phone, address,
household) as a pure function of a hash key, so any customer can be drawn again by
index, as the bought list does for the customers it shares with the own data.
Postal code templates use ``#`` for a digit and ``@`` for a letter; area codes are
a city's landline prefixes (empty in mobile-only countries). Weighted lists repeat
each value by its weight, so one random index picks one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import cache
from itertools import product
from statistics import NormalDist
from typing import Final, NamedTuple, TypeVar

T = TypeVar("T")


class City(NamedTuple):
    """A city with what an address and a landline number there look like."""

    name: str
    region: str
    postal: tuple[str, ...]  # templates, one picked per address
    timezone: str
    areas: tuple[str, ...]  # landline area codes; ("",) where mobile numbers are used


class Country(NamedTuple):
    """A country: its share of customers, names, language and address style."""

    code: str
    weight: int  # percent of customers
    culture: str  # key into FIRST_NAMES / LAST_NAMES
    language: str
    cities: tuple[City, ...]
    streets: tuple[str, ...]  # "{n}" is the house number
    line2: tuple[str, ...]  # "{a}"/"{b}" are small numbers, "{c}" a letter


def weighted(weights: dict[str, int]) -> tuple[str, ...]:
    """Each value repeated by its weight."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


_SH, _LA, _NY = "Asia/Shanghai", "America/Los_Angeles", "America/New_York"
_BER, _LON, _MAD = "Europe/Berlin", "Europe/London", "Europe/Madrid"
# fmt: off
COUNTRIES: Final = (
    Country(
        "CN", 72, "zh", "zh",
        (
            City("Shanghai", "Shanghai", ("200###",), _SH, ("",)),
            City("Beijing", "Beijing", ("100###",), _SH, ("",)),
            City("Shenzhen", "Guangdong", ("518###",), _SH, ("",)),
            City("Guangzhou", "Guangdong", ("510###",), _SH, ("",)),
            City("Hangzhou", "Zhejiang", ("310###",), _SH, ("",)),
            City("Chengdu", "Sichuan", ("610###",), _SH, ("",)),
        ),
        tuple(f"{{n}} {street}" for street in (
            "Nanjing Road", "Huaihai Road", "Renmin Road", "Zhongshan Road", "Jianguo Road",
            "Century Avenue", "Xinhua Road", "Jiefang Road",
        )),
        ("Room {a}0{b}", "Building {b}, Room {a}0{b}", "Unit {b}, Floor {a}"),
    ),
    Country(
        "US", 10, "en", "en",
        (
            City("San Francisco", "CA", ("941##",), _LA, ("415", "628")),
            City("Los Angeles", "CA", ("900##",), _LA, ("213", "310", "323")),
            City("Seattle", "WA", ("981##",), _LA, ("206",)),
            City("New York", "NY", ("100##",), _NY, ("212", "646", "917")),
            City("Brooklyn", "NY", ("112##",), _NY, ("718",)),
        ),
        tuple(f"{{n}} {street}" for street in (
            "Market St", "Main St", "Oak Ave", "Broadway", "Maple Dr", "Lincoln Blvd", "Pine St",
        )),
        ("Apt {a}{c}", "Suite {a}0{b}", "Unit {b}"),
    ),
    Country(
        "DE", 7, "de", "de",
        (
            City("Berlin", "Berlin", ("10###", "12###", "13###"), _BER, ("30",)),
            City("Hamburg", "Hamburg", ("20###", "22###"), _BER, ("40",)),
            City("München", "Bayern", ("80###", "81###"), _BER, ("89",)),
        ),
        tuple(f"{street} {{n}}" for street in (
            "Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee",
            "Am Markt", "Friedrichstraße",
        )),
        ("{a}. OG", "Hinterhaus", "{a}. OG links", "Wohnung {b}"),
    ),
    Country(
        "GB", 6, "en", "en",
        (
            City("London", "England", ("SW1A #@@", "EC1A #@@", "N1 #@@", "SE1 #@@"), _LON, ("20",)),
            City("Manchester", "England", ("M1 #@@", "M4 #@@", "M20 #@@"), _LON, ("161",)),
        ),
        tuple(f"{{n}} {street}" for street in (
            "High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue",
            "King's Road",
        )),
        ("Flat {a}", "Flat {a}{c}", "Unit {b}"),
    ),
    Country(
        "ES", 5, "es", "es",
        (
            City("Madrid", "Madrid", ("280##",), _MAD, ("",)),
            City("Barcelona", "Cataluña", ("080##",), _MAD, ("",)),
            City("Valencia", "Comunidad Valenciana", ("460##",), _MAD, ("",)),
            City("Sevilla", "Andalucía", ("410##",), _MAD, ("",)),
        ),
        tuple(f"{street} {{n}}" for street in (
            "Calle Mayor", "Gran Vía", "Calle de Alcalá", "Avenida de la Constitución",
            "Calle Real", "Paseo del Prado",
        )),
        ("{a}º {c}", "{a}º izq.", "{a}º dcha."),
    ),
)
# fmt: on
COUNTRY_TABLE: Final = weighted({country.code: country.weight for country in COUNTRIES})
COUNTRY_BY_CODE: Final = {country.code: country for country in COUNTRIES}


def _given(gender: str, *names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, gender) for name in names)


# (first name, gender) and surnames per culture
FIRST_NAMES: Final = {
    "zh": _given("m", "Wei", "Lei", "Jun", "Yong", "Jie", "Tao", "Qiang", "Hao")
    + _given("f", "Fang", "Jing", "Min", "Na", "Xiuying", "Yan", "Hui", "Ting"),
    "en": _given("m", "James", "John", "Michael", "David", "Daniel", "Thomas")
    + _given("f", "Emma", "Olivia", "Sarah", "Emily", "Jessica", "Hannah"),
    "de": _given("m", "Lukas", "Jonas", "Felix", "Jürgen", "Stefan", "Maximilian")
    + _given("f", "Anna", "Lena", "Sophie", "Julia", "Sabine", "Jana"),
    "es": _given("m", "José", "Javier", "Carlos", "Pablo", "Alejandro", "Manuel")
    + _given("f", "María", "Lucía", "Carmen", "Sofía", "Elena", "Paula"),
}
LAST_NAMES: Final = {
    "zh": ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu"),
    "en": ("Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Davis", "Clark", "Walker"),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Schäfer"),
    "es": ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez"),
}
CULTURES: Final = tuple(FIRST_NAMES)
_ASCII: Final = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u"}
)
# each name as it is spelt inside e-mail addresses: lower-case ASCII
EMAIL_NAMES: Final = {
    name: name.lower().translate(_ASCII)
    for name in [name for names in LAST_NAMES.values() for name in names]
    + [name for names in FIRST_NAMES.values() for name, _ in names]
}
DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example.com")
CN_MOBILE_PREFIXES: Final = ("138", "139", "135", "136", "150", "158", "177", "186", "188")
POSTAL_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"  # letters allowed in British inward codes
_MULT: Final = 2_654_435_761  # coprime to 10: serial -> serial * _MULT mod 10**k is one-to-one

# fmt: off
OCCUPATIONS: Final = weighted({
    "": 30, "engineer": 8, "teacher": 6, "nurse": 5, "designer": 4, "student": 10,
    "retired": 12, "manager": 9, "sales": 8, "self_employed": 8,
})
# fmt: on
INCOME_BANDS: Final = weighted({"low": 20, "middle": 35, "upper_middle": 20, "high": 10, "": 15})
COMPANY_WORDS: Final = ("Bluepeak", "Northwind", "Sunrise", "Evergreen", "Silverline", "Harbor")
COMPANY_SUFFIXES: Final = {"CN": "Co., Ltd.", "US": "Inc.", "DE": "GmbH", "GB": "Ltd", "ES": "S.L."}
INDUSTRIES: Final = ("retail", "manufacturing", "software", "healthcare", "logistics", "finance")
COMPANY_SIZES: Final = weighted({"1-9": 50, "10-49": 30, "50-249": 15, "250+": 5})
CONTACT_ROLES: Final = ("owner", "purchasing", "marketing", "finance", "operations", "it")
LOYALTY_TIERS: Final = weighted({"": 70, "silver": 20, "gold": 10})
CONSENT_EMAIL: Final = weighted({"yes": 80, "no": 5, "": 15})
CONSENT_SMS: Final = weighted({"yes": 40, "no": 10, "": 50})
CONSENT_MAIL: Final = weighted({"yes": 60, "no": 5, "": 35})
CONSENT_CALL: Final = weighted({"yes": 20, "no": 10, "": 70})

CHANNELS: Final = weighted({"web": 45, "app": 25, "store": 22, "phone": 8})
CATEGORIES: Final = ("electronics", "home", "fashion", "beauty", "sports", "books", "toys", "food")
BRANDS: Final = ("Aurora", "Borealis", "Cobalt", "Dune", "Ember", "Fjord")
QUANTITIES: Final = weighted({"1": 60, "2": 22, "3": 10, "4": 5, "5": 3})
AMOUNTS: Final = tuple(  # 1024 quantiles of a log-normal with median 60, clipped to 5..2000
    f"{min(2000.0, max(5.0, math.exp(NormalDist(4.1, 0.9).inv_cdf((k + 0.5) / 1024)))):.2f}"
    for k in range(1024)
)

# Each bad row is invalid in exactly one of these ways, in rotation.
BAD_CUSTOMER_VALUES: Final = (
    ("email", "not-an-email"),
    ("phone", "12345"),
    ("birth_date", "1985-13-45"),
    ("timezone", "Mars/Olympus"),
    ("updated_at", "yesterday"),
)
BAD_ORDER_VALUES: Final = (
    ("amount", "abc"),
    ("ordered_at", "2025-02-30T10:00:00Z"),
    ("customer_id", "C9999999X"),
    ("quantity", "0"),
)


@cache
def street_lines(country: str) -> tuple[str, ...]:
    """Every first address line of a country (streets times house numbers 1-199)."""
    streets = COUNTRY_BY_CODE[country].streets
    return tuple(street.format(n=number) for street in streets for number in range(1, 200))


@cache
def second_lines(country: str) -> tuple[str, ...]:
    """Second address lines of a country, four in five of them empty."""
    lines = tuple(
        line.format(a=a, b=b, c=c)
        for line in COUNTRY_BY_CODE[country].line2
        for a, b, c in product(range(1, 10), range(1, 5), "ABCD")
    )
    return lines + ("",) * (4 * len(lines))


@cache
def postal_codes(template: str) -> tuple[str, ...]:
    """Every code a postal template allows."""
    choices = ("0123456789" if c == "#" else POSTAL_LETTERS if c == "@" else c for c in template)
    return tuple("".join(chars) for chars in product(*choices))


class Address(NamedTuple):
    line1: str
    line2: str
    postal: str
    city: City
    area: str  # landline area code, '' in mobile-only countries


class Person(NamedTuple):
    first: str
    last: str
    gender: str
    email: str
    phone: str
    country: Country
    address: Address
    household: str


class Bits:
    """Draws taken from one 256-bit hash, so an identity is a pure function of its key."""

    __slots__ = ("_value",)

    def __init__(self, key: str) -> None:
        self._value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=32).digest(), "big")

    def pick(self, options: Sequence[T]) -> T:
        self._value, index = divmod(self._value, len(options))
        return options[index]


def draw_customer(seed: int, i: int, previous: Person | None = None) -> Person:
    """Own customer `i`; about 15 % share the household (and address) of customer i - 1."""
    bits = Bits(f"{seed}:customer:{i}")
    head = None
    if i > 0 and bits.pick(range(100)) < 15:
        head = previous if previous is not None else draw_customer(seed, i - 1)
    return draw_person(bits, seed, i, str(i + 1), head)


def draw_person(
    bits: Bits, seed: int, serial: int, label: str, head: Person | None = None
) -> Person:
    """A person drawn from `bits`; `serial` makes the phone unique and `label` the e-mail."""
    pick = bits.pick
    country = head.country if head else COUNTRY_BY_CODE[pick(COUNTRY_TABLE)]
    culture = country.culture if pick(range(20)) else pick(CULTURES)
    first, gender = pick(FIRST_NAMES[culture])
    last = head.last if head and pick(range(4)) else pick(LAST_NAMES[culture])
    a, b = (last, first) if culture == "zh" else (first, last)
    email = f"{EMAIL_NAMES[a]}.{EMAIL_NAMES[b]}.{label}@{pick(DOMAINS)}"
    if head:
        address, household = head.address, head.household
    else:
        address, household = draw_address(bits, country), f"H{serial + 1:07d}"
    phone = phone_number(bits, country.code, address.area, serial * _MULT + seed)
    return Person(first, last, gender, email, phone, country, address, household)


def draw_address(bits: Bits, country: Country) -> Address:
    pick = bits.pick
    city = pick(country.cities)
    line1, line2 = pick(street_lines(country.code)), pick(second_lines(country.code))
    return Address(line1, line2, pick(postal_codes(pick(city.postal))), city, pick(city.areas))


def phone_number(bits: Bits, country: str, area: str, code: int) -> str:
    """A valid number in one of the country's usual spellings; `code` gives the digits."""
    pick, tail = bits.pick, f"{code % 100_000_000:08d}"
    if country == "CN":  # mobile, often without +86: the importer's default region is CN
        prefix, style = pick(CN_MOBILE_PREFIXES), pick("aaaaabbbbc")
        if style == "a":
            return f"+86 {prefix} {tail[:4]} {tail[4:]}"
        return f"{prefix}-{tail[:4]}-{tail[4:]}" if style == "b" else prefix + tail
    if country == "US":  # exchanges 200-999 but N11 service codes: unique up to 8M numbers
        exchange = 200 + (code // 10_000) % 800
        exchange += 1 if exchange % 100 == 11 else 0
        if pick("aaab") == "a":
            return f"+1 ({area}) {exchange}-{tail[4:]}"
        return f"+1 {area}-{exchange}-{tail[4:]}"
    if country == "ES":  # mobile
        return f"+34 6{tail[:2]} {tail[2:5]} {tail[5:]}"
    if country == "DE":
        return f"+49 {area} {pick('23456789')}{tail[1:]}"
    if area == "20":  # London
        return f"+44 20 {pick('378')}{tail[1:4]} {tail[4:]}"
    return f"+44 {area} {pick('23456789')}{tail[2:4]} {tail[4:]}"


def other_spelling(number: str) -> str:
    """The same number written another way: spaced -> E.164, CN national <-> E.164."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not number.startswith("+"):
        return "+86" + digits
    return "+" + digits if " " in number else f"{digits[2:5]}-{digits[5:9]}-{digits[9:]}"


def recase(email: str, upper: bool) -> str:
    """The same address in other letter case: all capitals, or Capitalised.Parts@Domain."""
    local, _, domain = email.partition("@")
    return email.upper() if upper else f"{local.title()}@{domain.capitalize()}"
