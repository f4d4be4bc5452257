"""Business callbacks: the shop, the mail house and the call centre.

``POST /webhooks/responses``, ``/webhooks/mail`` and ``/webhooks/calls`` take
a JSON body ``{"events": [...]}`` signed with HMAC-SHA256 over the raw body,
hex-encoded in ``X-Signature`` (``sha256=`` prefix allowed), keyed with
``webhooks.responses_secret`` / ``mail_secret`` / ``calls_secret``. No secret
configured, or a wrong one: 403 and nothing stored. Unparseable body: 400.
Database unavailable: 503 (the sender retries). Otherwise the raw body is
stored first and processed in one transaction; bad items are quarantined.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.bootstrap import codebook
from engine.core.orders import OrderOptions
from engine.db.attribution import SqlResponses
from engine.db.ledger import SqlLedger
from engine.services.business import (
    Batch,
    Ingested,
    ingest_calls,
    ingest_mail,
    ingest_shop,
    run_batch,
)
from engine.services.responding import campaign_rules
from engine.web.context import WebContext, engine_context

bp = Blueprint("hooks_business", __name__)
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def signature_ok(secret: str | None, body: bytes, header: str | None) -> bool:
    """True when `header` is the hex HMAC-SHA256 of `body` under `secret` (constant time)."""
    if not secret or not header:
        return False
    given = header.strip().removeprefix("sha256=").lower()
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode("ascii", "replace"))


def _envelope(secret: str | None) -> tuple[str, dict[str, Any]]:
    """The verified body and its JSON object; aborts 403 / 400."""
    body = request.get_data(cache=True)
    if not signature_ok(secret, body, request.headers.get("X-Signature")):
        abort(403)
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        abort(400, "the body is not JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        abort(400, 'expected {"events": [...]}')
    return text, payload


def _process(
    context: WebContext, source: str, text: str, items: list[Any], handle: Callable[..., Ingested]
) -> ResponseReturnValue:
    adapters, now = context.adapters, context.clock()
    headers = {"X-Signature": request.headers.get("X-Signature", "")}
    try:
        rules = campaign_rules(adapters.launches.all(), adapters.zone)

        def run(unit: Any, batch: Batch) -> Ingested:
            return handle(unit, SqlResponses(unit.conn), batch, rules)

        batch_id, done = run_batch(
            SqlLedger(adapters.engine), source, text, headers, items, now, run
        )
    except UNAVAILABLE:
        abort(503)
    return jsonify(
        batch=batch_id,
        events=done.events,
        quarantined=done.quarantined,
        orders=done.orders,
        responses=dict(done.responses),
        suppressed=done.suppressed,
    )


def _options(context: WebContext) -> OrderOptions:
    settings = context.adapters.settings
    return OrderOptions(
        settings.currency.base, settings.currency.rates, context.adapters.zone, context.clock()
    )


@bp.post("/webhooks/responses")
def responses() -> ResponseReturnValue:
    """Purchases and code redemptions of a shop: ``{"source": "shop", "events": [...]}``."""
    context = engine_context()
    text, payload = _envelope(context.adapters.settings.webhooks.responses_secret)
    shop = payload.get("source")
    if not isinstance(shop, str) or not shop.strip():
        abort(400, "source names the shop (its order ids are unique within it)")
    shop = shop.strip()
    customers = str(payload.get("customer_source") or shop)
    codes, options = codebook(context.adapters.settings), _options(context)

    def handle(unit: Any, store: SqlResponses, batch: Batch, rules: Any) -> Ingested:
        return ingest_shop(unit, store, batch, shop, customers, rules, codes, options)

    return _process(context, "responses", text, payload["events"], handle)


@bp.post("/webhooks/mail")
def mail() -> ResponseReturnValue:
    """Mail-house / print-API events (in_transit, delivered, re-routed, returned_to_sender)."""
    context = engine_context()
    text, payload = _envelope(context.adapters.settings.webhooks.mail_secret)
    codes = codebook(context.adapters.settings)

    def handle(unit: Any, store: SqlResponses, batch: Batch, rules: Any) -> Ingested:
        return ingest_mail(unit, store, batch, codes)

    return _process(context, "mail", text, payload["events"], handle)


@bp.post("/webhooks/calls")
def calls() -> ResponseReturnValue:
    """Call-centre dispositions with a send id or response code."""
    context = engine_context()
    text, payload = _envelope(context.adapters.settings.webhooks.calls_secret)
    codes, options = codebook(context.adapters.settings), _options(context)

    def handle(unit: Any, store: SqlResponses, batch: Batch, rules: Any) -> Ingested:
        return ingest_calls(unit, store, batch, rules, codes, options)

    return _process(context, "calls", text, payload["events"], handle)
