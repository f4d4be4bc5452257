"""Response attribution: direct and inferred, treated and control, windows to the second."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select

from engine.bootstrap import Adapters, codebook
from engine.core.campaign.assign import CONTROL
from engine.core.campaign.spec import Windows
from engine.core.codes import DIGITS
from engine.core.tracking import attribution
from engine.core.tracking.attribution import CampaignRule, Claim, ContactClock
from engine.db.attribution import SqlResponseUnits
from engine.db.models import Campaign, Cell, Consent, Contact, Customer, Response, Send
from engine.db.outbox import OutboxChannel
from engine.services.launching import launch_campaign
from engine.services.responding import Incoming, campaign_rules, credit_orders, credit_responses
from engine.services.validation import validate_campaign

from .conftest import NOW
from .fakes import FakeClock
from .helpers import load_customers, load_orders, write_csv
from .test_dispatch import EMAIL, OPEN, dispatch
from .test_dispatch_files import MAIL
from .test_launch import _customer, policy, table

W = timedelta(days=30)
S = timedelta(seconds=1)
LATER = datetime(2026, 12, 31, tzinfo=UTC)  # when the responses are recorded


def customers(adapters: Adapters, n: int, zone: str = "Asia/Shanghai", **fields: Any) -> list[int]:
    """`n` customers with e-mail (and consent), phone and postal address in `zone`."""
    start = len(table(adapters, Customer))
    rows = [
        _customer(
            f"c{start + i}",
            email=f"c{start + i}@example.com",
            phone=f"+86139{start + i:08d}",
            first_name=f"C{start + i}",
            address_line1=f"{start + i} Bund Road",
            postal_code="200000",
            city="Shanghai",
            country="CN",
            timezone=zone,
            **fields,
        )
        for i in range(n)
    ]
    with adapters.engine.begin() as conn:
        ids = list(conn.execute(insert(Customer).returning(Customer.id), rows).scalars())
        consent = {"channel": "email", "status": "granted", "source": "t", "evidence": "form"}
        conn.execute(
            insert(Consent), [{"customer_id": i, "recorded_at": NOW - W, **consent} for i in ids]
        )
    return sorted(ids)


def launch(adapters: Adapters, text: str, now: datetime = NOW) -> None:
    checked = validate_campaign(text, "c.yaml", adapters.renderer)
    launch_campaign(checked, text, policy(), adapters.launches, codebook(adapters.settings), now)


def contacts(adapters: Adapters, key: str | None = None) -> list[dict[str, Any]]:
    """Contacts with their cell code and campaign key, by id."""
    query = (
        select(Contact.__table__, Cell.code.label("cell"), Campaign.key.label("campaign"))
        .join(Cell, Cell.id == Contact.cell_id)
        .join(Campaign, Campaign.id == Contact.campaign_id)
        .order_by(Contact.id)
    )
    with adapters.engine.connect() as conn:
        found = [dict(r) for r in conn.execute(query).mappings()]
    return [c for c in found if key is None or c["campaign"] == key]


def one(adapters: Adapters, key: str, status: str) -> dict[str, Any]:
    return next(c for c in contacts(adapters, key) if c["status"] == status)


def purchase(ref: str, customer: int | None, at: datetime, **kw: Any) -> Incoming:
    return Incoming("shop", ref, kw.pop("kind", "purchase"), at, customer, **kw)


def credit(adapters: Adapters, items: list[Incoming]) -> Counter[str]:
    rules = campaign_rules(adapters.launches.all(), adapters.zone)
    with SqlResponseUnits(adapters.engine).unit() as history:
        return credit_responses(history, rules, codebook(adapters.settings), items, LATER)


def credited(adapters: Adapters) -> dict[str, tuple[str, int | None]]:
    """source_ref -> (attribution, contact id) of every response."""
    return {r["source_ref"]: (r["attribution"], r["contact_id"]) for r in table(adapters, Response)}


def test_windows_run_from_the_first_send_and_the_scheduled_send_to_the_second(
    adapters: Adapters,
) -> None:
    customers(adapters, 40)
    launch(adapters, EMAIL)  # on 1 Nov, for a start on 5 Nov 10:00 Shanghai (OPEN)
    clock = FakeClock(OPEN + timedelta(hours=2))
    dispatch(adapters, clock, OutboxChannel(adapters.engine, "email", clock))
    treated, control = one(adapters, "mail-test", "treated"), one(adapters, "mail-test", "held_out")
    sent = min(s["sent_at"] for s in table(adapters, Send) if s["contact_id"] == treated["id"])
    assert sent >= OPEN + timedelta(hours=2)
    t, c = treated["customer_id"], control["customer_id"]
    credit(
        adapters,
        [
            purchase("t-before", t, sent - S),
            purchase("t-first", t, sent),
            purchase("t-last", t, sent + W - S),
            purchase("t-end", t, sent + W),
            purchase("t-after", t, sent + W + S),
            # the control's clock is the scheduled send (OPEN), not its entry on 1 Nov
            purchase("c-before", c, OPEN - S),
            purchase("c-first", c, OPEN),
            purchase("c-last", c, OPEN + W - S),
            purchase("c-after", c, OPEN + W + S),
        ],
    )
    got = credited(adapters)
    assert got["t-before"] == got["t-end"] == got["t-after"] == ("none", None)
    assert got["t-first"] == got["t-last"] == ("inferred", treated["id"])
    assert got["c-before"] == got["c-after"] == ("none", None)
    assert got["c-first"] == got["c-last"] == ("inferred", control["id"])
    rows = {r["source_ref"]: r for r in table(adapters, Response)}
    assert rows["c-first"]["campaign_id"] == control["campaign_id"]
    assert rows["t-after"]["customer_id"] == t  # kept, unattributed


def test_a_control_is_counted_from_the_send_window_of_its_own_timezone(
    adapters: Adapters,
) -> None:
    customers(adapters, 30, zone="America/New_York")
    launch(adapters, EMAIL)
    treated, control = one(adapters, "mail-test", "treated"), one(adapters, "mail-test", "held_out")
    # 02:00 UTC is 21:00 in New York, after the 09-20 window: both arms start at 09:00 there
    opens = datetime(2026, 11, 5, 14, 0, tzinfo=UTC)
    due = {s["contact_id"]: s["due_at"] for s in table(adapters, Send)}
    assert due[treated["id"]] == opens  # nothing sent yet: a treated contact counts from due_at
    c = control["customer_id"]
    credit(adapters, [purchase("early", c, opens - S), purchase("open", c, opens)])
    assert credited(adapters) == {"early": ("none", None), "open": ("inferred", control["id"])}


def test_direct_codes_keycodes_and_send_ids_beat_the_customer_match(adapters: Adapters) -> None:
    customers(adapters, 40)
    launch(adapters, MAIL)  # mail-drop: keyline WCAT26, cell catalog, starts 5 Nov 09:00
    later = EMAIL.replace("start: 2026-11-05 10:00", "start: 2026-11-06 10:00")
    launch(adapters, later)  # mail-test: every customer is in both, its window starts later
    both = {c["customer_id"] for c in contacts(adapters, "mail-drop") if c["status"] == "treated"}
    both &= {c["customer_id"] for c in contacts(adapters, "mail-test") if c["status"] == "treated"}
    who = min(both)
    mail = next(c for c in contacts(adapters, "mail-drop") if c["customer_id"] == who)
    email = next(c for c in contacts(adapters, "mail-test") if c["customer_id"] == who)
    code = mail["response_code"]
    typo = code[:2] + next(d for d in DIGITS if d != code[2]) + code[3:]
    mail_send = next(s["id"] for s in table(adapters, Send) if s["contact_id"] == mail["id"])
    at = datetime(2026, 11, 10, tzinfo=UTC)
    late = datetime(2026, 12, 5, 12, tzinfo=UTC)  # mail-drop due 5 Nov 01:00 UTC + 30 days < late
    credit(
        adapters,
        [
            purchase("plain", who, at),
            purchase("code", who, at, code=code),
            purchase("typo", who, at, code=typo),
            purchase("keycode", who, at, code="wcat26-catalog"),
            purchase("keycode-stranger", None, at, code="WCAT26-CATALOG"),
            purchase("send", None, at, send_id=mail_send),
            purchase("code-no-customer", None, at, kind="code_redeemed", code=code),
            # after the mail window, inside the e-mail one: the code names, the window decides
            purchase("code-late", who, late, code=code),
            purchase("code-late-no-customer", None, late, kind="code_redeemed", code=code),
        ],
    )
    got = credited(adapters)
    assert got["plain"] == got["typo"] == ("inferred", email["id"])  # the most recent window
    assert got["code"] == got["keycode"] == got["send"] == ("direct", mail["id"])
    assert got["code-no-customer"] == ("direct", mail["id"])
    assert got["keycode-stranger"] == ("none", None)
    rows = {r["source_ref"]: r for r in table(adapters, Response)}
    assert rows["keycode-stranger"]["detail"] == {
        "keycode_campaign": "mail-drop",
        "keycode_cell": "catalog",
    }
    assert rows["typo"]["detail"] == {"code_invalid": True}
    assert rows["code-no-customer"]["customer_id"] == who
    assert got["code-late"] == got["code-late-no-customer"] == ("inferred", email["id"])
    assert rows["code-late"]["detail"] == {"named_contact": mail["id"]}
    assert rows["send"]["send_id"] == mail_send


def test_several_campaigns_the_latest_window_wins_and_ties_go_to_the_higher_contact(
    adapters: Adapters,
) -> None:
    customers(adapters, 30)
    first = EMAIL.replace("key: mail-test", "key: first")
    second = EMAIL.replace("key: mail-test", "key: second").replace("11-05", "11-20")
    twin = EMAIL.replace("key: mail-test", "key: twin").replace("11-05", "11-20")
    for text in (first, second, twin):
        launch(adapters, text)
    who = one(adapters, "first", "held_out")["customer_id"]
    mine = {c["campaign"]: c for c in contacts(adapters) if c["customer_id"] == who}
    assert set(mine) == {"first", "second", "twin"}
    credit(
        adapters,
        [
            purchase("nov-10", who, datetime(2026, 11, 10, tzinfo=UTC)),
            purchase("nov-25", who, datetime(2026, 11, 25, tzinfo=UTC)),
            purchase("jan", who, datetime(2027, 1, 30, tzinfo=UTC)),
        ],
    )
    got = credited(adapters)
    assert got["nov-10"] == ("inferred", mine["first"]["id"])
    latest = max(mine["second"]["id"], mine["twin"]["id"])  # same window start: higher id
    assert got["nov-25"] == ("inferred", latest)
    assert got["jan"] == ("none", None)  # outside every window: kept


def test_only_the_kinds_a_campaign_counts_are_credited_to_it(adapters: Adapters) -> None:
    customers(adapters, 20)
    text = EMAIL.replace("steps:", "response: {events: [purchase], window: 7d}\nsteps:")
    launch(adapters, text)
    contact = one(adapters, "mail-test", "treated")
    who, at = contact["customer_id"], OPEN + timedelta(days=1)
    credit(
        adapters,
        [
            purchase("bought", who, at),
            purchase("redeemed", who, at, kind="code_redeemed", code=contact["response_code"]),
            purchase("replied", who, at, kind="reply"),
            purchase("late", who, OPEN + timedelta(days=7)),
        ],
    )
    got = credited(adapters)
    assert got["bought"] == ("inferred", contact["id"])
    assert got["redeemed"] == got["replied"] == got["late"] == ("none", None)


def test_an_order_import_credits_the_orders_it_inserted_once(
    adapters: Adapters, tmp_path: Path
) -> None:
    people = write_csv(
        tmp_path / "people.csv",
        ["external_id", "email", "country", "timezone"],
        [[f"k{i}", f"k{i}@example.com", "CN", "Asia/Shanghai"] for i in range(30)],
    )
    load_customers(adapters, people, source="internal:shop")
    with adapters.engine.begin() as conn:
        ids = list(conn.execute(select(Customer.id)).scalars())
        row = {"channel": "email", "status": "granted", "source": "t", "evidence": "f"}
        conn.execute(insert(Consent), [{"customer_id": i, "recorded_at": NOW, **row} for i in ids])
    launch(adapters, EMAIL)
    refs = {c["id"]: c for c in contacts(adapters)}
    by_customer = {c["customer_id"]: c for c in refs.values()}
    with adapters.engine.connect() as conn:
        external = dict(conn.execute(select(Customer.id, Customer.external_id)).all())
    orders = write_csv(
        tmp_path / "orders.csv",
        ["order_id", "customer_id", "ordered_at", "amount"],
        [[f"o{i}", external[cid], "2026-11-06T08:00:00+08:00", "10.00"] for i, cid in
         enumerate(sorted(by_customer))]
        + [["o-old", external[min(by_customer)], "2026-10-01T08:00:00+08:00", "5.00"]],
    )  # fmt: skip
    now = datetime(2026, 11, 20, tzinfo=UTC)
    for _ in range(3):
        load_orders(adapters, orders, source="shop", now=now, customer_source="internal:shop")
    responses = table(adapters, Response)
    assert len(responses) == len(by_customer) + 1
    kinds = Counter(r["attribution"] for r in responses)
    assert kinds == {"inferred": len(by_customer), "none": 1}
    for r in responses:
        if r["attribution"] == "inferred":
            assert by_customer[r["customer_id"]]["id"] == r["contact_id"]
            assert r["value_cents"] == 1000 and r["source"] == "shop"
    controls = [
        r for r in responses if r["contact_id"] and refs[r["contact_id"]]["cell"] == CONTROL
    ]
    assert controls  # control customers' purchases are credited to their contacts too
    # an import interrupted before its responses: `import credit-orders` completes it
    with adapters.engine.begin() as conn:
        conn.execute(delete(Response).where(Response.source_ref.in_(["o0", "o-old"])))
    rules = campaign_rules(adapters.launches.all(), adapters.zone)
    units, codes = SqlResponseUnits(adapters.engine), codebook(adapters.settings)
    again = credit_orders(units, rules, codes, "shop", now, None, page=7)
    assert again == {"inferred": 1, "none": 1}
    assert credit_orders(units, rules, codes, "shop", now, None, page=7) == {}
    assert len(table(adapters, Response)) == len(responses)


def test_the_rule_alone_direct_first_then_latest_window_then_higher_id() -> None:
    zone, t0 = ZoneInfo("Asia/Shanghai"), datetime(2026, 11, 5, 2, tzinfo=UTC)

    def rule(campaign: int, events: tuple[str, ...] = ("purchase",)) -> CampaignRule:
        return CampaignRule(campaign, f"k{campaign}", frozenset(events), W, t0, zone, Windows())

    def contact(cid: int, campaign: int, sent: datetime, status: str = "treated") -> ContactClock:
        return ContactClock(cid, campaign, 7, "a", status, t0, sent, sent, None)

    rules = {1: rule(1), 2: rule(2), 3: rule(3, ("reply",))}
    early, late = contact(10, 1, t0), contact(11, 2, t0 + timedelta(days=2))
    twin = contact(12, 2, t0 + timedelta(days=2))
    at = t0 + timedelta(days=3)
    assert attribution.credit(Claim("purchase", at, 7), [early, late], rules).contact_id == 11
    assert attribution.credit(Claim("purchase", at, 7), [early, late, twin], rules).contact_id == 12
    direct = attribution.credit(Claim("purchase", at, 7, (10,)), [early, late], rules)
    assert (direct.attribution, direct.contact_id) == ("direct", 10)
    assert (
        attribution.credit(Claim("purchase", at, 7), [contact(13, 3, t0)], rules).attribution
        == "none"
    )
    out = contact(14, 1, t0, status="suppressed")  # outside the experiment
    assert attribution.credit(Claim("purchase", at, 7), [out], rules).attribution == "none"
    assert attribution.credit(Claim("purchase", t0 + W - S, 7), [early], rules).contact_id == 10
    assert attribution.credit(Claim("purchase", t0 + W, 7), [early], rules).attribution == "none"
