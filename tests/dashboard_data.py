"""A launched campaign with sends, opens, clicks and responses, and dashboard users, for the dashboard tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import select, update

from engine.bootstrap import Adapters
from engine.db.models import Alert, Campaign, Contact, Customer, Send
from engine.db.responses import insert_responses
from engine.web.auth import password_hash, token_digest

from .fakes import FakeChannel, FakeClock
from .test_dispatch import EMAIL, OPEN, dispatch, launch, people

KEY = "mail-test"
USER, PASSWORD = "ana", "correct horse battery"
TOKEN = "test-api-token-0123456789"
SECRET = "s" * 48
REPORT_AT = OPEN + timedelta(days=12)  # inside the 30-day response window
CAMPAIGN = EMAIL + "costs:\n  email: 0.8\n"  # 0.80 CNY per e-mail that went


@cache
def _hash() -> str:
    return password_hash(PASSWORD)


def dashboard_config(secure: bool = False) -> dict[str, Any]:
    """The `dashboard` section: one user, one token, a fixed key (Secure off for http tests)."""
    return {
        "users": {USER: _hash()},
        "tokens": {"ci": token_digest(TOKEN)},
        "secret_key": SECRET,
        "session_cookie_secure": secure,
    }


@dataclass(frozen=True)
class Launched:
    customer_id: int  # a treated customer with a send, an open, a click and a purchase
    email: str


def campaign_with_responses(adapters: Adapters, n: int = 60) -> Launched:
    """`n` customers, the mail-test campaign sent at OPEN, engagement and responses over days.

    Every send was delivered, every other one opened, every fourth clicked.

    Every third treated contact and every sixth control contact bought, on
    day 1, 2 or 3 after the send, for 100.00 to 300.00 of the base currency.
    """
    people(adapters, n)
    launch(adapters, CAMPAIGN)
    dispatch(adapters, FakeClock(OPEN), FakeChannel("email"))
    with adapters.engine.begin() as conn:
        campaign_id = conn.execute(select(Campaign.id).where(Campaign.key == KEY)).scalar_one()
        contacts = conn.execute(
            select(Contact.id, Contact.customer_id, Contact.status).order_by(Contact.id)
        ).all()
        treated = [c for c in contacts if c.status == "treated"]
        control = [c for c in contacts if c.status == "held_out"]
        buyers = treated[::3] + control[::6]
        first = treated[0]
        conn.execute(update(Send).values(delivery="delivered", delivery_at=OPEN))
        conn.execute(update(Send).where(Send.id % 2 == 1).values(opened_at=OPEN))
        conn.execute(update(Send).where(Send.id % 4 == 1).values(clicked_at=OPEN))
        conn.execute(
            update(Send).where(Send.contact_id == first.id).values(opened_at=OPEN, clicked_at=OPEN)
        )
        conn.execute(
            Alert.__table__.insert(),
            [
                {
                    "created_at": OPEN,
                    "campaign_id": campaign_id,
                    "kind": "paused",
                    "message": "test alert",
                }
            ],
        )
        insert_responses(conn, [_purchase(c, campaign_id, i) for i, c in enumerate(buyers)])
        email = conn.execute(select(Customer.email).where(Customer.id == first.customer_id))
        return Launched(first.customer_id, email.scalar_one())


def _purchase(contact: Any, campaign_id: int, i: int) -> dict[str, Any]:
    at = OPEN + timedelta(days=i % 7, hours=3 + i % 5)
    return {
        "source": "shop",
        "source_ref": f"order-{i}",
        "kind": "purchase",
        "customer_id": contact.customer_id,
        "contact_id": contact.id,
        "campaign_id": campaign_id,
        "attribution": "inferred",
        "occurred_at": at,
        "recorded_at": at,
        "value_cents": 10_000 * (1 + i % 3),
        "detail": {},
    }
