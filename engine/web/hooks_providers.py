"""Provider webhooks: SendGrid's Event Webhook and Twilio's status callbacks and inbound texts.

- ``POST /webhooks/sendgrid``: the ECDSA signature over the timestamp
  header and the raw body is checked (official `EventWebhook` helper)
  before anything is parsed; no key configured, a missing header, bad
  base64 or a wrong signature: 403, nothing stored. Not a JSON array: 400.
- ``POST /webhooks/twilio/inbound``: ``X-Twilio-Signature`` is checked
  (official `RequestValidator`) against the public URL Twilio was given
  (``sender.public_url`` + path + query: behind a TLS proxy the URL this
  process sees differs). Missing or wrong: 403, nothing stored. The text is
  applied in the request and answered with TwiML of at most one message.
  Status callbacks have their own endpoint in front of Flask
  (`engine.web.twilio_status`).

The database unreachable or busy: 503, so the provider retries; nothing is
half-applied (one transaction per batch).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Final

from flask import Blueprint, Response, request
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.twiml.messaging_response import MessagingResponse

from engine.db.provider_events import SqlProviderEvents
from engine.services.ingesting import ingest_sendgrid
from engine.services.ingesting_sms import ReplyTexts, ingest_twilio_inbound
from engine.web.context import DATABASE_DOWN, engine_context
from engine.web.twilio_status import signed

log = logging.getLogger(__name__)
blueprint = Blueprint("provider_hooks", __name__)

SIGNATURE: Final = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP: Final = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE: Final = "X-Twilio-Signature"
# Headers kept with the raw batch (what verification and dedupe used).
KEPT: Final = (SIGNATURE, TIMESTAMP, "X-Twilio-Signature", "I-Twilio-Idempotency-Token")
TWIML: Final = "application/xml"


@blueprint.post("/webhooks/sendgrid")
def sendgrid_events() -> Response:
    """Verify, store and apply an Event Webhook batch."""
    context = engine_context()
    settings = context.adapters.settings
    body = _verified_sendgrid(settings.webhooks.sendgrid_public_key)
    if body is None:
        return _answer(403, "signature not verified")
    prefix = settings.channels.sendgrid.custom_args_prefix
    done = ingest_sendgrid(_store(), body, _headers(), prefix, context.clock())
    if not done.usable:
        return _answer(400, "the body is not a JSON array of events")
    return _answer(200, f"{done.events} new events, {done.quarantined} quarantined")


@blueprint.post("/webhooks/twilio/inbound")
def twilio_inbound() -> Response:
    """Verify, store and apply an inbound text; answer TwiML with at most one message."""
    body = request.get_data(as_text=True)  # first: the form is then parsed from the cached body
    if not _verified_twilio():
        return _answer(403, "signature not verified")
    context = engine_context()
    sender = context.adapters.settings.sender
    texts = ReplyTexts(sender.name, sender.sms_opt_out_hint, sender.email)
    params = request.form.to_dict()
    done = ingest_twilio_inbound(_store(), body, params, _headers(), texts, context.clock())
    if not done.ingested.usable:
        return _answer(400, "not an inbound message")
    twiml = MessagingResponse()
    if done.answer:
        twiml.message(done.answer)
    return Response(str(twiml), 200, content_type=TWIML)


def database_down(error: Exception) -> Response:
    """503 with Retry-After: the provider keeps the callback and sends it again."""
    log.warning("provider webhook: database unavailable: %s", error)
    response = _answer(503, "database unavailable; retry later")
    response.headers["Retry-After"] = "30"
    return response


for _error in DATABASE_DOWN:
    blueprint.register_error_handler(_error, database_down)


def _verified_sendgrid(public_key: str | None) -> str | None:
    """The raw body as text when its signature verifies, else None (fail closed)."""
    if not public_key:
        log.warning("SendGrid webhook refused: webhooks.sendgrid_public_key is not set")
        return None
    try:
        body = request.get_data().decode("utf-8")
        signature, timestamp = request.headers[SIGNATURE], request.headers[TIMESTAMP]
        if _verifier(public_key).verify_signature(body, signature, timestamp):
            return body
    except Exception:  # the helper raises on bad base64, bad keys, odd types: all are 403
        log.info("SendGrid webhook with an unverifiable signature", exc_info=True)
    return None


def _verified_twilio() -> bool:
    """True when X-Twilio-Signature matches the public URL and the form parameters."""
    token = engine_context().adapters.settings.channels.twilio.auth_token
    return signed(token, _public_url(), request.form, request.headers.get(TWILIO_SIGNATURE))


def _public_url() -> str:
    """The URL Twilio requested: our configured public base, this path, the raw query."""
    base = engine_context().adapters.settings.sender.public_url.rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@lru_cache(maxsize=4)
def _verifier(public_key: str) -> EventWebhook:
    # Loading the key parses PEM: once per key, not per request.
    return EventWebhook(public_key)


def _store() -> SqlProviderEvents:
    return SqlProviderEvents(engine_context().adapters.engine)


def _headers() -> dict[str, str]:
    return {name: request.headers[name] for name in KEPT if name in request.headers}


def _answer(status: int, text: str) -> Response:
    return Response(text + "\n", status, content_type="text/plain; charset=utf-8")
