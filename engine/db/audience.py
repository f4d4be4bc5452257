"""Audience queries: the segment, screened for eligibility, counted in one pass.

`screened` labels every customer the segment matches with the first
exclusion reason that applies (or ``eligible``) in one CASE expression, so
the funnel is one grouped scan of customers; every test against another
table is an uncorrelated ``IN (subquery)`` evaluated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Select, and_, case, func, literal, or_, select, true

from engine.core.campaign.eligibility import (
    BUCKETS,
    ELIGIBLE,
    HOLDOUT_PRIME,
    AudienceRules,
    ChannelRule,
    Funnel,
)
from engine.db.models import Customer, CustomerMetrics, Order, Send, Suppression
from engine.db.segments import C, Compiler, M, granted, withdrawn

COUNTED_STATES = ("queued", "sending", "sent", "unknown")  # what a frequency cap counts


def reachable(channel: str) -> Any:
    """The customer has an address for `channel` (phones are E.164 from import)."""
    present = {
        "email": C.c.email.is_not(None),
        "sms": C.c.phone.is_not(None),
        "call": C.c.phone.is_not(None),
        "mail": and_(
            C.c.address_line1.is_not(None),
            or_(C.c.postal_code.is_not(None), C.c.city.is_not(None)),
            C.c.country.is_not(None),
        ),
    }
    return present[channel]


def _consented(rule: ChannelRule) -> Any:
    if rule.consent == "opt_in":
        return C.c.id.in_(granted(rule.channel))
    return C.c.id.not_in(withdrawn(rule.channel))


def _suppressed(channel: str) -> Any:
    return C.c.id.in_(
        select(Suppression.customer_id).where(
            Suppression.customer_id.is_not(None), Suppression.channel.in_((channel, "all"))
        )
    )


def _capped(rule: ChannelRule, rules: AudienceRules) -> Any:
    """Customers who already had `cap_count` messages on the channel in the period."""
    if rule.cap_count == 0:  # a cap of zero closes the channel
        return true()
    recent = (
        select(Send.customer_id)
        .where(
            Send.channel == rule.channel,
            Send.state.in_(COUNTED_STATES),
            Send.due_at > rules.now - timedelta(days=rule.cap_days),
        )
        .group_by(Send.customer_id)
        .having(func.count() >= rule.cap_count)
    )
    return C.c.id.in_(recent)


def _holdout(rules: AudienceRules) -> Any:
    a, b, threshold = rules.holdout.params
    bucket = (C.c.id * literal(a) + literal(b)) % HOLDOUT_PRIME % BUCKETS
    return bucket < threshold


def reason(rules: AudienceRules) -> Any:
    """CASE expression naming the first exclusion that applies, else 'eligible'."""
    whens: list[tuple[Any, str]] = []
    for rule in rules.channels:
        whens += [
            (~reachable(rule.channel), f"unreachable_{rule.channel}"),
            (~_consented(rule), f"no_consent_{rule.channel}"),
            (_suppressed(rule.channel), f"suppressed_{rule.channel}"),
        ]
    if rules.holdout.share > 0:
        whens.append((_holdout(rules), "global_holdout"))
    whens += [
        (_capped(rule, rules), f"frequency_cap_{rule.channel}")
        for rule in rules.channels
        if rule.cap_count >= 0
    ]
    return case(*whens, else_=literal(ELIGIBLE)) if whens else literal(ELIGIBLE)


def screened(rules: AudienceRules, *extra: Any) -> Select[Any]:
    """(customer id, reason, *extra) for every customer the segment matches."""
    where = Compiler(rules.now, rules.zone).where(rules.segment)
    return (
        select(C.c.id.label("customer_id"), reason(rules).label("reason"), *extra)
        .select_from(C.outerjoin(M, M.c.customer_id == C.c.id))
        .where(where)
    )


@dataclass(frozen=True)
class SqlAudience:
    engine: Engine

    def funnel(self, rules: AudienceRules) -> Funnel:
        """Matched, excluded per reason (in order), eligible: one grouped scan."""
        labelled = screened(rules).subquery()
        query = select(labelled.c.reason, func.count()).group_by(labelled.c.reason)
        with self.engine.connect() as conn:
            counts = dict(conn.execute(query).all())
        excluded = tuple((name, counts.get(name, 0)) for name in rules.reasons())
        return Funnel(sum(counts.values()), excluded, counts.get(ELIGIBLE, 0))

    def recent_buyers(self, rules: AudienceRules, window: timedelta) -> int:
        """Eligible customers with an order in the last `window` (baseline response rate)."""
        labelled = screened(rules).subquery()
        buyers = select(Order.customer_id).where(
            Order.ordered_at >= rules.now - window, Order.ordered_at < rules.now
        )
        query = (
            select(func.count())
            .select_from(labelled)
            .where(labelled.c.reason == ELIGIBLE, labelled.c.customer_id.in_(buyers))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def samples(
        self, rules: AudienceRules, limit: int
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(customer, metrics) of the first `limit` eligible customers, for sample messages."""
        # lowest ids first: the same samples on every run
        eligible = screened(rules).where(reason(rules) == ELIGIBLE)
        labelled = eligible.order_by(C.c.id).limit(limit).subquery()
        customers = Customer.__table__
        query = (
            select(customers, *[col for col in M.c if col.name != "customer_id"])
            .join(labelled, labelled.c.customer_id == customers.c.id)
            .outerjoin(M, M.c.customer_id == customers.c.id)
            .order_by(customers.c.id)
        )
        metric_names = {col.name for col in CustomerMetrics.__table__.c}
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            (
                {k: v for k, v in row.items() if k not in metric_names or k == "id"},
                {k: v for k, v in row.items() if k in metric_names},
            )
            for row in rows
        ]
