"""What a provider's answer means for one send: SendGrid and Twilio errors as `Outcome`s.

Pure: the channels hand in the status, headers, body or error code they got;
the Twilio status-callback webhook hands in the ``ErrorCode`` of a later
failure. Nothing here performs IO or reads a clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from engine.core.sending.message import Outcome, OutcomeKind


def sendgrid_outcome(
    send_id: int,
    status: int,
    headers: Mapping[str, str],
    body: bytes | str | None,
    error: str | None = None,
) -> Outcome:
    """Return the outcome of a Mail Send answer with HTTP `status` for `send_id`.

    200 (sandbox), 202 (and any 2xx) are ``sent`` with ``X-Message-Id``; 400 is
    ``failed`` with the ``errors[].message`` text; 401/403 is ``retry`` with
    `pause` (the key is wrong: every send would fail, none was sent); 413 is
    ``failed`` (the channel splits a group before it gets here); 429 is
    ``retry`` at ``X-RateLimit-Reset``; 5xx is ``unknown`` (SendGrid may have
    accepted the mail before failing). `error` adds the client's own words.
    """
    detail = _sendgrid_errors(body) or error or _text(body)
    if 200 <= status < 300:
        return Outcome(send_id, "sent", provider_message_id=_header(headers, "X-Message-Id"))
    if status in (401, 403):
        reason = f"SendGrid refused the API key ({status}): {detail or 'no detail'}"
        return Outcome(send_id, "retry", error=reason, pause=reason)
    if status == 413:
        return Outcome(send_id, "failed", error=f"too large for SendGrid (413) {detail}".strip())
    if status == 429:
        return Outcome(
            send_id,
            "retry",
            error="SendGrid rate limit (429)",
            retry_at=_unix_time(_header(headers, "X-RateLimit-Reset")),
        )
    if status >= 500:
        return Outcome(send_id, "unknown", error=f"SendGrid {status} {detail}".strip())
    # 400 and every other 4xx: the request itself is wrong, sending it again changes nothing.
    return Outcome(send_id, "failed", error=f"SendGrid {status}: {detail or 'no detail'}")


def no_answer_outcome(send_id: int, provider: str, error: str, request_sent: bool) -> Outcome:
    """Return the outcome of a request that got no HTTP answer.

    Refused or failed before the request was written (`request_sent` false):
    the provider never saw it, ``retry``. A timeout or reset after it was
    written: the provider may have accepted it, ``unknown``.
    """
    if request_sent:
        return Outcome(send_id, "unknown", error=f"{provider}: no answer ({error})")
    return Outcome(send_id, "retry", error=f"{provider}: not sent ({error})")


def sendgrid_blame(body: bytes | str | None, size: int) -> dict[int, str] | None:
    """Return {personalization index: error text} when a 400 names only personalizations.

    SendGrid's ``errors[].field`` reads ``personalizations.3.to.0.email`` for
    a bad recipient: those personalizations fail, the others can go again
    without them. None when any error is about the request as a whole (or
    names no valid index): then the whole request failed.
    """
    blamed: dict[int, list[str]] = {}
    entries = _error_entries(body)
    for entry in entries:
        parts = str(entry.get("field") or "").split(".")
        if len(parts) < 2 or parts[0] != "personalizations" or not parts[1].isdigit():
            return None
        index = int(parts[1])
        if index >= size:
            return None
        blamed.setdefault(index, []).append(str(entry.get("message", "")))
    return {index: "; ".join(texts) for index, texts in blamed.items()} or None


def _sendgrid_errors(body: bytes | str | None) -> str:
    return "; ".join(str(entry.get("message", "")) for entry in _error_entries(body))


def _text(body: bytes | str | None) -> str:
    """The start of a body that is not SendGrid's JSON (a proxy's error page)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return (body or "").strip()[:200]


def _error_entries(body: bytes | str | None) -> list[dict[str, str | None]]:
    if not body:
        return []
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(errors, list):
        return []
    return [entry for entry in errors if isinstance(entry, dict)]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive; a plain dict is not.
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _unix_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value or ""), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True, slots=True)
class TwilioCode:
    """What a Twilio error code means for the send and the recipient."""

    kind: OutcomeKind
    meaning: str
    suppress: str | None = None
    opt_out: bool = False
    alert: bool = False


# Twilio error codes the engine acts on (https://www.twilio.com/docs/api/errors).
# 2xxxx come back at create time as HTTP 4xx; 3xxxx come later, as the
# ErrorCode of an undelivered/failed status callback.
TWILIO_CODES: Final[Mapping[int, TwilioCode]] = {
    # The recipient replied STOP to this sender: withdraw SMS consent, never retry.
    21610: TwilioCode("failed", "recipient has opted out (STOP)", opt_out=True),
    # Handset off or out of coverage: may work later; the dispatcher caps attempts.
    30003: TwilioCode("retry", "unreachable destination handset"),
    # The number does not exist: stop texting it.
    30005: TwilioCode("failed", "unknown destination handset", suppress="sms"),
    # A landline or a number that cannot take SMS: stop texting it.
    30006: TwilioCode("failed", "landline or unreachable carrier", suppress="sms"),
    # The carrier filtered the content: resending the same text fails the same
    # way and risks the sender's reputation, so a person must look at it.
    30007: TwilioCode("failed", "message filtered by the carrier", alert=True),
    # Not a valid phone number: a data problem, not worth a retry.
    21211: TwilioCode("failed", "invalid 'To' phone number"),
    # Valid but not a mobile number.
    21614: TwilioCode("failed", "'To' number is not a valid mobile number"),
    # Too many requests to Twilio's API: back off and try again.
    20429: TwilioCode("retry", "too many requests"),
    # Wrong account SID or auth token: nothing will be sent until it is fixed.
    20003: TwilioCode("retry", "authentication failed"),
}


def twilio_outcome(
    send_id: int, status: int | None, code: int | None, message: str | None
) -> Outcome:
    """Return the outcome of a Twilio error for `send_id`.

    `status` is the HTTP status of a failed create (None for a callback or
    no answer), `code` Twilio's error code, `message` its text. A known code
    decides (see `TWILIO_CODES`); otherwise HTTP 429 is ``retry``, 401/403
    ``retry`` with `pause`, another 4xx ``failed``, and a 5xx or no answer at
    all ``unknown`` (Twilio may have queued the message).
    """
    text = f"Twilio {code or status or 'no answer'}: {message or ''}".rstrip(": ")
    if code == 20003 or status in (401, 403):
        reason = f"Twilio refused the credentials ({status or code}): {message or 'no detail'}"
        return Outcome(send_id, "retry", error=reason, pause=reason)
    known = TWILIO_CODES.get(code) if code is not None else None
    if known is not None:
        return Outcome(
            send_id,
            known.kind,
            error=f"{text} ({known.meaning})",
            suppress=known.suppress,
            opt_out=known.opt_out,
            alert=f"carrier filtering on send {send_id}: {text}" if known.alert else None,
        )
    if status == 429:
        return Outcome(send_id, "retry", error=text)
    if status is not None and 400 <= status < 500:
        return Outcome(send_id, "failed", error=text)
    if status is None and code is not None:
        # A callback's unlisted error code: the message failed at the carrier.
        return Outcome(send_id, "failed", error=text)
    return Outcome(send_id, "unknown", error=text)
