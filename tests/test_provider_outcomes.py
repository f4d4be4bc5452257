"""SendGrid answers and Twilio error codes as outcomes (engine.core.sending.providers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.core.sending.batching import batches, halves
from engine.core.sending.message import Outcome
from engine.core.sending.providers import (
    TWILIO_CODES,
    no_answer_outcome,
    sendgrid_blame,
    sendgrid_outcome,
    twilio_outcome,
)


def errors(*entries: tuple[str | None, str]) -> bytes:
    return json.dumps(
        {"errors": [{"field": f, "message": m, "help": None} for f, m in entries]}
    ).encode()


@pytest.mark.parametrize("status", [200, 201, 202])
def test_sendgrid_accepted_is_sent_with_the_message_id(status: int) -> None:
    outcome = sendgrid_outcome(7, status, {"x-message-id": "abc123"}, b"")
    assert outcome == Outcome(7, "sent", provider_message_id="abc123")


def test_sendgrid_400_fails_with_every_error_message() -> None:
    body = errors(("from.email", "bad from"), ("subject", "The subject is required."))
    outcome = sendgrid_outcome(7, 400, {}, body)
    assert outcome == Outcome(7, "failed", error="SendGrid 400: bad from; The subject is required.")


@pytest.mark.parametrize("status", [401, 403])
def test_sendgrid_key_refused_retries_and_pauses_the_campaign(status: int) -> None:
    outcome = sendgrid_outcome(7, status, {}, errors((None, "grant revoked")))
    reason = f"SendGrid refused the API key ({status}): grant revoked"
    assert outcome == Outcome(7, "retry", error=reason, pause=reason)


def test_sendgrid_413_fails_as_too_large() -> None:
    outcome = sendgrid_outcome(7, 413, {}, b"")
    assert outcome == Outcome(7, "failed", error="too large for SendGrid (413)")


def test_sendgrid_429_retries_at_the_rate_limit_reset() -> None:
    outcome = sendgrid_outcome(7, 429, {"X-RateLimit-Reset": "1796112000"}, b"")
    when = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert outcome == Outcome(7, "retry", error="SendGrid rate limit (429)", retry_at=when)


def test_sendgrid_429_without_a_reset_retries_on_the_dispatcher_backoff() -> None:
    outcome = sendgrid_outcome(7, 429, {"X-RateLimit-Reset": "soon"}, None)
    assert (outcome.kind, outcome.retry_at) == ("retry", None)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_sendgrid_5xx_is_unknown_because_it_may_have_been_accepted(status: int) -> None:
    outcome = sendgrid_outcome(7, status, {}, "oops", error="Internal Server Error")
    assert outcome == Outcome(7, "unknown", error=f"SendGrid {status} Internal Server Error")


def test_no_answer_retries_only_when_the_request_never_left() -> None:
    refused = no_answer_outcome(7, "SendGrid", "Connection refused", request_sent=False)
    timeout = no_answer_outcome(7, "SendGrid", "timed out", request_sent=True)
    assert refused == Outcome(7, "retry", error="SendGrid: not sent (Connection refused)")
    assert timeout == Outcome(7, "unknown", error="SendGrid: no answer (timed out)")


def test_sendgrid_blame_names_personalizations_only_when_every_error_does() -> None:
    pinned = errors(("personalizations.2.to.0.email", "bad"), ("personalizations.2.to", "dup"))
    assert sendgrid_blame(pinned, size=3) == {2: "bad; dup"}
    assert sendgrid_blame(errors(("personalizations.5.to", "x")), size=3) is None
    assert sendgrid_blame(errors(("personalizations.0.to", "x"), ("subject", "y")), 3) is None
    assert sendgrid_blame(b"not json", size=3) is None


@pytest.mark.parametrize(
    ("code", "kind", "suppress", "opt_out", "alerted"),
    [
        (21610, "failed", None, True, False),
        (30003, "retry", None, False, False),
        (30005, "failed", "sms", False, False),
        (30006, "failed", "sms", False, False),
        (30007, "failed", None, False, True),
        (21211, "failed", None, False, False),
        (21614, "failed", None, False, False),
        (20429, "retry", None, False, False),
    ],
)
def test_twilio_codes(
    code: int, kind: str, suppress: str | None, opt_out: bool, alerted: bool
) -> None:
    for status in (400, None):  # at create time, or from a status callback
        outcome = twilio_outcome(9, status, code, "text")
        assert (outcome.kind, outcome.suppress, outcome.opt_out) == (kind, suppress, opt_out)
        assert (outcome.alert is not None) == alerted
        assert outcome.error == f"Twilio {code}: text ({TWILIO_CODES[code].meaning})"
        assert outcome.pause is None


def test_twilio_alert_names_the_send() -> None:
    outcome = twilio_outcome(9, None, 30007, "Message filtered")
    assert outcome.alert == "carrier filtering on send 9: Twilio 30007: Message filtered"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, None, "retry"),
        (429, 429, "retry"),
        (400, 21999, "failed"),
        (404, 20404, "failed"),
        (500, 20500, "unknown"),
        (503, None, "unknown"),
        (None, None, "unknown"),  # timeout: Twilio may have queued it
        (None, 30008, "failed"),  # a callback's unlisted error: the carrier failed it
    ],
)
def test_twilio_statuses(status: int | None, code: int | None, kind: str) -> None:
    assert twilio_outcome(9, status, code, "x").kind == kind


@pytest.mark.parametrize(("status", "code"), [(401, 20003), (401, None), (403, 20005)])
def test_twilio_credentials_refused_pause(status: int, code: int | None) -> None:
    outcome = twilio_outcome(9, status, code, "Authenticate")
    assert outcome.kind == "retry"
    assert outcome.pause == f"Twilio refused the credentials ({status}): Authenticate"


def test_batches_group_equal_keys_once_per_recipient_within_the_limit() -> None:
    items = [("a", "x@1"), ("b", "y@1"), ("a", "X@1"), ("a", "z@1"), ("a", "w@1"), ("a", "v@1")]
    groups = batches(items, key=lambda i: i[0], recipient=lambda i: i[1], limit=3)
    # x@1 twice with content a: the second goes to another group; a's first group fills at 3.
    assert groups == [[0, 3, 4], [1], [2, 5]]


def test_halves() -> None:
    assert halves([1, 2, 3]) == ([1, 2], [3])
    assert halves([1]) == ([1], [])
