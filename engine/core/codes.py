"""Response codes: short, unambiguous, with a check character.

A code is 7 data characters and one check character from an alphabet
without 0/O, 1/I/L or U (``23456789ABCDEFGHJKMNPQRSTVWXYZ``, base 30), shown
as ``ABCD-EFGH``. The value is an affine bijection of the contact id modulo
30^7 (``((id mod 30^7) * multiplier + offset) mod 30^7``), so every contact has exactly
one code, codes never repeat, and the database computes them in one set-based
statement. The check character is the value modulo 31 (a prime that divides
neither 30 nor 29), written with the 30 data characters plus ``U``: any
single wrong character and any swap of two adjacent data characters
changes it.

Codes are for coupons, print and personal URLs: not secrets. Anything
personal behind a personal URL needs a signed token as well.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

DIGITS: Final = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECKS: Final = DIGITS + "U"
BASE: Final = len(DIGITS)  # 30
LENGTH: Final = 7
SPACE: Final = BASE**LENGTH  # 21,870,000,000 codes
CHECK_PRIME: Final = 31


@dataclass(frozen=True, slots=True)
class CodeBook:
    """The affine map from contact ids to code values, keyed by a configured secret."""

    multiplier: int
    offset: int

    @classmethod
    def from_secret(cls, secret: str) -> CodeBook:
        digest = hashlib.sha256(secret.encode()).digest()
        # Coprime to 30^7 (not divisible by 2, 3 or 5) and below 2^28, so that
        # (id mod 30^7) * multiplier < 2^63 in SQL for any id.
        multiplier = int.from_bytes(digest[:4], "big") % (2**28)
        while multiplier % 2 == 0 or multiplier % 3 == 0 or multiplier % 5 == 0:
            multiplier += 1
        return cls(multiplier, int.from_bytes(digest[4:12], "big") % SPACE)

    def value(self, contact_id: int) -> int:
        return (contact_id % SPACE * self.multiplier + self.offset) % SPACE

    def code(self, contact_id: int) -> str:
        return encode(self.value(contact_id))

    def contact_id(self, code: str) -> int | None:
        """The contact a (well-formed) code belongs to; None if malformed."""
        value = decode(code)
        if value is None:
            return None
        inverse = pow(self.multiplier, -1, SPACE)
        return (value - self.offset) * inverse % SPACE  # ids below 30^7 (21.87 billion)


def encode(value: int) -> str:
    """``XXXX-XXXX``: 7 data characters, most significant first, then the check."""
    chars = []
    for _ in range(LENGTH):
        value, digit = divmod(value, BASE)
        chars.append(DIGITS[digit])
    data = "".join(reversed(chars))
    check = CHECKS[_value(data) % CHECK_PRIME]
    return f"{data[:4]}-{data[4:]}{check}"


def normalize(text: str) -> str:
    """What a person typed, upper-cased without spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def decode(text: str) -> int | None:
    """The value of a code; None if it is malformed or its check fails."""
    code = normalize(text)
    if len(code) != LENGTH + 1 or any(ch not in DIGITS for ch in code[:-1]):
        return None
    value = _value(code[:-1])
    return value if CHECKS[value % CHECK_PRIME] == code[-1] else None


def _value(data: str) -> int:
    value = 0
    for ch in data:
        value = value * BASE + DIGITS.index(ch)
    return value
