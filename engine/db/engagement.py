"""SQL of our own tracking endpoints: the send behind a token, its events, an unsubscribe.

Events go through the ledger (`engine.db.ledger`): inserted once per key,
so a refresh storm or a second unsubscribe changes nothing. An unsubscribe
writes the consent ledger and its event in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from engine.core.tracking.engagement import Subscription, Tracked, mask_address
from engine.core.tracking.events import NewEvent
from engine.db.ledger import SqlLedger
from engine.db.links import SqlLinks
from engine.db.models import Customer, Send
from engine.db.optouts import latest_consent, set_consent


@dataclass(frozen=True)
class SqlEngagement:
    engine: Engine

    def record_for(
        self, send_id: int, events_of: Callable[[Tracked], Sequence[NewEvent]], now: datetime
    ) -> int | None:
        """Record the events `events_of` makes of the send, in one transaction.

        Returns how many were new to the ledger (None: there is no such send).
        The send is read in the same transaction the events are written in,
        so what is decided about it (machine open, implied open) is decided
        on what is stored.
        """
        query = select(
            Send.id, Send.customer_id, Send.channel, Send.sent_at, Send.opened_at.is_not(None)
        ).where(Send.id == send_id)
        with SqlLedger(self.engine).unit() as unit:
            row = unit.conn.execute(query).first()
            if row is None:
                return None
            return len(unit.record(events_of(Tracked(*row)), now))

    def destination(self, link_id: int) -> str | None:
        """Where a click on `link_id` goes (None for an unknown link)."""
        return SqlLinks(self.engine).destination(link_id)

    def subscription(self, send_id: int) -> Subscription | None:
        """The recipient of a send as the unsubscribe page shows it (masked address)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Send.customer_id, Send.channel, Customer.email)
                .join(Customer, Customer.id == Send.customer_id)
                .where(Send.id == send_id)
            ).first()
            if row is None:
                return None
            customer_id, channel, email = row
            status = latest_consent(conn, customer_id, channel)
        return Subscription(
            send_id, customer_id, channel, mask_address(email), status != "withdrawn"
        )

    def unsubscribe(
        self, send: Subscription, event: NewEvent, evidence: str, now: datetime
    ) -> bool:
        """Withdraw consent on the send's channel and record `event`, in one transaction.

        Returns True when the consent ledger changed (False: already withdrawn).
        """
        with SqlLedger(self.engine).unit() as unit:
            changed = set_consent(
                unit.conn, send.customer_id, send.channel, "withdrawn", "unsubscribe", evidence, now
            )
            unit.record([event], now)
        return changed
