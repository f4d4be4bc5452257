"""Signed tracking tokens: round trip, tampering, kinds, secrets, garbage."""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64decode

import pytest

from engine.core.tracking.tokens import TAG_BYTES, TokenSigner

SECRET = "a-tracking-secret-for-tests"
SIGNER = TokenSigner(SECRET)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_round_trip_for_every_kind() -> None:
    for kind, ids in (("o", (1,)), ("c", (123_456_789, 17)), ("u", (0,)), ("c", (2**63 - 1, 0))):
        token = SIGNER.sign(kind, *ids)
        assert SIGNER.verify(kind, token) == ids
        assert TokenSigner(SECRET).verify(kind, token) == ids  # another process, same secret


def test_tokens_are_short_and_url_safe() -> None:
    click = SIGNER.sign("c", 34_359_738_367, 16_383)  # send id < 2**35, link id < 2**14
    assert len(click) == 26
    assert len(SIGNER.sign("o", 1_000_000_000)) == 23
    assert set(click) <= set(ALPHABET)


def test_tokens_carry_only_the_ids() -> None:
    token = SIGNER.sign("c", 300, 5)
    raw = urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[:-TAG_BYTES] == bytes([0xAC, 0x02, 0x05])  # varint 300, varint 5
    assert len(raw) - TAG_BYTES == 3


@pytest.mark.parametrize("secret", [SECRET, "s" * 64, "a much longer secret " * 10])
def test_the_tag_is_truncated_hmac_sha256_over_context_kind_and_ids(secret: str) -> None:
    token = TokenSigner(secret).sign("c", 300, 5)
    raw = urlsafe_b64decode(token + "=" * (-len(token) % 4))
    message = b"campaign-engine tracking v1\x00c\x00" + bytes([0xAC, 0x02, 0x05])
    expected = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:TAG_BYTES]
    assert raw[-TAG_BYTES:] == expected


def test_every_single_character_change_is_rejected() -> None:
    token = SIGNER.sign("c", 987_654_321, 42)
    for position in range(len(token)):
        for char in ALPHABET:
            if char == token[position]:
                continue
            tampered = token[:position] + char + token[position + 1 :]
            assert SIGNER.verify("c", tampered) is None, (position, char)
    assert SIGNER.verify("c", token[:-1]) is None
    assert SIGNER.verify("c", token + "A") is None
    assert SIGNER.verify("c", token + "=") is None


def test_another_kind_or_secret_is_rejected() -> None:
    token = SIGNER.sign("o", 77)
    assert SIGNER.verify("u", token) is None
    assert SIGNER.verify("c", token) is None
    assert TokenSigner("another-secret-of-this-install").verify("o", token) is None
    # the same ids under two kinds give two different tokens
    assert SIGNER.sign("o", 77) != SIGNER.sign("u", 77)


@pytest.mark.parametrize(
    "garbage",
    ["", "A", "====", "!!!!", "ÄÖÜ", "a" * 10_000, "AAAAAAAAAAAAAAAAAAAAAAAAAA", "\x00" * 20, " "],
)
def test_garbage_is_none(garbage: str) -> None:
    assert SIGNER.verify("c", garbage) is None
    assert SIGNER.verify("o", garbage) is None


def test_non_strings_and_odd_kinds_are_none() -> None:
    token = SIGNER.sign("o", 5)
    assert SIGNER.verify("o", None) is None  # type: ignore[arg-type]
    assert SIGNER.verify("o", b"abc") is None  # type: ignore[arg-type]
    assert SIGNER.verify("\udcff", token) is None


def test_sign_refuses_what_it_cannot_carry() -> None:
    for bad in ((-1,), (2**63,), (True,), (1.5,), ()):
        with pytest.raises(ValueError):
            SIGNER.sign("c", *bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SIGNER.sign("C", 1)
    with pytest.raises(ValueError):
        TokenSigner("short")
