"""A simulation's reactions as the callbacks providers, readers and the shop would send.

Each reaction becomes the request its real sender makes, signed as that
sender signs it, posted to the Flask app on the throwaway database (the
demo's `callback_site`): SendGrid Event Webhook batches for e-mail, Twilio
status callbacks and inbound texts (STOP, replies) for SMS, mail-house
events for postal mail, shop purchases carrying the contact's response
code for every response. Verification, the ledger, opt-outs, suppressions
and attribution therefore run exactly as in production.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.bootstrap import Adapters
from engine.cli.demo_callbacks import callback_site
from engine.core.simulation.reactions import Planned
from engine.testing.signing import SendGridSigner, hmac_headers, twilio_headers

SECRETS = {"token": "simulation-twilio-token", "shop": "simulation-shop", "mail": "simulation-mail"}
SHOP = "simulation"  # the shop name of simulated purchases (their order ids are unique in it)
SENDGRID_EVENTS = {
    "delivered": {"event": "delivered"},
    "bounced": {
        "event": "bounce",
        "type": "bounce",
        "reason": "550 5.1.1 user unknown (simulated)",
    },
    "opened": {"event": "open", "sg_machine_open": False},
    "clicked": {"event": "click", "url": "https://simulated.invalid/"},
    "unsubscribed": {"event": "unsubscribe"},
}
INBOUND = {"replied": "Thanks, sounds good", "unsubscribed": "STOP"}


class WebCallbacks:
    """Posts planned reactions to the web app; `answers` counts (endpoint, HTTP status)."""

    def __init__(self, adapters: Adapters, order_value: Decimal) -> None:
        self.signer = SendGridSigner()
        self.site = callback_site(adapters, self.signer, SECRETS)
        self.prefix = adapters.settings.channels.sendgrid.custom_args_prefix
        self.currency = adapters.settings.currency.base
        self.order_value = f"{order_value:.2f}"
        self.answers: Counter[tuple[str, int]] = Counter()

    def post(self, planned: Sequence[Planned], now: datetime) -> None:
        email = [p for p in planned if p.message.channel == "email" and p.kind in SENDGRID_EVENTS]
        if email:
            self._sendgrid(email, now)
        for p in planned:
            if p.message.channel == "sms" and p.kind in ("delivered", "bounced"):
                self._twilio_status(p)
            elif p.message.channel == "sms" and p.kind in INBOUND:
                self._twilio_inbound(p)
        self.site.statuses.drain()  # applied at this moment of the simulation
        mail = [p for p in planned if p.message.channel == "mail" and p.kind != "responded"]
        if mail:
            self._mail(mail, now)
        self._purchases([p for p in planned if p.kind == "responded"], now)

    def _sendgrid(self, planned: list[Planned], now: datetime) -> None:
        events = []
        for p in planned:
            m = p.message
            events.append(
                {
                    **SENDGRID_EVENTS[p.kind],
                    "email": m.recipient,
                    "timestamp": int(p.at.timestamp()),
                    "sg_event_id": f"sim-{p.kind}-{m.send_id}",
                    f"{self.prefix}send_id": str(m.send_id),
                }
            )
        body = json.dumps(events)
        headers = self.signer.headers(body, str(int(now.timestamp())))
        self._at(now, "/webhooks/sendgrid", data=body, headers=headers, type="application/json")

    def _twilio_status(self, p: Planned) -> None:
        m = p.message
        params = {
            "MessageSid": f"SMsim{m.send_id}",
            "MessageStatus": "delivered" if p.kind == "delivered" else "undelivered",
            "To": m.recipient or "",
            **({"ErrorCode": "30005"} if p.kind == "bounced" else {}),
        }
        path = f"/webhooks/twilio/status?send={m.send_id}"
        headers = twilio_headers(SECRETS["token"], self.site.public_url + path, params)
        self._at(p.at, path, data=params, headers=headers)

    def _twilio_inbound(self, p: Planned) -> None:
        m = p.message
        params = {
            "MessageSid": f"SMsim{m.send_id}{p.kind}",
            "From": m.recipient or "",
            "To": "+15005550006",
            "Body": INBOUND[p.kind],
            "NumSegments": "1",
        }
        path = "/webhooks/twilio/inbound"
        headers = twilio_headers(SECRETS["token"], self.site.public_url + path, params)
        self._at(p.at, path, data=params, headers=headers)

    def _mail(self, planned: list[Planned], now: datetime) -> None:
        events = [
            {
                "type": "delivered" if p.kind == "delivered" else "returned_to_sender",
                "send_id": str(p.message.send_id),
                "occurred_at": p.at.isoformat(),
            }
            for p in planned
        ]
        self._business("/webhooks/mail", {"events": events}, SECRETS["mail"], now)

    def _purchases(self, planned: list[Planned], now: datetime) -> None:
        by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in planned:
            m = p.message
            if m.customer_source is None or m.customer_ref is None:
                continue  # a customer the shop cannot name (no external id)
            by_source[m.customer_source].append(
                {
                    "type": "purchase",
                    "order_id": f"SIM-{m.send_id}",
                    "customer": {"external_id": m.customer_ref},
                    "occurred_at": p.at.isoformat(),
                    "amount": self.order_value,
                    "currency": self.currency,
                    **({"code": m.response_code} if m.response_code else {}),
                }
            )
        for source, events in sorted(by_source.items()):
            payload = {"source": SHOP, "customer_source": source, "events": events}
            self._business("/webhooks/responses", payload, SECRETS["shop"], now)

    def _business(self, path: str, payload: dict[str, Any], secret: str, now: datetime) -> None:
        body = json.dumps(payload).encode()
        headers = hmac_headers(secret, body)
        self._at(now, path, data=body, headers=headers, type="application/json")

    def _at(self, now: datetime, path: str, *, type: str | None = None, **request: Any) -> None:
        self.site.clock.now = now
        answer = self.site.client.post(path, content_type=type, **request)
        self.answers[(path.split("?")[0], answer.status_code)] += 1
