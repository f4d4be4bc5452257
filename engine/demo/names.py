"""Built-in word lists for the demo data generator (no real people, no real domains).

Postal code templates use ``#`` for a digit and ``@`` for a letter. Phone area
codes are the landline prefixes of the city; mobile-only countries have none.
"""

from __future__ import annotations

from functools import cache
from itertools import product
from typing import Final, NamedTuple


class City(NamedTuple):
    """A city with what an address and a landline number there look like."""

    name: str
    region: str
    postal: tuple[str, ...]  # templates, one picked per address
    timezone: str
    areas: tuple[str, ...]  # landline area codes; () where mobile numbers are used


class Country(NamedTuple):
    """A country profile: who lives there and how they write addresses."""

    code: str
    weight: int  # percent of customers
    culture: str  # key into FIRST_NAMES / LAST_NAMES
    language: str
    cities: tuple[City, ...]
    streets: tuple[str, ...]  # "{n}" is the house number
    line2: tuple[str, ...]  # "{a}"/"{b}" are small numbers, "{c}" a letter


def weighted(weights: dict[str, int]) -> tuple[str, ...]:
    """A lookup table with each value repeated by its weight (pick with one random index)."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


COUNTRIES: Final = (
    Country(
        "CN",
        72,
        "zh",
        "zh",
        (
            City("Shanghai", "Shanghai", ("200###",), "Asia/Shanghai", ()),
            City("Beijing", "Beijing", ("100###",), "Asia/Shanghai", ()),
            City("Shenzhen", "Guangdong", ("518###",), "Asia/Shanghai", ()),
            City("Guangzhou", "Guangdong", ("510###",), "Asia/Shanghai", ()),
            City("Hangzhou", "Zhejiang", ("310###",), "Asia/Shanghai", ()),
            City("Chengdu", "Sichuan", ("610###",), "Asia/Shanghai", ()),
        ),
        (
            "{n} Nanjing Road",
            "{n} Huaihai Road",
            "{n} Renmin Road",
            "{n} Zhongshan Road",
            "{n} Jianguo Road",
            "{n} Century Avenue",
            "{n} Xinhua Road",
            "{n} Jiefang Road",
        ),
        ("Room {a}0{b}", "Building {b}, Room {a}0{b}", "Unit {b}, Floor {a}"),
    ),
    Country(
        "US",
        10,
        "en",
        "en",
        (
            City("San Francisco", "CA", ("941##",), "America/Los_Angeles", ("415", "628")),
            City("Los Angeles", "CA", ("900##",), "America/Los_Angeles", ("213", "310", "323")),
            City("Seattle", "WA", ("981##",), "America/Los_Angeles", ("206",)),
            City("New York", "NY", ("100##",), "America/New_York", ("212", "646", "917")),
            City("Brooklyn", "NY", ("112##",), "America/New_York", ("718",)),
        ),
        (
            "{n} Market St",
            "{n} Main St",
            "{n} Oak Ave",
            "{n} Broadway",
            "{n} Maple Dr",
            "{n} Lincoln Blvd",
            "{n} Pine St",
        ),
        ("Apt {a}{c}", "Suite {a}0{b}", "Unit {b}"),
    ),
    Country(
        "DE",
        7,
        "de",
        "de",
        (
            City("Berlin", "Berlin", ("10###", "12###", "13###"), "Europe/Berlin", ("30",)),
            City("Hamburg", "Hamburg", ("20###", "22###"), "Europe/Berlin", ("40",)),
            City("München", "Bayern", ("80###", "81###"), "Europe/Berlin", ("89",)),
        ),
        (
            "Hauptstraße {n}",
            "Bahnhofstraße {n}",
            "Gartenweg {n}",
            "Schillerstraße {n}",
            "Lindenallee {n}",
            "Am Markt {n}",
            "Friedrichstraße {n}",
        ),
        ("{a}. OG", "Hinterhaus", "{a}. OG links", "Wohnung {b}"),
    ),
    Country(
        "GB",
        6,
        "en",
        "en",
        (
            City(
                "London",
                "England",
                ("SW1A #@@", "EC1A #@@", "N1 #@@", "SE1 #@@", "W1D #@@"),
                "Europe/London",
                ("20",),
            ),
            City(
                "Manchester", "England", ("M1 #@@", "M4 #@@", "M20 #@@"), "Europe/London", ("161",)
            ),
        ),
        (
            "{n} High Street",
            "{n} Station Road",
            "{n} Church Lane",
            "{n} Victoria Road",
            "{n} Park Avenue",
            "{n} King's Road",
        ),
        ("Flat {a}", "Flat {a}{c}", "Unit {b}"),
    ),
    Country(
        "ES",
        5,
        "es",
        "es",
        (
            City("Madrid", "Madrid", ("280##",), "Europe/Madrid", ()),
            City("Barcelona", "Cataluña", ("080##",), "Europe/Madrid", ()),
            City("Valencia", "Comunidad Valenciana", ("460##",), "Europe/Madrid", ()),
            City("Sevilla", "Andalucía", ("410##",), "Europe/Madrid", ()),
        ),
        (
            "Calle Mayor {n}",
            "Gran Vía {n}",
            "Calle de Alcalá {n}",
            "Avenida de la Constitución {n}",
            "Calle Real {n}",
            "Paseo del Prado {n}",
        ),
        ("{a}º {c}", "{a}º izq.", "{a}º dcha."),
    ),
)
COUNTRY_TABLE: Final = weighted({country.code: country.weight for country in COUNTRIES})
COUNTRY_BY_CODE: Final = {country.code: country for country in COUNTRIES}

# (first name, gender) per culture; surnames per culture.
FIRST_NAMES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "zh": (
        ("Wei", "m"),
        ("Lei", "m"),
        ("Jun", "m"),
        ("Yong", "m"),
        ("Jie", "m"),
        ("Tao", "m"),
        ("Qiang", "m"),
        ("Hao", "m"),
        ("Fang", "f"),
        ("Jing", "f"),
        ("Min", "f"),
        ("Na", "f"),
        ("Xiuying", "f"),
        ("Yan", "f"),
        ("Hui", "f"),
        ("Ting", "f"),
    ),
    "en": (
        ("James", "m"),
        ("John", "m"),
        ("Michael", "m"),
        ("David", "m"),
        ("Daniel", "m"),
        ("Thomas", "m"),
        ("Emma", "f"),
        ("Olivia", "f"),
        ("Sarah", "f"),
        ("Emily", "f"),
        ("Jessica", "f"),
        ("Hannah", "f"),
    ),
    "de": (
        ("Lukas", "m"),
        ("Jonas", "m"),
        ("Felix", "m"),
        ("Jürgen", "m"),
        ("Stefan", "m"),
        ("Maximilian", "m"),
        ("Anna", "f"),
        ("Lena", "f"),
        ("Sophie", "f"),
        ("Julia", "f"),
        ("Sabine", "f"),
        ("Jana", "f"),
    ),
    "es": (
        ("José", "m"),
        ("Javier", "m"),
        ("Carlos", "m"),
        ("Pablo", "m"),
        ("Alejandro", "m"),
        ("Manuel", "m"),
        ("María", "f"),
        ("Lucía", "f"),
        ("Carmen", "f"),
        ("Sofía", "f"),
        ("Elena", "f"),
        ("Paula", "f"),
    ),
}
LAST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "zh": (
        "Wang",
        "Li",
        "Zhang",
        "Liu",
        "Chen",
        "Yang",
        "Huang",
        "Zhao",
        "Wu",
        "Zhou",
        "Xu",
        "Sun",
    ),
    "en": (
        "Smith",
        "Johnson",
        "Brown",
        "Taylor",
        "Miller",
        "Wilson",
        "Davis",
        "Clark",
        "Walker",
        "Evans",
    ),
    "de": (
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schäfer",
        "Koch",
    ),
    "es": (
        "García",
        "Fernández",
        "González",
        "Rodríguez",
        "López",
        "Martínez",
        "Sánchez",
        "Pérez",
        "Gómez",
        "Martín",
    ),
}
CULTURES: Final = tuple(FIRST_NAMES)
POSTAL_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"  # letters used in British inward codes
# Spelling of names inside e-mail addresses (ASCII only).
ASCII: Final = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "á": "a",
        "é": "e",
        "í": "i",
        "ó": "o",
        "ú": "u",
        "ñ": "n",
    }
)
DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example.com")
CN_MOBILE_PREFIXES: Final = ("138", "139", "135", "136", "150", "158", "177", "186", "188")

OCCUPATIONS: Final = weighted(
    {
        "": 30,
        "engineer": 8,
        "teacher": 6,
        "nurse": 5,
        "designer": 4,
        "student": 10,
        "retired": 12,
        "manager": 9,
        "sales": 8,
        "self_employed": 8,
    }
)
INCOME_BANDS: Final = weighted({"low": 20, "middle": 35, "upper_middle": 20, "high": 10, "": 15})
COMPANY_WORDS: Final = (
    "Bluepeak",
    "Northwind",
    "Sunrise",
    "Evergreen",
    "Silverline",
    "Harbor",
    "Lotus",
    "Summit",
    "Redwood",
    "Jade",
)
COMPANY_SUFFIXES: Final = {
    "CN": "Trading Co., Ltd.",
    "US": "Inc.",
    "DE": "GmbH",
    "GB": "Ltd",
    "ES": "S.L.",
}
INDUSTRIES: Final = (
    "retail",
    "manufacturing",
    "software",
    "healthcare",
    "logistics",
    "hospitality",
    "finance",
    "education",
)
COMPANY_SIZES: Final = weighted({"1-9": 50, "10-49": 30, "50-249": 15, "250+": 5})
CONTACT_ROLES: Final = ("owner", "purchasing", "marketing", "finance", "operations", "it")
LOYALTY_TIERS: Final = weighted({"": 70, "silver": 20, "gold": 10})
CONSENT_EMAIL: Final = weighted({"yes": 80, "no": 5, "": 15})
CONSENT_SMS: Final = weighted({"yes": 40, "no": 10, "": 50})
CONSENT_MAIL: Final = weighted({"yes": 60, "no": 5, "": 35})
CONSENT_CALL: Final = weighted({"yes": 20, "no": 10, "": 70})

CHANNELS: Final = weighted({"web": 45, "app": 25, "store": 22, "phone": 8})
CATEGORIES: Final = (
    "electronics",
    "home",
    "fashion",
    "beauty",
    "sports",
    "books",
    "toys",
    "grocery",
)
BRANDS: Final = ("Aurora", "Borealis", "Cobalt", "Dune", "Ember", "Fjord")
QUANTITIES: Final = weighted({"1": 60, "2": 22, "3": 10, "4": 5, "5": 3})


@cache
def street_lines(code: str) -> tuple[str, ...]:
    """Every first address line of a country (streets times house numbers 1-199)."""
    streets = COUNTRY_BY_CODE[code].streets
    return tuple(street.format(n=number) for street in streets for number in range(1, 200))


@cache
def second_lines(code: str) -> tuple[str, ...]:
    """Second address lines of a country, four in five of them empty."""
    lines = tuple(
        line.format(a=a, b=b, c=c)
        for line in COUNTRY_BY_CODE[code].line2
        for a, b, c in product(range(1, 10), range(1, 5), "ABCD")
    )
    return lines + ("",) * (4 * len(lines))


@cache
def postal_codes(template: str) -> tuple[str, ...]:
    """Every code a postal template allows."""
    choices = (
        "0123456789" if ch == "#" else POSTAL_LETTERS if ch == "@" else ch for ch in template
    )
    return tuple("".join(chars) for chars in product(*choices))
