"""Rendered messages and the length rules of SMS.

`Rendered` is what the template adapter hands back for every channel.
`sms_length` says how a text travels as SMS: GSM-7 when every character is
in the GSM 03.38 alphabet (basic table, or the extension table at two
septets each), UCS-2 otherwise; and how many segments it costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# GSM 03.38 basic character set (ESC, 0x1B, left out: it only introduces the
# extension table and is never a character of its own).
GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + code, two septets.
GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

SINGLE_GSM: Final = 160  # septets in a lone segment
MULTI_GSM: Final = 153  # septets per segment once the user data header takes its share
SINGLE_UCS2: Final = 70  # UTF-16 code units in a lone segment
MULTI_UCS2: Final = 67


@dataclass(frozen=True)
class Rendered:
    """One rendered message.

    `text` is the SMS body, the e-mail text part, the call script or the plain
    text of a letter; `subject` is set for e-mail, `html` for e-mail and mail.
    """

    channel: str
    text: str
    subject: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class SmsLength:
    """Encoding, length in septets (GSM-7) or UTF-16 code units (UCS-2), segments."""

    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    segments: int


def sms_length(text: str) -> SmsLength:
    """Return the encoding, length and segment count of `text` sent as SMS.

    Up to 160 septets (GSM-7) or 70 code units (UCS-2) fit one segment;
    longer texts are split into segments of 153 / 67. A character never
    straddles two segments (an extension character's ESC stays with its code,
    a surrogate pair stays whole), as carriers' encoders do, so a text can
    need one segment more than ``ceil(characters / 153)``.

    Empty text: 0 characters, 1 segment (sending it would still cost one).
    """
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in text):
        widths = [2 if char in GSM_EXTENSION else 1 for char in text]
        return SmsLength("GSM-7", sum(widths), _segments(widths, SINGLE_GSM, MULTI_GSM))
    widths = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SmsLength("UCS-2", sum(widths), _segments(widths, SINGLE_UCS2, MULTI_UCS2))


def _segments(widths: list[int], single: int, multi: int) -> int:
    """Segments needed for characters of the given widths, none split."""
    if sum(widths) <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments, used = segments + 1, 0
        used += width
    return segments
