"""Response codes: unique, decodable, and their check character catches typos."""

from __future__ import annotations

import random

from engine.core.codes import CHECKS, DIGITS, SPACE, CodeBook, decode, encode, normalize

BOOK = CodeBook.from_secret("test-secret")


def test_codes_are_unique_and_map_back_to_their_contact() -> None:
    codes = {BOOK.code(contact) for contact in range(1, 100_001)}
    assert len(codes) == 100_000
    for contact in (1, 2, 99_999, 2**32 - 1):
        assert BOOK.contact_id(BOOK.code(contact)) == contact


def test_codes_use_an_unambiguous_alphabet() -> None:
    code = BOOK.code(42)
    assert len(code) == 9 and code[4] == "-"
    assert not set(code) & set("01ILO")
    assert decode(code.lower().replace("-", " ")) == BOOK.value(42)
    assert normalize(" ab-cd ") == "ABCD"


def test_every_single_substitution_and_adjacent_swap_is_caught() -> None:
    rng = random.Random(7)
    for value in [0, SPACE - 1, *(rng.randrange(SPACE) for _ in range(200))]:
        plain = normalize(encode(value))
        assert decode(plain) == value
        for position in range(len(plain)):
            for symbol in CHECKS if position == len(plain) - 1 else DIGITS:
                if symbol != plain[position]:
                    typo = plain[:position] + symbol + plain[position + 1 :]
                    assert decode(typo) is None, (plain, typo)
        for position in range(len(plain) - 2):  # swaps among the data characters
            a, b = plain[position], plain[position + 1]
            if a != b:
                swapped = plain[:position] + b + a + plain[position + 2 :]
                assert decode(swapped) is None, (plain, swapped)


def test_malformed_codes_are_refused() -> None:
    for text in ("", "ABCD-EFG", "ABCD-EFGHJ", "ABC0-EFGH", "ABCD-EFG!"):
        assert decode(text) is None
        assert BOOK.contact_id(text) is None
