"""Follow-up passes: one set-based INSERT .. SELECT per rule, from a watermark.

Each rule keeps a row in `followup_marks`: the last event (or response) id it
has read and the `now` of its last pass. A pass reads only what is new since
then (events by primary key; source sends by ix_sends_step_sent; entrants by
ix_contacts_campaign_entered), so a pass with nothing due costs a few index
probes whatever the number of pending contacts. Sends are inserted only
where the (contact, step) key is free and the rule's other branch (event vs
else) was not taken; PostgreSQL also says ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    case,
    exists,
    func,
    literal,
    null,
    select,
)
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from engine.core.followups.rules import Fired, FollowupOptions, Rule, Window, send_window
from engine.db.models import Cell, Contact, Event, FollowupMark, Response, Send
from engine.db.timeshift import plus
from engine.db.types import UTCDateTime

SOURCE = aliased(Send, name="source")
TAKEN = aliased(Send, name="taken")
COLUMNS = [
    "contact_id",
    "campaign_id",
    "customer_id",
    "step",
    "channel",
    "due_at",
    "expires_at",
    "state",
    "last_error",
    "attempts",
    "created_at",
    "updated_at",
]


@dataclass(frozen=True)
class SqlFollowups:
    engine: Engine

    def run(self, rule: Rule, now: datetime, options: FollowupOptions) -> Fired:
        """One pass of `rule` at `now` in one transaction; returns what it queued."""
        with self.engine.begin() as conn:
            mark = conn.execute(
                select(FollowupMark.event_id, FollowupMark.checked_at).where(
                    FollowupMark.campaign_id == rule.campaign_id, FollowupMark.step == rule.step
                )
            ).first()
            last_id, checked_at = (mark[0], mark[1]) if mark else (None, None)
            # A pass that finds nothing new writes nothing either: its commit
            # flushes no WAL, and the next pass simply looks back further.
            if rule.kind == "event":
                queued, moved = _on_events(conn, rule, now, options, last_id)
                changed = moved != last_id
                last_id = moved
            else:
                window = send_window(rule, now, checked_at, options.lookback)
                queued = 0
                changed = conn.execute(_any_in(rule, window)).first() is not None
                if changed:
                    queued = conn.execute(_on_sends(conn, rule, now, window, options)).rowcount
            expired = _expired(conn, rule, now) if queued and rule.expire_after else 0
            if changed or queued:
                _save_mark(conn, rule, last_id, now)
        return Fired(int(queued), expired)


def _on_events(
    conn: Connection, rule: Rule, now: datetime, options: FollowupOptions, last_id: int | None
) -> tuple[int, int | None]:
    """Queue `rule.step` for new events in their window; returns (queued, new mark).

    Events up to the largest id seen at the start are read; the mark moves
    only past those recorded `lookback` before now, so an event with a
    smaller id committed a little later (PostgreSQL hands out ids before
    commit) is still read by the next pass.
    """
    table = Response if rule.event == "responded" else Event
    newer = table.id > (last_id or 0)
    top = conn.execute(select(func.max(table.id)).where(newer)).scalar()
    if top is None:
        return 0, last_id
    fresh = (newer, table.id <= top)
    queued = conn.execute(_event_insert(conn, rule, now, options, fresh)).rowcount
    cut = now - options.lookback
    settled = conn.execute(
        select(func.max(table.id)).where(*fresh, table.recorded_at < cut)
    ).scalar()
    return int(queued), settled if settled is not None else last_id


def _event_insert(
    conn: Connection, rule: Rule, now: datetime, options: FollowupOptions, fresh: tuple[Any, ...]
) -> Any:
    """INSERT .. SELECT: one send per contact whose source send has a fresh event in time."""
    dialect = conn.dialect.name
    deadline = plus(dialect, SOURCE.sent_at, rule.wait)
    if rule.event == "responded":
        due = plus(dialect, func.min(Response.occurred_at), rule.delay)
        rows = (
            select(*_values(dialect, rule, now, due))
            .select_from(Response)
            .join(SOURCE, SOURCE.contact_id == Response.contact_id)
            .where(*fresh, Response.occurred_at >= SOURCE.sent_at, Response.occurred_at <= deadline)
        )
    else:
        due = plus(dialect, func.min(Event.occurred_at), rule.delay)
        rows = (
            select(*_values(dialect, rule, now, due))
            .select_from(Event)
            .join(SOURCE, SOURCE.id == Event.send_id)
            .where(*fresh, *_qualifying(rule, options), Event.occurred_at <= deadline)
        )
    query = (
        _source_sends(rows, rule)
        .where(*_untaken(rule))
        .group_by(SOURCE.contact_id, SOURCE.campaign_id, SOURCE.customer_id)
    )
    return _insert(dialect, query)


def _on_sends(
    conn: Connection, rule: Rule, now: datetime, window: Window, options: FollowupOptions
) -> Any:
    """INSERT .. SELECT for absence, else, fixed-delay and after-entry rules over `window`."""
    dialect = conn.dialect.name
    if rule.kind == "entry":
        due = plus(dialect, Contact.entered_at, rule.wait)
        query = select(*_values(dialect, rule, now, due, Contact)).where(
            Contact.campaign_id == rule.campaign_id,
            Contact.entered_at <= window.high,
            *([Contact.entered_at > window.low] if window.low else []),
            *_treated(rule, Contact),
            ~exists().where(TAKEN.contact_id == Contact.id, TAKEN.step == rule.step),
        )
        return _insert(dialect, query)
    due = plus(dialect, SOURCE.sent_at, rule.wait)
    query = _source_sends(select(*_values(dialect, rule, now, due)), rule).where(
        SOURCE.sent_at <= window.high,
        *([SOURCE.sent_at > window.low] if window.low else []),
        *_untaken(rule),
    )
    if rule.kind in ("absence", "else"):
        query = query.where(~_happened(rule, options, due))
    return _insert(dialect, query)


def _any_in(rule: Rule, window: Window) -> Any:
    """One row if any source send (or entrant) lies in `window`: an index range probe.

    A pass with nothing new stops here, whatever plan the database would
    pick for the full INSERT .. SELECT (a hash anti join over the step's
    sends, say, with statistics that lag behind a large launch).
    """
    if rule.kind == "entry":
        column, where = Contact.entered_at, [Contact.campaign_id == rule.campaign_id]
    else:
        column = SOURCE.sent_at
        where = [SOURCE.campaign_id == rule.campaign_id, SOURCE.step == rule.source]
    bounds = [column <= window.high, *([column > window.low] if window.low else [])]
    return select(literal(1)).where(*where, *bounds).limit(1)


def _happened(rule: Rule, options: FollowupOptions, deadline: Any) -> Any:
    """EXISTS: the rule's event for the source send, at or before `deadline`."""
    if rule.event == "responded":
        return exists().where(
            Response.contact_id == SOURCE.contact_id,
            Response.occurred_at >= SOURCE.sent_at,
            Response.occurred_at <= deadline,
        )
    # ix_events_send_kind (send_id, kind, occurred_at) answers it
    return exists().where(
        Event.send_id == SOURCE.id, *_qualifying(rule, options), Event.occurred_at <= deadline
    )


def _qualifying(rule: Rule, options: FollowupOptions) -> list[Any]:
    """Conditions on an event row: its kind, human opens, the one link of a click."""
    found = [Event.kind == rule.event]
    if rule.event == "opened" and not options.count_machine_opens:
        found.append(Event.machine.is_(False))
    if rule.link is not None:
        found.append(Event.url == rule.link)
    return found


def _source_sends(query: Any, rule: Rule) -> Any:
    """`query` narrowed to the rule's sent source sends of treated contacts in its cells."""
    return query.join(Contact, Contact.id == SOURCE.contact_id).where(
        SOURCE.campaign_id == rule.campaign_id,
        SOURCE.step == rule.source,
        SOURCE.state == "sent",  # a skipped or failed step has no follow-up
        *_treated(rule, Contact),
    )


def _treated(rule: Rule, contact: Any) -> list[Any]:
    cells = select(Cell.id).where(Cell.campaign_id == rule.campaign_id, Cell.code.in_(rule.cells))
    return [contact.status == "treated", contact.cell_id.in_(cells)]


def _untaken(rule: Rule) -> list[Any]:
    """NOT EXISTS a send of this step (or of the other branch) for the contact."""
    steps = [rule.step] if rule.exclusive is None else [rule.step, rule.exclusive]
    # the campaign is implied by the contact; naming it lets a hash anti join
    # read ix_sends_step_sent by its prefix
    taken = exists().where(
        TAKEN.contact_id == SOURCE.contact_id,
        TAKEN.campaign_id == rule.campaign_id,
        TAKEN.step.in_(steps),
    )
    return [~taken]


def _values(dialect: str, rule: Rule, now: datetime, due: Any, owner: Any = None) -> list[Any]:
    """The inserted columns (COLUMNS order); `owner` is Contact for after-entry rules."""
    if owner is None:
        who = [SOURCE.contact_id, SOURCE.campaign_id, SOURCE.customer_id]
    else:
        who = [owner.id, owner.campaign_id, owner.customer_id]
    at = literal(now, UTCDateTime())
    if rule.expire_after is None:
        expires, state, error = null(), literal("queued"), null()
    else:
        expires = plus(dialect, due, rule.expire_after)
        late = expires <= at
        state = case((late, "skipped"), else_="queued")
        error = case((late, "expired"), else_=null())
    return [
        *who,
        literal(rule.step),
        literal(rule.channel),
        due,
        expires,
        state,
        error,
        literal(0),
        at,
        at,
    ]


def _insert(dialect: str, query: Any) -> Any:
    """INSERT .. SELECT into sends whose rowcount is the number of rows inserted."""
    if dialect == "postgresql":
        statement = (
            postgresql.insert(Send)
            .from_select(COLUMNS, query)
            .on_conflict_do_nothing(constraint="uq_sends_contact_step")
        )
    else:
        statement = sql_insert(Send).from_select(COLUMNS, query)
    return statement.execution_options(preserve_rowcount=True)


def _expired(conn: Connection, rule: Rule, now: datetime) -> int:
    """How many of this pass's sends were already past their expiry when queued."""
    query = select(func.count()).where(
        Send.campaign_id == rule.campaign_id,
        Send.step == rule.step,
        Send.created_at == now,
        Send.state == "skipped",
        Send.last_error == "expired",
    )
    return int(conn.execute(query).scalar_one())


def _save_mark(conn: Connection, rule: Rule, event_id: int | None, now: datetime) -> None:
    values = {
        "campaign_id": rule.campaign_id,
        "step": rule.step,
        "event_id": event_id,
        "checked_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(FollowupMark).values(**values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "step"],
            set_={"event_id": event_id, "checked_at": now},
        )
    )
