"""What outcomes do besides settling sends: suppress, opt out, pause, alert.

Written in the same transaction per batch, so a STOP that Twilio reported
at create time (21610) is in the consent ledger before the next claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, update

from engine.core.sending.due import ADDRESS_KIND, Due
from engine.core.sending.message import Outcome
from engine.core.sending.states import counts_as_provider_error
from engine.db.models import Alert, Campaign
from engine.db.optouts import set_consent, suppress


@dataclass(frozen=True)
class SqlEffects:
    engine: Engine
    source: str = "dispatcher"

    def apply(
        self, results: Sequence[tuple[Due, Outcome]], now: datetime, pause_after: int
    ) -> list[tuple[int, str]]:
        """Apply side effects of `results`; returns (campaign id, reason) of campaigns paused."""
        paused: list[tuple[int, str]] = []
        with self.engine.begin() as conn:
            for due, outcome in results:
                self._one(conn, due, outcome, now)
                if outcome.pause and pause_campaign(conn, due.campaign_id, outcome.pause, now):
                    paused.append((due.campaign_id, outcome.pause))
            for campaign_id, outcomes in _by_campaign(results).items():
                reason = _count_errors(conn, campaign_id, outcomes, pause_after, now)
                if reason:
                    paused.append((campaign_id, reason))
        return paused

    def _one(self, conn: Connection, due: Due, outcome: Outcome, now: datetime) -> None:
        customer, why = due.customer["id"], outcome.error or outcome.kind
        address = due.address()
        if outcome.suppress and address:
            kind = ADDRESS_KIND[outcome.suppress]
            suppress(conn, outcome.suppress, kind, address, customer, why, self.source, now)
        if outcome.opt_out:
            evidence = f"send {due.send_id}: {why}"
            set_consent(conn, customer, due.channel, "withdrawn", self.source, evidence, now)
        if outcome.alert:
            record_alert(conn, due.campaign_id, due.send_id, due.channel, outcome.alert, now)


def _by_campaign(results: Sequence[tuple[Due, Outcome]]) -> dict[int, list[Outcome]]:
    grouped: dict[int, list[Outcome]] = {}
    for due, outcome in results:
        grouped.setdefault(due.campaign_id, []).append(outcome)
    return grouped


def record_alert(
    conn: Connection,
    campaign_id: int | None,
    send_id: int | None,
    kind: str,
    text: str,
    now: datetime,
) -> None:
    """An alert for an operator (carrier filtering, a paused campaign)."""
    conn.execute(
        insert(Alert).values(
            created_at=now, campaign_id=campaign_id, send_id=send_id, kind=kind, message=text[:1000]
        )
    )


def pause_campaign(conn: Connection, campaign_id: int, reason: str, now: datetime) -> str:
    """Pause a running campaign (dispatcher and webhooks); returns the reason, or '' if not running."""
    done = conn.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "running")
        .values(status="paused", status_reason=reason[:500], updated_at=now)
    ).rowcount
    if done:
        record_alert(conn, campaign_id, None, "paused", reason, now)
    return reason if done else ""


def _count_errors(
    conn: Connection, campaign_id: int, outcomes: list[Outcome], limit: int, now: datetime
) -> str:
    """Keep the count of provider errors in a row; pause the campaign at `limit`."""
    trailing = 0
    for outcome in outcomes:
        trailing = trailing + 1 if counts_as_provider_error(outcome) else 0
    success = any(outcome.kind == "sent" for outcome in outcomes)
    value = trailing if success else Campaign.provider_errors + trailing
    if not success and trailing == 0:
        return ""
    errors = conn.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(provider_errors=value)
        .returning(Campaign.provider_errors)
    ).scalar_one()
    if errors < limit:
        return ""
    last = next(o.error for o in reversed(outcomes) if counts_as_provider_error(o))
    return pause_campaign(
        conn, campaign_id, f"{errors} provider errors in a row; last: {last}", now
    )
