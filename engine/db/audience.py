"""Audience queries: the segment, screened for eligibility, counted in one pass.

`screened` labels every customer the segment matches with the first
exclusion reason that applies (or ``eligible``) in one CASE expression, so
the funnel is one grouped scan of customers; every test against another
table is an uncorrelated ``IN (subquery)`` evaluated once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)

from engine.core.campaign.assign import SplitRule
from engine.core.campaign.eligibility import (
    BUCKETS,
    ELIGIBLE,
    HOLDOUT_PRIME,
    AudienceRules,
    ChannelRule,
    Funnel,
    Overview,
)
from engine.db.assignment import assign_cells, hashed
from engine.db.models import Customer, CustomerMetrics, Order, Send, Suppression
from engine.db.segments import C, Compiler, M, granted, withdrawn
from engine.db.types import Big, Id

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


def contactable(rule: ChannelRule, rules: AudienceRules) -> Any:
    """Reachable, consented, not suppressed and under the cap on one channel."""
    tests = [reachable(rule.channel), _consented(rule), ~_suppressed(rule.channel)]
    if rule.cap_count >= 0:
        tests.append(~_capped(rule, rules))
    return and_(*tests)


def tuned(conn: Connection) -> None:
    """Session settings for one big screening transaction on PostgreSQL.

    work_mem lets the planner hash the consent and suppression lists (at the
    default 4 MB a NOT IN over 700k ids was re-scanned per customer), and JIT
    compilation, which the big cost estimates switch on, took 11 s of a plan.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")


@dataclass(frozen=True)
class SqlAudience:
    engine: Engine

    def funnel(self, rules: AudienceRules) -> Funnel:
        """Matched, excluded per reason (in order), eligible: one grouped scan."""
        labelled = screened(rules).subquery()
        query = select(labelled.c.reason, func.count()).group_by(labelled.c.reason)
        with self.engine.begin() as conn:
            tuned(conn)
            counts = dict(conn.execute(query).all())
        return _funnel(rules, counts)

    def overview(
        self,
        rules: AudienceRules,
        follow_ups: Sequence[ChannelRule],
        window: timedelta,
        split: SplitRule,
        samples: int,
    ) -> Overview:
        """Everything a plan needs from one screening pass into a temporary table.

        Screening a million customers is the expensive part (consent,
        suppression, caps and segment subqueries); doing it once and grouping
        the small result several ways is what keeps a plan within seconds.
        """
        buyer = exists().where(  # served by ix_orders_customer_time
            Order.customer_id == C.c.id,
            Order.ordered_at >= rules.now - window,
            Order.ordered_at < rules.now,
        )
        flags = [
            case((contactable(rule, rules), 1), else_=0).label(f"ok_{rule.channel}")
            for rule in follow_ups
        ]
        query = screened(rules, case((buyer, 1), else_=0).label("buyer"), *flags, *hashed(split))
        with self.engine.begin() as conn:
            tuned(conn)
            table = _scratch(conn, [rule.channel for rule in follow_ups])
            conn.execute(insert(table).from_select(list(query.selected_columns.keys()), query))
            counts = _grouped(conn, table, follow_ups)
            assigned = assign_cells(table, list(split.bounds), split.stratify_by)
            per_cell = (
                select(assigned.c.cell, func.count())
                .where(assigned.c.reason == ELIGIBLE)
                .group_by(assigned.c.cell)
            )
            cells = dict(conn.execute(per_cell).all())
            first = select(table.c.customer_id).where(table.c.reason == ELIGIBLE)
            found = _profiles(conn, first.order_by(table.c.customer_id).limit(samples))
            table.drop(conn)
        by_reason: dict[str, int] = {}
        for (reason_, *_), n in counts.items():
            by_reason[reason_] = by_reason.get(reason_, 0) + n
        eligible = {key[1:]: n for key, n in counts.items() if key[0] == ELIGIBLE}
        return Overview(
            funnel=_funnel(rules, by_reason),
            reach={
                rule.channel: sum(n for key, n in eligible.items() if key[1 + i])
                for i, rule in enumerate(follow_ups)
            },
            buyers=sum(n for key, n in eligible.items() if key[0]),
            cells={code: int(n) for code, n in cells.items()},
            samples=found,
        )


def _funnel(rules: AudienceRules, counts: dict[str, int]) -> Funnel:
    excluded = tuple((name, counts.get(name, 0)) for name in rules.reasons())
    return Funnel(sum(counts.values()), excluded, counts.get(ELIGIBLE, 0))


def _scratch(conn: Connection, channels: list[str]) -> Table:
    """A temporary table for one plan's screened audience (gone at commit)."""
    table = Table(
        "plan_screened",
        MetaData(),
        Column("customer_id", Id),
        Column("reason", String(64)),
        Column("buyer", Integer),
        *[Column(f"ok_{channel}", Integer) for channel in channels],
        Column("mixed", Big),
        Column("stratum", String(32)),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    return table


def _grouped(
    conn: Connection, table: Table, follow_ups: Sequence[ChannelRule]
) -> dict[tuple[Any, ...], int]:
    keys = [table.c.reason, table.c.buyer, *[table.c[f"ok_{r.channel}"] for r in follow_ups]]
    rows = conn.execute(select(*keys, func.count()).group_by(*keys)).all()
    return {tuple(row[:-1]): int(row[-1]) for row in rows}


def _profiles(conn: Connection, ids: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(customer, metrics) rows of the customers `ids` selects, in id order."""
    first = ids.subquery()
    customers = Customer.__table__
    query = (
        select(customers, *[col for col in M.c if col.name != "customer_id"])
        .join(first, first.c.customer_id == customers.c.id)
        .outerjoin(M, M.c.customer_id == customers.c.id)
        .order_by(customers.c.id)
    )
    metric_names = {col.name for col in CustomerMetrics.__table__.c}
    return [
        (
            {k: v for k, v in row.items() if k not in metric_names or k == "id"},
            {k: v for k, v in row.items() if k in metric_names},
        )
        for row in conn.execute(query).mappings()
    ]
