"""Signed tracking tokens: opaque, short, and carrying nothing but ids.

A token is ``base64url(varint(id) ... || tag)`` without padding, where the
tag is the first `TAG_BYTES` of ``HMAC-SHA256(secret, context || kind || ids)``.
The kind is in the MAC, not in the token, so an open token ("o") is not a
click token ("c") or an unsubscribe token ("u") even for the same ids. The
ids are unsigned LEB128 varints: a send id below 2**35 and a link id below
2**14 take 7 bytes, so a click token is 26 characters.

Tokens are not encrypted: anyone can read the ids, nobody can forge or
alter them. That is all a tracking URL needs, and it keeps e-mail
addresses, names and phones out of URLs (and out of mail-scanner logs).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as Base64Error
from typing import Final

TAG_BYTES: Final = 12  # 96 bits: forging one takes ~2**95 online guesses
MAX_IDS: Final = 4
MAX_ID: Final = 2**63 - 1  # fits a BIGINT column
MAX_TOKEN: Final = 64  # characters; longer input is refused before decoding
_CONTEXT: Final = b"campaign-engine tracking v1\x00"
_BLOCK: Final = 64  # SHA-256 block size
_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]+")
_KIND: Final = re.compile(r"[a-z]{1,8}")


class TokenSigner:
    """Signs and verifies tracking tokens with one installation secret."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the tracking secret needs at least 16 characters")
        # HMAC (RFC 2104) with both keyed SHA-256 states computed once and
        # copied per token: a third of the cost of hmac.digest, and every
        # link of every e-mail is signed.
        key = secret.encode()
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + _CONTEXT)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def sign(self, kind: str, *ids: int) -> str:
        """The URL-safe token for `ids` under `kind` ("o", "c", "u", ...).

        Raises ValueError for an unknown-looking kind or an id that is not a
        non-negative integer below 2**63.
        """
        if not _KIND.fullmatch(kind):
            raise ValueError(f"a token kind is 1-8 lowercase letters, got {kind!r}")
        if not 1 <= len(ids) <= MAX_IDS:
            raise ValueError(f"a token carries 1 to {MAX_IDS} ids, got {len(ids)}")
        payload = _varints(ids)
        raw = payload + self._tag(kind, payload)
        return urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def verify(self, kind: str, token: str) -> tuple[int, ...] | None:
        """The ids `token` was signed with under `kind`, or None.

        None for anything not made by `sign(kind, ...)` with this secret:
        another kind or secret, a changed character, garbage of any size.
        """
        raw = _decode(token)
        if raw is None or len(raw) <= TAG_BYTES or not _KIND.fullmatch(kind):
            return None
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(kind, payload)):
            return None
        return _read_varints(payload)

    def _tag(self, kind: str, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(kind.encode() + b"\x00" + payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_BYTES]


def _decode(token: object) -> bytes | None:
    """The bytes of a canonical unpadded base64url string, or None."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (Base64Error, ValueError):
        return None
    # The last character may carry unused bits: re-encoding catches a token
    # that differs from a signed one only there.
    if urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        return None
    return raw


def _varints(ids: tuple[int, ...]) -> bytes:
    """`ids` as unsigned LEB128 varints, 7 bits a byte, low bits first."""
    out = bytearray()
    for value in ids:
        if type(value) is not int or not 0 <= value <= MAX_ID:  # bool is no id
            raise ValueError(f"token ids are integers from 0 to 2**63-1, got {value!r}")
        while value > 0x7F:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def _read_varints(payload: bytes) -> tuple[int, ...] | None:
    """The ids in `payload`, or None when it is not a canonical varint list."""
    ids: list[int] = []
    value = shift = 0
    for byte in payload:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80:
            if shift >= 63:
                return None
            continue
        if byte == 0 and shift > 7:  # a padded encoding of a smaller number
            return None
        ids.append(value)
        value = shift = 0
    if shift or not 1 <= len(ids) <= MAX_IDS:
        return None
    return tuple(ids)
