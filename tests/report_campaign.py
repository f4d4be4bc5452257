"""A hand-made campaign whose every counted figure is known (see the table below).

Launched 7 days before NOW with a 21-day window; cells control 20%, a 40%,
b 40%; e-mail costs 0.01 CNY (1 cent) a message. Events go through the real
ledger, so machine opens are handled as in production.

    contact  cell     status     sends (step: state, what happened)         responses
    c1..c4   control  held_out   -                                          c1 purchase 3000 (day 2),
                                                                            c2 reply (not counted)
    s1       a        suppressed -                                          purchase 7000 (excluded)
    a1       a        treated    offer: sent, delivered, opened, clicked    purchase 5000 (day 0)
    a2       a        treated    offer: sent, delivered, machine open only  purchase 2000 (day 1)
                                                                            + code_redeemed 1000 (day 3)
    a3       a        treated    offer: sent, bounced                       -
    a4       a        treated    offer: sent, delivered;                    reply (not counted)
                                 reminder: sent, delivered, opened
    a5       a        treated    offer: skipped (consent)                   purchase 1500 (day 1)
    a6       a        treated    offer: failed                              -
    a7       a        treated    offer: queued                              -
    a8       a        treated    offer: unknown, delivered, unsubscribed    purchase 4000 (day 2)
    b1       b        treated    offer: sent, delivered, complained         -
    b2       b        treated    offer: sent, delivered                     purchase 10000 (day 4)
    b3       b        treated    offer: sent, delivered, opened             -
    b4..b6   b        treated    offer: sent, delivered                     b4: unattributed purchase
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from engine.core.tracking.events import NewEvent
from engine.db.ledger import SqlLedger
from engine.db.models import Campaign, Cell, Contact, Customer, Response, Send

from .conftest import NOW

DAY = timedelta(days=1)
LAUNCHED = NOW - 7 * DAY

SPEC = """\
key: {key}
name: Report test campaign
groups:
  control: {control}
  cells:
    a: {{share: {share}}}
    b: {{share: {share}}}
steps:
  - id: offer
    channel: email
    template: spring/offer
  - id: reminder
    channel: email
    template: winback/reminder
    when: {{not_opened: offer, after: 3d}}
response:
  events: [purchase, code_redeemed]
  window: 21d
costs: {{email: 0.01, currency: CNY}}
"""

# (contact, cell, status): the contacts, in id order
CONTACTS = [
    *[(f"c{i}", "control", "held_out") for i in range(1, 5)],
    ("s1", "a", "suppressed"),
    *[(f"a{i}", "a", "treated") for i in range(1, 9)],
    *[(f"b{i}", "b", "treated") for i in range(1, 7)],
]
# contact -> [(step, state, skip reason)]
SENDS: dict[str, list[tuple[str, str, str | None]]] = {
    "a1": [("offer", "sent", None)],
    "a2": [("offer", "sent", None)],
    "a3": [("offer", "sent", None)],
    "a4": [("offer", "sent", None), ("reminder", "sent", None)],
    "a5": [("offer", "skipped", "consent")],
    "a6": [("offer", "failed", None)],
    "a7": [("offer", "queued", None)],
    "a8": [("offer", "unknown", None)],
    **{f"b{i}": [("offer", "sent", None)] for i in range(1, 7)},
}
# (contact, step, event kind, machine)
EVENTS = [
    *[
        (c, "offer", "delivered", False)
        for c in ("a1", "a2", "a4", "a8", "b1", "b2", "b3", "b4", "b5", "b6")
    ],
    ("a4", "reminder", "delivered", False),
    ("a1", "offer", "opened", False),
    ("a1", "offer", "clicked", False),
    ("a2", "offer", "opened", True),
    ("a3", "offer", "bounced", False),
    ("a4", "reminder", "opened", False),
    ("a8", "offer", "unsubscribed", False),
    ("b1", "offer", "complained", False),
    ("b3", "offer", "opened", False),
]
# (contact, kind, cents, days after launch, attribution); None contact: unattributed
RESPONSES: list[tuple[str, str, int | None, float, str]] = [
    ("c1", "purchase", 3000, 2.1, "inferred"),
    ("c2", "reply", None, 1.0, "inferred"),
    ("s1", "purchase", 7000, 1.0, "inferred"),
    ("a1", "purchase", 5000, 0.5, "direct"),
    ("a2", "purchase", 2000, 1.2, "direct"),
    ("a2", "code_redeemed", 1000, 3.0, "direct"),
    ("a4", "reply", None, 2.0, "direct"),
    ("a5", "purchase", 1500, 1.5, "inferred"),
    ("a8", "purchase", 4000, 2.5, "direct"),
    ("b2", "purchase", 10000, 4.0, "direct"),
    ("b4", "purchase", 8000, 3.0, "none"),
]


def build(engine: Engine, key: str = "report-test", control: str = "20%") -> int:
    """Write the campaign above; returns its id. `control: 0%` makes one without a control."""
    share = "40%" if control != "0%" else "50%"
    with engine.begin() as conn:
        campaign_id = _campaign(conn, key, SPEC.format(key=key, control=control, share=share))
        cells = _cells(conn, campaign_id, control)
        people = [c for c, *_ in CONTACTS if control != "0%" or not c.startswith("c")]
        customers = _customers(conn, key, people)
        contacts = {}
        for name, cell, status in CONTACTS:
            if name not in customers:
                continue
            contacts[name] = conn.execute(
                insert(Contact).returning(Contact.id),
                {
                    "campaign_id": campaign_id,
                    "customer_id": customers[name],
                    "cell_id": cells[cell],
                    "status": status,
                    "reason": "suppressed" if status == "suppressed" else None,
                    "entered_at": LAUNCHED,
                },
            ).scalar_one()
        sends = _sends(conn, campaign_id, contacts, customers)
        conn.execute(insert(Response), _responses(campaign_id, contacts, customers))
    with SqlLedger(engine).unit() as unit:
        unit.record(
            [
                NewEvent(
                    f"{key}:{c}:{step}:{kind}:{machine}",
                    "test",
                    kind,
                    LAUNCHED + DAY,
                    send_id=sends[c, step],
                    machine=machine,
                )
                for c, step, kind, machine in EVENTS
            ],
            NOW,
        )
    return campaign_id


def _campaign(conn: Any, key: str, spec: str) -> int:
    row = {
        "key": key,
        "name": "Report test campaign",
        "kind": "batch",
        "spec_yaml": spec,
        "spec_hash": "0" * 64,
        "salt": "s",
        "status": "running",
        "starts_at": LAUNCHED,
        "launched_at": LAUNCHED,
        "created_at": LAUNCHED,
        "updated_at": LAUNCHED,
    }
    return int(conn.execute(insert(Campaign).returning(Campaign.id), row).scalar_one())


def _cells(conn: Any, campaign_id: int, control: str) -> dict[str, int]:
    share = 0.4 if control != "0%" else 0.5
    rows = [
        ("control", True, 0.2 if control != "0%" else 0.0),
        ("a", False, share),
        ("b", False, share),
    ]
    conn.execute(
        insert(Cell),
        [
            {"campaign_id": campaign_id, "code": code, "is_control": ctl, "share": s, "vars": {}}
            for code, ctl, s in rows
        ],
    )
    query = select(Cell.code, Cell.id).where(Cell.campaign_id == campaign_id)
    return dict(conn.execute(query).all())


def _customers(conn: Any, key: str, names: list[str]) -> dict[str, int]:
    ids = {}
    for name in names:
        row = {
            "external_id": f"{key}-{name}",
            "origin": "internal",
            "source_name": "shop",
            "trust": 100,
            "data_as_of": LAUNCHED,
            "created_at": LAUNCHED,
            "updated_at": LAUNCHED,
            "attributes": {},
        }
        ids[name] = conn.execute(insert(Customer).returning(Customer.id), row).scalar_one()
    return ids


def _sends(
    conn: Any, campaign_id: int, contacts: dict[str, int], customers: dict[str, int]
) -> dict[tuple[str, str], int]:
    ids = {}
    for name, steps in SENDS.items():
        for step, state, reason in steps:
            went = state in ("sent", "unknown")
            row = {
                "contact_id": contacts[name],
                "campaign_id": campaign_id,
                "customer_id": customers[name],
                "step": step,
                "channel": "email",
                "due_at": LAUNCHED,
                "state": state,
                "attempts": 1,
                "last_error": reason,
                "sent_at": LAUNCHED if went else None,
                "created_at": LAUNCHED,
                "updated_at": LAUNCHED,
            }
            ids[name, step] = conn.execute(insert(Send).returning(Send.id), row).scalar_one()
    return ids


def _responses(
    campaign_id: int, contacts: dict[str, int], customers: dict[str, int]
) -> list[dict[str, Any]]:
    rows = []
    for index, (name, kind, cents, days, attribution) in enumerate(RESPONSES):
        if name not in customers:
            continue
        credited = attribution != "none"
        rows.append(
            {
                "source": "shop",
                "source_ref": f"{campaign_id}-{index}",
                "kind": kind,
                "customer_id": customers[name],
                "contact_id": contacts[name] if credited else None,
                "campaign_id": campaign_id if credited else None,
                "attribution": attribution,
                "occurred_at": LAUNCHED + days * DAY,
                "recorded_at": LAUNCHED + days * DAY,
                "value_cents": cents,
                "detail": {},
            }
        )
    return rows
