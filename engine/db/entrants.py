"""One entry run of a campaign: contacts, response codes and first sends, set-based.

`enter` runs in one transaction: contacts for every screened customer (cell
by hash, or by rank within a stratum), their response codes, and queued
sends for the first steps. A crash leaves all of it or none, so a second
launch that finds the campaign already has its whole audience.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    case,
    func,
    insert,
    literal,
    select,
    update,
)

from engine.core.campaign.eligibility import ELIGIBLE
from engine.core.campaign.launch import Entry
from engine.db.assignment import assign_cells, hashed, response_code
from engine.db.audience import screened, tuned
from engine.db.models import Campaign, Cell, Contact, Send
from engine.db.segments import C
from engine.db.types import Id, UTCDateTime


def enter(engine: Engine, campaign_id: int, entry: Entry) -> int:
    """Contacts, codes and first sends for one entry run; returns contacts written.

    One transaction: the audience is screened, assigned and numbered once into
    a temporary table, and both inserts read it (re-reading a million fresh
    contacts and joining customers for their timezone took 5-8 s).
    """
    now = entry.rules.now
    with engine.begin() as conn:
        cells = dict(
            conn.execute(select(Cell.code, Cell.id).where(Cell.campaign_id == campaign_id)).all()
        )
        if conn.dialect.name == "postgresql":
            # ids come from max(id) + n below: no other writer in between
            conn.exec_driver_sql("LOCK TABLE contacts IN SHARE ROW EXCLUSIVE MODE")
        tuned(conn)
        table = _entrants_table(conn)
        entrants = _entrants(campaign_id, entry, cells)
        conn.execute(insert(table).from_select(list(entrants.selected_columns.keys()), entrants))
        conn.execute(_contacts(table, campaign_id, entry, cells))
        written = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if conn.dialect.name == "postgresql":  # keep the id sequence ahead of our ids
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('contacts', 'id'), "
                "(SELECT COALESCE(MAX(id), 0) + 1 FROM contacts), false)"
            )
        for step, channel, codes in entry.first_steps:
            treated = [cells[c] for c in codes if c != entry.control]
            _queue(conn, table, campaign_id, now, step, channel, treated, entry.due_for)
        conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(entered_at=now))
        table.drop(conn)
    return int(written)


def _entrants_table(conn: Connection) -> Table:
    """A temporary table for one entry run's numbered, assigned audience."""
    table = Table(
        "launch_entrants",
        MetaData(),
        Column("id", Id),
        Column("customer_id", Id),
        Column("reason", String(64)),
        Column("cell", Id),
        Column("timezone", String(64)),
        Column("entry", Integer),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    return table


def _entrants(campaign_id: int, entry: Entry, cells: dict[str, int]) -> Any:
    """(id, customer, reason, cell, timezone, entry) of everyone entering now.

    Screened once: the contacts and the sends are both inserted from these
    rows. Ids are handed out here (after the largest one, in customer order)
    so the response code, a function of the id, is written with the contact:
    a second pass updating a million codes took longer than the insert itself.
    """
    rules = entry.rules
    base = screened(rules, *hashed(entry.split), C.c.timezone.label("timezone"))
    trigger = entry.reenter_after is not None or not entry.record_excluded
    if trigger:
        recent = _recent_entrants(campaign_id, rules.now, entry.reenter_after)
        base = base.where(C.c.id.not_in(recent))
    bounds = [(bound, cells[code]) for bound, code in entry.split.bounds]
    assigned = assign_cells(
        base.subquery("audience"), bounds, entry.split.stratify_by, keep=("timezone",)
    )
    start = select(func.coalesce(func.max(Contact.id), 0)).scalar_subquery()
    numbered = select(
        (start + func.row_number().over(order_by=assigned.c.customer_id)).label("id"),
        assigned.c.customer_id,
        assigned.c.reason,
        assigned.c.cell,
        assigned.c.timezone,
    )
    if not entry.record_excluded:
        numbered = numbered.where(assigned.c.reason == ELIGIBLE)
    if not trigger:
        return numbered.add_columns(literal(1).label("entry"))
    previous = (  # trigger campaigns count entries
        select(Contact.customer_id, func.max(Contact.entry).label("entry"))
        .where(Contact.campaign_id == campaign_id)
        .group_by(Contact.customer_id)
        .subquery("previous")
    )
    return numbered.add_columns(
        (func.coalesce(previous.c.entry, 0) + 1).label("entry")
    ).select_from(assigned.outerjoin(previous, previous.c.customer_id == assigned.c.customer_id))


def _contacts(table: Table, campaign_id: int, entry: Entry, cells: dict[str, int]) -> Any:
    """INSERT .. SELECT of the entrants as contacts: cell, status, reason and code."""
    eligible = table.c.reason == ELIGIBLE
    query = select(
        table.c.id,
        literal(campaign_id),
        table.c.customer_id,
        case((eligible, table.c.cell)),
        case(
            (~eligible, "suppressed"),
            (table.c.cell == cells[entry.control], "held_out"),
            else_="treated",
        ),
        case((~eligible, table.c.reason)),
        response_code(table.c.id, entry.codes),
        literal(entry.rules.now, UTCDateTime()),
        table.c.entry,
    )
    columns = [
        "id",
        "campaign_id",
        "customer_id",
        "cell_id",
        "status",
        "reason",
        "response_code",
        "entered_at",
        "entry",
    ]
    return insert(Contact).from_select(columns, query)


def _recent_entrants(campaign_id: int, now: datetime, reenter_after: Any) -> Any:
    """Customers who may not enter now: all earlier entrants, or those inside the re-entry wait."""
    query = select(Contact.customer_id).where(Contact.campaign_id == campaign_id)
    if reenter_after is not None:
        query = query.where(Contact.entered_at > now - reenter_after)
    return query


def _queue(
    conn: Connection,
    table: Table,
    campaign_id: int,
    now: datetime,
    step: str,
    channel: str,
    cell_ids: list[int],
    due_for: Callable[[str | None], datetime],
) -> None:
    """Queued sends of one first step for the entrants treated in `cell_ids`.

    Due times differ by the customer's timezone (send windows are local), so
    they are computed once per zone present and applied with one CASE.
    """
    mine = (table.c.reason == ELIGIBLE, table.c.cell.in_(cell_ids))
    zones = conn.execute(select(table.c.timezone).distinct().where(*mine)).scalars().all()
    by_zone = [
        (table.c.timezone == zone, literal(due_for(zone), UTCDateTime())) for zone in zones if zone
    ]
    fallback = literal(due_for(None), UTCDateTime())
    due = case(*by_zone, else_=fallback) if by_zone else fallback
    rows = select(
        table.c.id,
        literal(campaign_id),
        table.c.customer_id,
        literal(step),
        literal(channel),
        due,
        literal("queued"),
        literal(0),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ).where(*mine)
    columns = [
        "contact_id",
        "campaign_id",
        "customer_id",
        "step",
        "channel",
        "due_at",
        "state",
        "attempts",
        "created_at",
        "updated_at",
    ]
    conn.execute(insert(Send).from_select(columns, rows))
