"""Shop, mail-house and call-centre callbacks: signed, stored once, applied once."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from engine.bootstrap import Adapters, bootstrap
from engine.cli import cli
from engine.cli.imports import import_returns
from engine.core.sending.due import postal_address, suppression_token
from engine.db.models import (
    Consent,
    Customer,
    Event,
    Order,
    QuarantinedEvent,
    Response,
    Send,
    Suppression,
    WebhookBatch,
)
from engine.db.sendcheck import SqlSendChecks
from engine.settings import Settings
from engine.web import create_app

from .helpers import load_customers, write_csv
from .test_attribution import contacts, customers, launch
from .test_dispatch_files import CALL, MAIL, run
from .test_launch import table

SECRETS = {"responses_secret": "shop-s3cret", "mail_secret": "mail-s3cret", "calls_secret": "c4lls"}
POSTED = datetime(2026, 11, 12, 8, 0, tzinfo=UTC)  # the app's clock
EFFECTS = (Order, Response, Event, Suppression, Consent)
STORED = (WebhookBatch, QuarantinedEvent, *EFFECTS)


def _settings(tmp_path: Path, **more: Any) -> Settings:
    return Settings.model_validate(
        {
            "channels": {
                "print": {"out_dir": str(tmp_path / "print")},
                "calls": {"out_dir": str(tmp_path / "calls")},
            },
            "currency": {"rates": {"USD": "7.10"}},
            "imports": {"rejects_dir": str(tmp_path / "rejects")},
            **more,
        }
    )


@pytest.fixture
def hooks(database_url: str, tmp_path: Path) -> Iterator[Adapters]:
    built = bootstrap(_settings(tmp_path, webhooks=SECRETS), database_url)
    yield built
    built.engine.dispose()


def app_for(adapters: Adapters, now: datetime = POSTED) -> Flask:
    return create_app(adapters=adapters, clock=lambda: now)


def post(app: Flask, path: str, payload: Any, secret: str | None, **kw: Any) -> Any:
    body = kw.get("raw", json.dumps(payload).encode())
    signature = hmac.new((secret or "").encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Signature"] = kw.get("signature", signature)
    return app.test_client().post(path, data=body, headers=headers)


def counts(adapters: Adapters, models: tuple[type, ...] = EFFECTS) -> dict[str, int]:
    return {m.__tablename__: len(table(adapters, m)) for m in models}  # type: ignore[attr-defined]


PATHS = {
    "/webhooks/responses": SECRETS["responses_secret"],
    "/webhooks/mail": SECRETS["mail_secret"],
    "/webhooks/calls": SECRETS["calls_secret"],
}
SOME = {"source": "shop", "events": [{"type": "returned", "send_id": 1}]}


def test_a_bad_missing_or_unconfigured_signature_is_403_and_stores_nothing(
    hooks: Adapters, adapters: Adapters
) -> None:
    app, unsigned = app_for(hooks), app_for(adapters)  # same database, no secrets set
    body = json.dumps(SOME).encode()
    for path, secret in PATHS.items():
        assert post(app, path, SOME, None).status_code == 403
        assert post(app, path, SOME, secret + "x").status_code == 403
        assert post(app, path, SOME, secret, signature="zz" + "0" * 62).status_code == 403
        tampered = hmac.new(secret.encode(), body + b" ", hashlib.sha256).hexdigest()
        assert post(app, path, SOME, secret, signature=tampered).status_code == 403
        assert post(unsigned, path, SOME, "").status_code == 403
        assert post(unsigned, path, SOME, secret).status_code == 403
    assert counts(hooks, STORED) == dict.fromkeys(counts(hooks, STORED), 0)
    for path, secret in PATHS.items():
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().upper()
        assert post(app, path, SOME, secret, signature="sha256=" + digest).status_code == 200
    assert len(table(hooks, WebhookBatch)) == 3


def test_a_malformed_body_is_400_and_stores_nothing(hooks: Adapters) -> None:
    app = app_for(hooks)
    for path, secret in PATHS.items():
        for raw in (b"not json", b"[1, 2]", b'{"events": {}}', b"\xff\xfe"):
            assert post(app, path, None, secret, raw=raw).status_code == 400
    no_source = {"events": []}
    assert (
        post(app, "/webhooks/responses", no_source, PATHS["/webhooks/responses"]).status_code == 400
    )
    assert counts(hooks, STORED) == dict.fromkeys(counts(hooks, STORED), 0)


def test_the_database_down_is_503_so_the_sender_retries(tmp_path: Path, database_url: str) -> None:
    down = (
        f"sqlite:///{tmp_path}/missing/dir/x.sqlite3"
        if database_url.startswith("sqlite")
        else "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    )
    adapters = bootstrap(_settings(tmp_path, webhooks=SECRETS), down)
    app = app_for(adapters)
    for path, secret in PATHS.items():
        assert post(app, path, SOME, secret).status_code == 503


def _shop_people(adapters: Adapters, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "people.csv",
        ["external_id", "email", "phone", "address_line1", "postal_code", "city", "country"],
        [
            [f"k{i}", f"k{i}@example.com", f"+86139{i:08d}", f"{i} Bund Road", "200000",
             "Shanghai", "CN"]
            for i in range(30)
        ],
    )  # fmt: skip
    load_customers(adapters, path, source="internal:shop")


def test_purchases_and_redemptions_are_stored_once_credited_and_become_orders(
    hooks: Adapters, tmp_path: Path
) -> None:
    _shop_people(hooks, tmp_path)
    launch(hooks, MAIL)  # mail-drop, keyline WCAT26, cell catalog; due 5 Nov 01:00 UTC
    treated = [c for c in contacts(hooks, "mail-drop") if c["status"] == "treated"]
    control = next(c for c in contacts(hooks, "mail-drop") if c["status"] == "held_out")
    ref = {c["id"]: c["external_id"] for c in table(hooks, Customer)}
    a, b = treated[0], treated[1]
    at = "2026-11-10T10:00:00Z"
    good = [
        {"type": "purchase", "order_id": "p1", "customer": {"external_id": ref[a["customer_id"]]},
         "occurred_at": at, "amount": "120.00", "currency": "CNY",
         "items": [{"sku": "x", "quantity": 2, "category": "garden"}]},
        {"type": "purchase", "order_id": "p2", "customer": {"email": f"{ref[control['customer_id']]}@example.com"},
         "occurred_at": at, "amount": "10.00", "currency": "USD"},
        {"type": "code_redeemed", "order_id": "p1", "code": a["response_code"], "occurred_at": at},
        {"type": "code_redeemed", "order_id": "p3", "keycode": "WCAT26-CATALOG",
         "customer": {"external_id": ref[b["customer_id"]]}, "occurred_at": at, "amount": "5"},
    ]  # fmt: skip
    bad = [
        {"type": "purchase", "customer": {"external_id": "k1"}, "occurred_at": at, "amount": "1"},
        {"type": "purchase", "order_id": "x2", "customer": {"external_id": "k1"},
         "occurred_at": at, "amount": "abc"},
        {"type": "purchase", "order_id": "x3", "customer": {"external_id": "nobody"},
         "occurred_at": at, "amount": "1"},
        {"type": "purchase", "order_id": "x4", "customer": {"external_id": "k1"},
         "occurred_at": at, "amount": "1", "currency": "XYZ"},
        {"type": "refund", "order_id": "x5"},
        "not an object",
        {"type": "purchase", "order_id": "x6", "customer": {"external_id": "k1"},
         "occurred_at": "2027-01-01T00:00:00Z", "amount": "1"},
    ]  # fmt: skip
    payload = {"source": "shop", "customer_source": "internal:shop", "events": good + bad}
    app, secret = app_for(hooks), PATHS["/webhooks/responses"]
    answers = [post(app, "/webhooks/responses", payload, secret).get_json() for _ in range(3)]
    assert answers[0]["responses"] == {"inferred": 2, "direct": 2}
    assert answers[0]["orders"] == 2 and answers[0]["quarantined"] == len(bad)
    assert answers[1]["responses"] == answers[2]["responses"] == {}
    assert counts(hooks) == {"orders": 2, "responses": 4, "events": 0, "suppressions": 0,
                             "consents": 0}  # fmt: skip
    orders = {o["external_order_id"]: o for o in table(hooks, Order)}
    assert orders["p1"]["quantity"] == 2 and orders["p1"]["category"] == "garden"
    assert orders["p2"]["base_amount_cents"] == 7100 and orders["p1"]["source_name"] == "shop"
    got = {(r["source_ref"], r["kind"]): r for r in table(hooks, Response)}
    assert got["p1", "purchase"]["contact_id"] == a["id"]
    assert got["p1", "purchase"]["attribution"] == "inferred"
    assert got["p2", "purchase"]["contact_id"] == control["id"]  # a control, inferred
    assert got["p2", "purchase"]["value_cents"] == 7100
    assert (
        got["p1", "code_redeemed"]["attribution"],
        got["p1", "code_redeemed"]["contact_id"],
    ) == (
        "direct",
        a["id"],
    )
    assert got["p3", "code_redeemed"]["contact_id"] == b["id"]
    assert got["p3", "code_redeemed"]["value_cents"] == 500
    reasons = {q["position"]: q["reason"] for q in table(hooks, QuarantinedEvent)}
    assert reasons[len(good)] == "missing order_id"
    assert "invalid amount" in reasons[len(good) + 1]
    assert reasons[len(good) + 2] == "unknown customer"
    assert "no exchange rate" in reasons[len(good) + 3]
    assert "in the future" in reasons[len(good) + 6]
    batches = table(hooks, WebhookBatch)
    assert len(batches) == 3 and {b["status"] for b in batches} == {"processed"}
    assert json.loads(batches[0]["body"]) == payload  # the raw body, kept


def _mailed(hooks: Adapters) -> list[dict[str, Any]]:
    customers(hooks, 30)
    launch(hooks, MAIL)
    run(hooks)  # the drop: every treated contact's mail send is sent
    return [s for s in table(hooks, Send) if s["state"] == "sent"]


def test_returned_mail_suppresses_the_address_for_mail_only(hooks: Adapters) -> None:
    sends = _mailed(hooks)
    first, second, third = sends[0], sends[1], sends[2]
    code = next(c["response_code"] for c in contacts(hooks) if c["id"] == second["contact_id"])
    at = "2026-11-09T00:00:00Z"
    events = [
        {"id": "evt_1", "event_type": {"id": "letter.in_transit"}, "date_created": at,
         "body": {"metadata": {"send_id": str(first["id"])}}},
        {"id": "evt_2", "event_type": {"id": "letter.returned_to_sender"}, "date_created": at,
         "body": {"metadata": {"send_id": str(first["id"])}}},
        {"type": "returned_to_sender", "response_code": code, "occurred_at": at},
        {"type": "re-routed", "send_id": third["id"], "occurred_at": at},
        {"type": "letter.exploded", "send_id": third["id"], "occurred_at": at},
        {"type": "delivered", "occurred_at": at},
        {"type": "delivered", "send_id": 999999, "occurred_at": at},
    ]  # fmt: skip
    app = app_for(hooks)
    for _ in range(3):
        answer = post(app, "/webhooks/mail", {"events": events}, PATHS["/webhooks/mail"])
        assert answer.get_json()["quarantined"] == 3
    assert counts(hooks)["events"] == 4 and counts(hooks)["suppressions"] == 2
    delivery = {s["id"]: s["delivery"] for s in table(hooks, Send)}
    assert delivery[first["id"]] == delivery[second["id"]] == "returned"
    assert delivery[third["id"]] == "rerouted"
    people = {c["id"]: c for c in table(hooks, Customer)}
    owner = people[first["customer_id"]]
    token = suppression_token("address", postal_address(owner) or "")
    assert {(s["channel"], s["kind"], s["customer_id"]) for s in table(hooks, Suppression)} == {
        ("mail", "address", None)
    }
    checks, since = SqlSendChecks(hooks.engine), POSTED - timedelta(days=1)
    mail = checks.facts("mail", [owner["id"]], [token], since, [])
    assert token in mail.suppressed_tokens
    email = suppression_token("email", owner["email"])
    assert not checks.facts("email", [owner["id"]], [email], since, []).suppressed_tokens


def test_a_returns_file_goes_the_same_way(
    hooks: Adapters, tmp_path: Path, database_url: str
) -> None:
    sends = _mailed(hooks)
    codes = {c["id"]: c["response_code"] for c in contacts(hooks)}
    path = write_csv(
        tmp_path / "returns.csv",
        ["response_code", "send_id", "reason"],
        [
            [codes[sends[0]["contact_id"]], "", "moved"],
            ["", str(sends[1]["id"]), "unknown addressee"],
            ["AAAA-AAAA", "", "typo"],
        ],
    )
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    shown = CliRunner().invoke(cli, ["import", "returns", str(path)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "returns: 2 applied, 2 addresses suppressed, 1 quarantined" in shown.output
    done = import_returns(hooks, path, now=POSTED)  # again: nothing new
    assert (done.events, done.quarantined, done.suppressed) == (2, 1, 0)
    assert counts(hooks)["suppressions"] == 2 and counts(hooks)["events"] == 2
    reasons = {e["send_id"]: e["detail"]["reason"] for e in table(hooks, Event)}
    assert reasons == {sends[0]["id"]: "moved", sends[1]["id"]: "unknown addressee"}

    path.write_bytes(path.read_bytes() + "x,,d\u00e9m\u00e9nag\u00e9\n".encode("cp1252"))
    shown = CliRunner().invoke(cli, ["import", "returns", str(path)], env=env)
    assert shown.exit_code != 0 and "returns.csv:5: not UTF-8: byte 0xE9" in shown.output
    assert counts(hooks)["events"] == 2  # refused whole: nothing more stored


CALLS = CALL.replace("steps:", "response: {events: [purchase, call_disposition]}\nsteps:")


def test_do_not_call_suppresses_at_once_and_the_dispatch_skips_it(hooks: Adapters) -> None:
    customers(hooks, 30)
    launch(hooks, CALLS)
    queued = {s["contact_id"]: s for s in table(hooks, Send)}
    mine = [c for c in contacts(hooks) if c["id"] in queued]
    dnc, wrong, sale = mine[0], mine[1], mine[2]
    at = "2026-11-05T01:30:00Z"  # before the call list is written
    events = [
        {"id": "call-1", "disposition": "do_not_call", "response_code": dnc["response_code"],
         "occurred_at": at},
        {"id": "call-2", "disposition": "wrong_number", "send_id": queued[wrong["id"]]["id"],
         "occurred_at": at},
        {"disposition": "sale", "send_id": queued[sale["id"]]["id"], "occurred_at": at,
         "amount": "99.50"},
        {"disposition": "maybe", "send_id": queued[sale["id"]]["id"], "occurred_at": at},
        {"disposition": "sale", "occurred_at": at},
    ]  # fmt: skip
    app = app_for(hooks, datetime(2026, 11, 5, 2, 0, tzinfo=UTC))
    for _ in range(3):
        answer = post(app, "/webhooks/calls", {"events": events}, PATHS["/webhooks/calls"])
        assert answer.get_json()["quarantined"] == 2
    assert counts(hooks) == {"orders": 0, "responses": 3, "events": 3, "suppressions": 2,
                             "consents": 31}  # 30 e-mail grants + one call withdrawal  # fmt: skip
    people = {c["id"]: c for c in table(hooks, Customer)}
    found = {(s["channel"], s["kind"], s["customer_id"], s["reason"], s["token_hash"])
             for s in table(hooks, Suppression)}  # fmt: skip
    phone = people[dnc["customer_id"]]["phone"]
    assert found == {
        ("call", "phone", dnc["customer_id"], "do_not_call", suppression_token("phone", phone)),
        ("call", "phone", None, "wrong_number",
         suppression_token("phone", people[wrong["customer_id"]]["phone"])),
    }  # fmt: skip
    consent = next(c for c in table(hooks, Consent) if c["channel"] == "call")
    assert (consent["customer_id"], consent["channel"], consent["status"]) == (
        dnc["customer_id"],
        "call",
        "withdrawn",
    )
    responses = {r["value"]: r for r in table(hooks, Response)}
    assert responses["sale"]["value_cents"] == 9950
    assert (responses["sale"]["attribution"], responses["sale"]["contact_id"]) == (
        "direct",
        sale["id"],
    )
    assert responses["do_not_call"]["contact_id"] == dnc["id"]
    run(hooks)  # the call list at 11:00 Shanghai
    state = {s["contact_id"]: (s["state"], s["last_error"]) for s in table(hooks, Send)}
    assert state[dnc["id"]][0] == state[wrong["id"]][0] == "skipped"
    assert state[sale["id"]][0] == "sent"
