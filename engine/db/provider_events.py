"""Provider callbacks (SendGrid events, Twilio status and inbound) written in one unit of work.

`SqlProviderEvents.unit()` wraps the event ledger's transaction
(`engine.db.ledger`) and adds the joins and effects the webhooks need:
finding a send from provider ids, reconciling `unknown` sends, consent,
suppressions, responses, alerts and the complaint pause. Everything a unit
does commits together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from engine.core.sending.due import SuppressionKind, suppression_token
from engine.core.tracking.events import NewEvent
from engine.db import kept
from engine.db.dispatch import reconcile_sends
from engine.db.effects import pause_campaign, record_alert
from engine.db.kept import Kept
from engine.db.ledger import LedgerUnit, Recorded, SendRef, SqlLedger
from engine.db.models import Customer, Event, Send, Suppression
from engine.db.optouts import customers_by, set_consents, suppress_new, withdrawn_customers
from engine.db.responses import insert_responses

__all__ = ["Kept", "ProviderUnit", "Recorded", "SendRef", "SmsContact", "SqlProviderEvents"]


@dataclass(frozen=True, slots=True)
class SmsContact:
    """The latest SMS we sent to a phone: the send and its contact, campaign and customer."""

    send_id: int
    contact_id: int
    campaign_id: int
    customer_id: int


@dataclass(frozen=True)
class SqlProviderEvents:
    engine: Engine

    def store_batch(self, source: str, body: str, headers: dict[str, str], now: datetime) -> int:
        """Keep the verified raw body durably (own transaction); returns its batch id."""
        return SqlLedger(self.engine).store_batch(source, body, headers, now)

    def keep(self, source: str, body: str, headers: dict[str, str], now: datetime) -> int:
        """Keep a verified callback to be applied later (one autocommitted statement)."""
        return kept.keep(self.engine, source, body, headers, now)

    @contextmanager
    def claimed(
        self, source: str, limit: int, now: datetime, before: datetime | None = None
    ) -> Iterator[tuple[list[Kept], ProviderUnit]]:
        """ONE transaction applying up to `limit` kept callbacks of `source` (received
        `before`, if given), oldest first."""
        with SqlLedger(self.engine).unit() as ledger:
            yield kept.claim(ledger.conn, source, limit, now, before), ProviderUnit(ledger)

    @contextmanager
    def unit(self) -> Iterator[ProviderUnit]:
        """One transaction for processing one stored batch."""
        with SqlLedger(self.engine).unit() as ledger:
            yield ProviderUnit(ledger)

    @contextmanager
    def stored(
        self, source: str, body: str, headers: dict[str, str], now: datetime, expect: int = 1
    ) -> Iterator[tuple[int, ProviderUnit]]:
        """ONE transaction that stores the raw body and processes it: (batch id, unit).

        Both commit together before the caller answers, so the body is
        durable before the 2xx at half the round trips of storing first.
        The batch row is written as processed with `expect` events (what a
        callback usually records; `finish_batch` corrects it otherwise).
        Should processing fail, the transaction rolls back and the body is
        stored on its own (``received``, to be processed again) before the
        error goes on: an accepted callback is never lost.
        """
        try:
            with SqlLedger(self.engine).unit() as ledger:
                batch_id = ledger.store_batch(source, body, headers, now, expect)
                yield batch_id, ProviderUnit(ledger)
        except Exception:
            self.store_batch(source, body, headers, now)
            raise


@dataclass(frozen=True)
class ProviderUnit:
    ledger: LedgerUnit

    @property
    def conn(self) -> Connection:
        return self.ledger.conn

    def record(
        self,
        events: Sequence[NewEvent],
        now: datetime,
        batch_id: int | None,
        batch_ids: Sequence[int] | None = None,
    ) -> list[Recorded]:
        """Record events new to the ledger; returns only those (effects are for them)."""
        return self.ledger.record(events, now, batch_id, batch_ids)

    def count_events(self, events: Mapping[int, int]) -> None:
        kept.count_events(self.conn, events)

    def quarantine(
        self, batch_id: int, source: str, position: int, reason: str, raw: str, now: datetime
    ) -> None:
        self.ledger.quarantine(batch_id, source, position, reason, raw, now)

    def finish_batch(self, batch_id: int, events: int, quarantined: int, now: datetime) -> None:
        self.ledger.finish_batch(batch_id, events, quarantined, now)

    def sends(self, ids: Collection[int], channel: str) -> dict[int, SendRef]:
        """The sends with these ids on `channel` (others are absent)."""
        return {i: ref for i, ref in self.ledger.sends(list(ids)).items() if ref.channel == channel}

    def sends_by_message(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """(X-Message-Id, e-mail) -> send id of the e-mail sends of those Mail Send requests.

        One request carries up to 1000 recipients with one X-Message-Id, so
        the address picks the send among them. No index on
        provider_message_id: only events without our custom args get here.
        """
        ids = sorted({mid for mid, _ in pairs})
        if not ids:
            return {}
        rows = self.conn.execute(
            select(Send.provider_message_id, Customer.email, Send.id)
            .join(Customer, Customer.id == Send.customer_id)
            .where(Send.provider_message_id.in_(ids), Send.channel == "email")
        )
        return {(str(mid), str(email).lower()): int(sid) for mid, email, sid in rows if email}

    def email_sends_to(self, emails: Collection[str]) -> dict[str, list[tuple[datetime, int]]]:
        """E-mail -> (sent at, send id) of every e-mail send that went to it, oldest first.

        For asynchronous bounces, which carry neither our args nor a message id.
        """
        if not emails:
            return {}
        rows = self.conn.execute(
            select(Customer.email, Send.sent_at, Send.id)
            .join(Customer, Customer.id == Send.customer_id)
            .where(
                Customer.email.in_(sorted(set(emails))),
                Send.channel == "email",
                Send.sent_at.is_not(None),
            )
            .order_by(Send.sent_at, Send.id)
        )
        found: dict[str, list[tuple[datetime, int]]] = {}
        for email, sent_at, sid in rows:
            found.setdefault(str(email).lower(), []).append((sent_at, int(sid)))
        return found

    def sms_sends_by_sid(self, sids: Collection[str]) -> dict[str, int]:
        """MessageSid -> send id, for callbacks whose URL lost its ``send`` query."""
        if not sids:
            return {}
        rows = self.conn.execute(
            select(Send.provider_message_id, Send.id).where(
                Send.provider_message_id.in_(sorted(set(sids))), Send.channel == "sms"
            )
        )
        return {str(sid): int(send_id) for sid, send_id in rows}

    def reconcile(self, sightings: Iterable[tuple[int, str | None]], now: datetime) -> int:
        """`unknown`/`sending` sends the provider reported on become `sent` (the dispatcher's SQL)."""
        return reconcile_sends(self.conn, sightings, now)

    def customers_with(self, field: str, values: Collection[str]) -> dict[str, list[int]]:
        """Customer ids per e-mail or phone."""
        return customers_by(self.conn, field, values) if values else {}

    def set_consent(
        self, customers: Iterable[int], channel: str, status: str, evidence: str, now: datetime
    ) -> bool:
        """Append `status` for each customer whose latest word differs; True when any changed."""
        return self.set_consents(
            dict.fromkeys(sorted(set(customers)), evidence), channel, status, now
        )

    def set_consents(
        self, evidence: Mapping[int, str], channel: str, status: str, now: datetime
    ) -> bool:
        """`set_consent` with one piece of evidence per customer, in two statements."""
        return bool(set_consents(self.conn, evidence, channel, status, "webhook", now))

    def suppress(
        self,
        channel: str,
        kind: SuppressionKind,
        value: str,
        customer_id: int | None,
        reason: str,
        source: str,
        now: datetime,
    ) -> bool:
        """Suppress an address for `reason` unless it already is; True when written."""
        return self.suppress_all(channel, kind, {value: customer_id}, reason, source, now) > 0

    def suppress_all(
        self,
        channel: str,
        kind: SuppressionKind,
        values: Mapping[str, int | None],
        reason: str,
        source: str,
        now: datetime,
    ) -> int:
        """Suppress each address (value -> customer) not yet suppressed for `reason`; how many."""
        return len(suppress_new(self.conn, channel, kind, values, reason, source, now))

    def lift(self, channel: str, kind: SuppressionKind, value: str, reason: str) -> int:
        """Remove the suppressions of an address for `reason` only (a STOP undone by START).

        Suppressions for other reasons (unknown number, landline, do-not-call)
        stay. The consent ledger keeps the history of both words.
        """
        return int(
            self.conn.execute(
                delete(Suppression).where(*_for_reason(channel, kind, value, reason))
            ).rowcount
        )

    def opted_out(
        self,
        customers: Collection[int],
        channel: str,
        kind: SuppressionKind,
        value: str,
        reason: str,
    ) -> bool:
        """True when any of `customers` withdrew consent last, or the address is suppressed for `reason`."""
        if self._suppressed(channel, kind, value, reason):
            return True
        if not customers:
            return False
        return bool(withdrawn_customers(self.conn, channel, customers))

    def latest_sms(self, customers: Collection[int]) -> SmsContact | None:
        """The newest SMS that went to any of `customers` (ix_sends_customer_channel)."""
        if not customers:
            return None
        row = self.conn.execute(
            select(Send.id, Send.contact_id, Send.campaign_id, Send.customer_id)
            .where(
                Send.customer_id.in_(sorted(set(customers))),
                Send.channel == "sms",
                Send.state.in_(("sent", "unknown")),
            )
            .order_by(Send.due_at.desc(), Send.id.desc())
            .limit(1)
        ).first()
        return SmsContact(*row) if row else None

    def responses(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert responses once per (source, source_ref, kind); returns the new ids."""
        return insert_responses(self.conn, rows)

    def alert(
        self, campaign_id: int | None, send_id: int | None, kind: str, text: str, now: datetime
    ) -> None:
        record_alert(self.conn, campaign_id, send_id, kind, text, now)

    def complaint_counts(self, campaigns: Collection[int]) -> dict[int, tuple[int, int]]:
        """Campaign -> (spam complaints, e-mails sent) for the complaint guard.

        Complaints read ix_events_campaign_kind; sent e-mails are counted
        only for campaigns that just got a complaint.
        """
        ids = sorted(set(campaigns))
        if not ids:
            return {}
        complaints = dict(
            self.conn.execute(
                select(Event.campaign_id, func.count())
                .where(Event.campaign_id.in_(ids), Event.kind == "complained")
                .group_by(Event.campaign_id)
            ).all()
        )
        sent = dict(
            self.conn.execute(
                select(Send.campaign_id, func.count())
                .where(Send.campaign_id.in_(ids), Send.channel == "email", Send.state == "sent")
                .group_by(Send.campaign_id)
            ).all()
        )
        return {i: (int(complaints.get(i, 0)), int(sent.get(i, 0))) for i in ids}

    def pause(self, campaign_id: int, reason: str, now: datetime) -> str:
        """Pause a running campaign as the dispatcher does; returns the reason ('' if not running)."""
        return pause_campaign(self.conn, campaign_id, reason, now)

    def _suppressed(self, channel: str, kind: SuppressionKind, value: str, reason: str) -> bool:
        query = select(Suppression.id).where(*_for_reason(channel, kind, value, reason))
        return self.conn.execute(query.limit(1)).first() is not None


def _for_reason(channel: str, kind: SuppressionKind, value: str, reason: str) -> tuple[Any, ...]:
    """The suppressions of one address on `channel` for `reason` (ix on token_hash)."""
    return (
        Suppression.channel == channel,
        Suppression.token_hash == suppression_token(kind, value),
        Suppression.reason == reason,
    )
