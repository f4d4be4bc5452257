"""The demo's callbacks: what providers, readers and the shop would send, through the real endpoints.

A seeded response model with a known lift drives it: SendGrid events
(processed, delivered, a few bounces and blocks), opens and clicks on the
pixel and links found in the sent e-mails, one inbound STOP, and purchases
by treated and control customers (some with their response code). Every
callback is signed as its sender signs it and posted to the Flask app, so
verification, storage, idempotency and attribution all run as in production.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from engine.bootstrap import Adapters
from engine.db.outbox import SqlOutboxReader
from engine.testing.signing import SendGridSigner, hmac_headers, twilio_headers
from engine.web import create_app
from engine.web.applier import StatusApplier
from engine.web.context import WebContext

# The known truth of the demo: purchase probability in the response window.
BUY: dict[str, float] = {"control": 0.04, "offer15": 0.07, "offer20": 0.09}
OPEN = {"offer15": 0.32, "offer20": 0.34}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
SLOT = timedelta(minutes=10)  # follow-up rules run after each slot of opens and clicks
_PIXEL = re.compile(r'src="([^"]*/t/o/[^"]+)"')
_CLICK = re.compile(r'href="([^"]*/t/c/[^"]+)"')


@dataclass
class DemoClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Simulated:
    posted: Counter[str]  # callbacks per endpoint
    answers: Counter[str]  # HTTP status per endpoint


def simulate(
    adapters: Adapters,
    campaign: str,
    seed: int,
    window: timedelta,
    tick: Callable[[datetime], None],
) -> Simulated:
    """Post the demo's callbacks for `campaign`; returns what was posted and answered.

    Opens and clicks come in time order, in 10-minute slots, and `tick(end of
    slot)` runs after each (the demo runs its follow-up rules and a dispatch
    pass there), so a reminder due 20 minutes after an open can go in time.
    """
    rng = random.Random(seed)
    signer = SendGridSigner()
    secrets = {"token": "demo-twilio-auth-token", "shop": "demo-shop-secret"}
    site = callback_site(adapters, signer, secrets)
    mails = SqlOutboxReader(adapters.engine).sent(campaign)
    posted, answers = Counter[str](), Counter[str]()

    def post(name: str, status: int) -> None:
        posted[name] += 1
        answers[f"{name} {status}"] += 1

    delivered = _sendgrid(site, signer, mails, rng, post)
    _engagement(site, [m for m in mails if m["send_id"] in delivered], rng, post, tick)
    _stop(site, secrets["token"], mails, rng, post)
    contacts = SqlOutboxReader(adapters.engine).contacts(campaign)
    sent = [m["sent_at"] for m in mails]
    if sent:  # inside every contact's window: after the last first send, before the first ends
        first, last = min(sent), max(sent) + timedelta(hours=1)
        _purchases(site, secrets["shop"], contacts, rng, (last, first + window), post)
    return Simulated(posted, answers)


@dataclass
class Site:
    """The web app on the demo's (or a simulation's) adapters, with its own clock."""

    client: FlaskClient
    clock: DemoClock
    public_url: str
    statuses: StatusApplier  # kept Twilio status callbacks wait for its `drain()`


def callback_site(adapters: Adapters, signer: SendGridSigner, secrets: dict[str, str]) -> Site:
    """The Flask app, configured to verify callbacks signed with `signer` and `secrets`.

    `secrets`: ``token`` (Twilio's auth token), ``shop`` (and optionally
    ``mail``) for the HMAC-signed business callbacks.
    """
    settings = adapters.settings
    hooks = settings.webhooks.model_copy(
        update={
            "sendgrid_public_key": signer.public_key,
            "responses_secret": secrets["shop"],
            "mail_secret": secrets.get("mail"),
        }
    )
    channels = settings.channels.model_copy(
        update={
            "twilio": settings.channels.twilio.model_copy(update={"auth_token": secrets["token"]})
        }
    )
    demo = replace(
        adapters, settings=settings.model_copy(update={"webhooks": hooks, "channels": channels})
    )
    clock = DemoClock(datetime.now().astimezone())
    app = create_app(adapters=demo, clock=clock, apply_in_background=False)
    context: WebContext = app.extensions["engine"]
    return Site(app.test_client(), clock, settings.sender.public_url.rstrip("/"), context.statuses)


def _sendgrid(
    site: Site, signer: SendGridSigner, mails: list[dict[str, Any]], rng: random.Random, post: Any
) -> set[int]:
    """processed + delivered (or a bounce or block) for every sent e-mail, in signed batches."""
    events, delivered = [], set()
    for mail in mails:
        at = int(mail["sent_at"].timestamp())
        base = {
            "email": mail["recipient"],
            "ce_send_id": str(mail["send_id"]),
            "ce_campaign": mail["campaign"],
        }
        events.append(
            {**base, "event": "processed", "timestamp": at, "sg_event_id": f"p{mail['send_id']}"}
        )
        fate = rng.random()
        if fate < 0.02:
            events.append(
                {
                    **base,
                    "event": "bounce",
                    "type": "bounce",
                    "reason": "550 5.1.1 no such user",
                    "timestamp": at + 4,
                    "sg_event_id": f"b{mail['send_id']}",
                }
            )
        elif fate < 0.03:
            events.append(
                {
                    **base,
                    "event": "bounce",
                    "type": "blocked",
                    "reason": "421 try later",
                    "timestamp": at + 4,
                    "sg_event_id": f"k{mail['send_id']}",
                }
            )
        else:
            delivered.add(int(mail["send_id"]))
            events.append(
                {
                    **base,
                    "event": "delivered",
                    "timestamp": at + 3,
                    "sg_event_id": f"d{mail['send_id']}",
                }
            )
    for batch in _chunks(events, 500):
        body = json.dumps(batch)
        site.clock.now = max(m["sent_at"] for m in mails) + timedelta(minutes=1)
        answer = site.client.post(
            "/webhooks/sendgrid",
            data=body,
            content_type="application/json",
            headers=signer.headers(body, str(int(site.clock.now.timestamp()))),
        )
        post("/webhooks/sendgrid", answer.status_code)
    return delivered


def _engagement(
    site: Site,
    mails: list[dict[str, Any]],
    rng: random.Random,
    post: Any,
    tick: Callable[[datetime], None],
) -> None:
    """Opens on the pixel and clicks on the links of delivered e-mails, as readers do."""
    hits: list[tuple[datetime, str, str]] = []
    for mail in mails:
        if rng.random() >= OPEN.get(mail["cell"], 0.3):
            continue
        opened = mail["sent_at"] + timedelta(minutes=rng.expovariate(1 / 90) + 1)
        pixel, links = _PIXEL.search(mail["html"] or ""), _CLICK.findall(mail["html"] or "")
        if pixel:
            hits.append((opened, "/t/o", _path(site, pixel[1])))
        if links and rng.random() < 0.3:
            clicked = opened + timedelta(minutes=rng.uniform(0.5, 5))
            hits.append((clicked, "/t/c", _path(site, links[0])))
    slot_end: datetime | None = None
    for at, name, path in sorted(hits):
        if slot_end is not None and at >= slot_end:
            tick(slot_end)
            slot_end = None
        slot_end = slot_end or at + SLOT
        site.clock.now = at
        post(name, site.client.get(path, headers={"User-Agent": BROWSER}).status_code)
    if slot_end is not None:
        tick(slot_end)


def _stop(
    site: Site, token: str, mails: list[dict[str, Any]], rng: random.Random, post: Any
) -> None:
    """One customer texts STOP to the sender (their later SMS nudge must not go)."""
    phones = [m["phone"] for m in mails if m["phone"]]
    if not phones:
        return
    path = "/webhooks/twilio/inbound"
    phone = rng.choice(phones)
    params = {
        "MessageSid": "SMdemo0001",
        "From": phone,
        "To": "+15005550006",
        "Body": "STOP",
        "NumSegments": "1",
    }
    site.clock.now = max(m["sent_at"] for m in mails) + timedelta(hours=2)
    answer = site.client.post(
        path, data=params, headers=twilio_headers(token, site.public_url + path, params)
    )
    post(path, answer.status_code)


def _purchases(
    site: Site,
    secret: str,
    contacts: list[dict[str, Any]],
    rng: random.Random,
    between: tuple[datetime, datetime],
    post: Any,
) -> None:
    """Purchases in the response window by treated and control customers, some with their code."""
    events = []
    span = (between[1] - between[0]).total_seconds()
    for contact in contacts:
        if rng.random() >= BUY.get(contact["cell"], 0.04):
            continue
        at = between[0] + timedelta(seconds=rng.uniform(0, span))
        event = {
            "type": "purchase",
            "order_id": f"DEMO-{contact['contact_id']}",
            "customer": {"external_id": contact["external_id"]},
            "occurred_at": at.isoformat(),
            "amount": f"{rng.lognormvariate(5.3, 0.5):.2f}",
            "currency": "CNY",
        }
        if contact["cell"] != "control" and rng.random() < 0.5:
            event["code"] = contact["response_code"]  # typed at checkout
        events.append(event)
    site.clock.now = between[1]
    for batch in _chunks(events, 500):
        body = json.dumps(
            {"source": "shop", "customer_source": "internal", "events": batch}
        ).encode()
        answer = site.client.post(
            "/webhooks/responses",
            data=body,
            content_type="application/json",
            headers=hmac_headers(secret, body),
        )
        post("/webhooks/responses", answer.status_code)


def _path(site: Site, url: str) -> str:
    return url.replace("&amp;", "&").removeprefix(site.public_url)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
