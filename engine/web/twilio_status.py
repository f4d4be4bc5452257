"""``POST /webhooks/twilio/status?send=<id>``: Twilio's message status callbacks.

The busiest endpoint by far (several callbacks per SMS), so it is plain
WSGI in front of the Flask app rather than a Flask view: a Flask request
(context, session, routing, response object) cost about as much CPU as
everything the callback itself needs. Everything else reaches Flask.

What it does is what every provider endpoint does: ``X-Twilio-Signature``
checked by the official `RequestValidator` against the public URL Twilio
was given (``sender.public_url`` + path + query); missing or wrong: 403,
nothing stored. Not a status callback: stored, quarantined, 400. Otherwise
the callback is kept (one autocommitted statement) before the 200 and
applied in bulk moments later (`engine.services.ingesting_status`). The
database unavailable: 503 with Retry-After.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Final

from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from engine.core.tracking.twilio_events import first_values, form_pairs
from engine.db.provider_events import SqlProviderEvents
from engine.services.ingesting_status import accept_status
from engine.web.context import DATABASE_DOWN, WebContext

log = logging.getLogger(__name__)

PATH: Final = "/webhooks/twilio/status"
FORM: Final = "application/x-www-form-urlencoded"
LARGEST: Final = 64 * 1024  # a status callback is well under 2 KB
# Headers kept with the callback (WSGI environ name -> HTTP name).
KEPT: Final = {
    "HTTP_X_TWILIO_SIGNATURE": "X-Twilio-Signature",
    "HTTP_I_TWILIO_IDEMPOTENCY_TOKEN": "I-Twilio-Idempotency-Token",
}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class TwilioStatusEndpoint:
    """WSGI middleware: answers the status endpoint itself, passes the rest to `app`."""

    def __init__(self, app: WsgiApp, context: WebContext) -> None:
        self.app = app
        self.context = context
        self.store = SqlProviderEvents(context.adapters.engine)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, 405, "POST only", (("Allow", "POST"),))
        try:
            return self._status(environ, start_response)
        except DATABASE_DOWN as error:
            log.warning("Twilio status callback: database unavailable: %s", error)
            return _answer(
                start_response, 503, "database unavailable; retry later", (("Retry-After", "30"),)
            )

    def _status(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw = _body(environ)
        if raw is None:
            return _answer(start_response, 413, "a status callback is smaller than that")
        body = raw.decode("utf-8", "replace")
        pairs = form_pairs(body) if environ.get("CONTENT_TYPE", "").startswith(FORM) else []
        query = environ.get("QUERY_STRING", "")
        path = PATH + (f"?{query}" if query else "")
        settings = self.context.adapters.settings
        url = settings.sender.public_url.rstrip("/") + path
        token = settings.channels.twilio.auth_token
        if not signed(token, url, MultiDict(pairs), environ.get("HTTP_X_TWILIO_SIGNATURE")):
            return _answer(start_response, 403, "signature not verified")
        headers = {name: environ[key] for key, name in KEPT.items() if key in environ}
        now = self.context.clock()
        done = accept_status(self.store, body, first_values(pairs), path, headers, now)
        if not done.usable:
            return _answer(start_response, 400, "not a message status callback")
        self.context.statuses.wake()
        return _answer(start_response, 200, "ok")


def signed(token: str | None, url: str, form: Any, signature: str | None) -> bool:
    """True when `signature` (X-Twilio-Signature) is Twilio's over `url` and the form; fails closed."""
    if not token or not signature:
        return False
    try:
        validator = _validator(token)
        # Twilio signs the URL it requested: computed for exactly that URL
        # first (one HMAC), then the helper's variants with and without a port.
        if hmac.compare_digest(validator.compute_signature(url, form), signature):
            return True
        return bool(validator.validate(url, form, signature))
    except Exception:  # a malformed request must not become a 500
        log.info("Twilio webhook with an unverifiable signature", exc_info=True)
        return False


@lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def _body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is larger than any status callback."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length.isdigit():
        return None if int(length) > LARGEST else bytes(stream.read(int(length)))
    data = bytes(stream.read(LARGEST + 1))
    return None if len(data) > LARGEST else data


def _answer(
    start_response: StartResponse, status: int, text: str, extra: tuple[tuple[str, str], ...] = ()
) -> list[bytes]:
    body = (text + "\n").encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
              413: "Content Too Large", 503: "Service Unavailable"}[status]  # fmt: skip
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(f"{status} {reason}", [*headers, *extra])
    return [body]
