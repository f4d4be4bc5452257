"""Our own e-mail tracking endpoints: the open pixel, the click redirect, unsubscribe.

- ``GET /t/o/<token>``: a 1×1 transparent GIF, always (a broken pixel shows
  in the reader's mail client; a failure here is logged, never shown).
- ``GET /t/c/<token>``: 302 to the link's destination, looked up on the
  server by the link id in the signed token; nothing from the query string
  is ever followed. Bad token or unknown link: 404.
- ``GET /u/<token>``: a page with a button; it changes nothing (mail
  scanners fetch every URL). ``POST /u/<token>``: unsubscribes, 200 without
  redirect; RFC 8058 one-click (``List-Unsubscribe=One-Click``, no cookie,
  no login, no CSRF token) or the page's form.

A database that cannot be reached answers 503 (the pixel still 200).
"""

from __future__ import annotations

import logging
from base64 import b64decode
from typing import Final

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.wrappers import Response as AnyResponse

from engine.bootstrap import tracking
from engine.core.tracking.engagement import Hit, Via
from engine.core.tracking.tokens import TokenSigner
from engine.db.engagement import SqlEngagement
from engine.services.tracking import follow_click, record_open, subscription, unsubscribe
from engine.web.context import engine_context

log = logging.getLogger(__name__)
blueprint = Blueprint("tracking", __name__, template_folder="templates")

# The smallest transparent GIF: 1×1, one transparent colour (42 bytes).
PIXEL: Final = b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# What "the database is unavailable" raises: refused, dropped, pool exhausted.
DATABASE_DOWN: Final = (OperationalError, InterfaceError, PoolTimeout)
NO_STORE: Final = {"Cache-Control": "no-store"}
# The unsubscribe page: never cached, indexed or leaking its URL (the token).
PAGE_HEADERS: Final = {
    **NO_STORE,
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_SIGNER: Final = "engine.tracking.signer"


@blueprint.get("/t/o/<token>")
def pixel(token: str) -> Response:
    """The open pixel: 200 and the GIF whatever happens; a valid token records an open."""
    try:
        ids = _signer().verify("o", token)
        if ids is None or len(ids) != 1:
            log.info("open pixel with a bad token")
        else:
            record_open(_store(), ids[0], _hit())
    except Exception:  # the reader sees an image, whatever broke
        log.exception("open pixel: the open was not recorded")
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@blueprint.get("/t/c/<token>")
def click(token: str) -> AnyResponse:
    """302 to the tracked link's stored destination; 404 for a bad token or link."""
    ids = _signer().verify("c", token)
    if ids is None or len(ids) != 2:
        abort(404)
    try:
        url = follow_click(_store(), ids[0], ids[1], _hit())
    except DATABASE_DOWN:
        log.exception("click: database unavailable")
        return Response("Try again in a moment.", 503, NO_STORE | {"Retry-After": "30"})
    if url is None:
        abort(404)
    answer = redirect(url, 302)
    answer.headers.update(NO_STORE)
    return answer


@blueprint.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> Response:
    """GET: the page (changes nothing); POST: unsubscribe (one-click or the form), 200."""
    ids = _signer().verify("u", token)
    if ids is None or len(ids) != 1:
        return _page("missing", 404)
    try:
        if request.method == "POST":
            found = unsubscribe(_store(), ids[0], _via(), engine_context().clock())
        else:
            found = subscription(_store(), ids[0])
    except DATABASE_DOWN:
        log.exception("unsubscribe: database unavailable")
        return _page("unavailable", 503, {"Retry-After": "30"})
    if found is None:
        return _page("missing", 404)
    state = "done" if request.method == "POST" else "ask" if found.subscribed else "already"
    return _page(state, 200, address=found.masked_address)


def _page(state: str, status: int, headers: dict[str, str] | None = None, **shown: str) -> Response:
    sender = engine_context().adapters.settings.sender
    html = render_template(
        "tracking/unsubscribe.html",
        state=state,
        sender=sender.name,
        postal_address=sender.postal_address,
        action=request.path,
        **shown,
    )
    return Response(html, status, PAGE_HEADERS | (headers or {}), mimetype="text/html")


def _via() -> Via:
    """``one-click`` for an RFC 8058 POST (whatever its content type), else ``form``."""
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "one-click"
    raw = request.get_data().strip()
    return "one-click" if raw == b"List-Unsubscribe=One-Click" else "form"


def _hit() -> Hit:
    agent = request.headers.get("User-Agent", "")
    return Hit(engine_context().clock(), agent[:500], request.method == "HEAD")


def _store() -> SqlEngagement:
    return SqlEngagement(engine_context().adapters.engine)


def _signer() -> TokenSigner:
    """The installation's token signer, built once per app."""
    signer: TokenSigner | None = current_app.extensions.get(_SIGNER)
    if signer is None:
        signer = tracking(engine_context().adapters.settings).signer
        current_app.extensions[_SIGNER] = signer
    return signer
