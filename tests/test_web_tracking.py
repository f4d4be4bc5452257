"""Our own tracking endpoints through Flask's test client, on both databases.

Tokens are the real signed ones the dispatcher puts in e-mails.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.bootstrap import Adapters, bootstrap
from engine.core.sending.message import Message
from engine.db.models import Consent, Customer, Event, OutboxMessage, Send
from engine.db.outbox import OutboxChannel
from engine.settings import Settings
from engine.web.tracking import PIXEL

from .fakes import FakeChannel, FakeClock
from .helpers import snapshot
from .test_dispatch import EMAIL, OPEN, dispatch, launch, people
from .test_launch import policy, table
from .test_tracking_engagement import BROWSER, GMAIL
from .web import Site, path_of, site_on

LATER = OPEN + timedelta(hours=2)
SHOP = "https://shop.example/new?code="


@pytest.fixture
def site(adapters: Adapters) -> Site:
    return site_on(adapters, LATER)


def sent(adapters: Adapters, n: int = 3) -> list[Message]:
    """`n` customers, the mail-test campaign, one dispatch pass at OPEN: the e-mails sent."""
    people(adapters, n)
    launch(adapters)
    fake = FakeChannel("email")
    dispatch(adapters, FakeClock(OPEN), fake)
    assert fake.received
    return fake.received


def destination(message: Message) -> str:
    """Where the e-mail's one link goes (its personal response code in the query)."""
    return f"{SHOP}{message.response_code}"


def urls(message: Message, path: str) -> list[str]:
    """The URLs under `path` ("/t/o/", "/t/c/", "/u/") in an e-mail's HTML."""
    return re.findall(rf'"(https?://[^"]*{path}[^"]+)"', message.rendered.html or "")


def events(adapters: Adapters) -> list[dict[str, Any]]:
    return sorted(table(adapters, Event), key=lambda e: e["id"])


def send_row(adapters: Adapters, send_id: int) -> dict[str, Any]:
    return next(s for s in table(adapters, Send) if s["id"] == send_id)


def tampered(token: str) -> str:
    return token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")


def test_the_pixel_records_one_open_per_minute_and_always_answers_a_gif(
    adapters: Adapters, site: Site
) -> None:
    message = sent(adapters)[0]
    (pixel,) = urls(message, "/t/o/")
    assert pixel == site.tracking.url("o", message.send_id)
    for _ in range(3):  # a refresh storm: one event
        answer = site.client.get(path_of(pixel), headers={"User-Agent": BROWSER})
        assert answer.status_code == 200 and answer.data == PIXEL
        assert answer.mimetype == "image/gif" and answer.headers["Cache-Control"] == "no-store"
    assert PIXEL[:6] == b"GIF89a" and PIXEL[6:10] == b"\x01\x00\x01\x00"  # 1x1
    site.clock.advance(minutes=1)
    site.client.get(path_of(pixel), headers={"User-Agent": BROWSER})
    opens = events(adapters)
    assert [(e["kind"], e["send_id"], e["machine"], e["source"]) for e in opens] == [
        ("opened", message.send_id, False, "engine")
    ] * 2
    assert [e["occurred_at"] for e in opens] == [LATER, LATER + timedelta(minutes=1)]
    assert send_row(adapters, message.send_id)["opened_at"] == LATER
    before = snapshot(adapters)
    click_token = site.tracking.url("c", message.send_id, 1).rsplit("/", 1)[1]
    for bad in (tampered(pixel.rsplit("/", 1)[1]), "x", "%00" * 40, click_token):
        answer = site.client.get(f"/t/o/{bad}", headers={"User-Agent": BROWSER})
        assert answer.status_code == 200 and answer.data == PIXEL
    assert snapshot(adapters) == before


def test_machine_opens_are_kept_flagged_and_do_not_count_as_opened(
    adapters: Adapters, site: Site
) -> None:
    message = sent(adapters)[0]
    pixel = path_of(urls(message, "/t/o/")[0])
    site.clock.now = OPEN + timedelta(seconds=4)  # a gateway scanner on arrival
    site.client.get(pixel, headers={"User-Agent": BROWSER})
    site.clock.now = LATER
    site.client.get(pixel, headers={"User-Agent": "Mozilla/5.0"})  # Apple's privacy proxy
    site.client.head(pixel, headers={"User-Agent": BROWSER})
    flagged = events(adapters)
    assert [(e["machine"], e["detail"]) for e in flagged] == [
        (True, {"machine": "too_soon"}),
        (True, {"machine": "apple_mpp"}),
    ]  # the HEAD in the same minute as Apple's fetch is the same machine-open key
    assert send_row(adapters, message.send_id)["opened_at"] is None
    site.client.get(pixel, headers={"User-Agent": GMAIL})  # a person, same minute: not hidden
    assert [e["machine"] for e in events(adapters)] == [True, True, False]
    assert send_row(adapters, message.send_id)["opened_at"] == LATER


def test_a_click_redirects_to_the_stored_destination_and_implies_an_open(
    adapters: Adapters, site: Site
) -> None:
    message = sent(adapters)[0]
    (link,) = urls(message, "/t/c/")
    for _ in range(2):
        answer = site.client.get(path_of(link), headers={"User-Agent": BROWSER})
        assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Location"] == destination(message)
    recorded = events(adapters)
    assert [(e["kind"], e["url"], e["machine"]) for e in recorded] == [
        ("clicked", destination(message), False),
        ("opened", None, False),
    ]
    assert recorded[1]["detail"] == {"implied_by": "click"}
    row = send_row(adapters, message.send_id)
    assert row["clicked_at"] == row["opened_at"] == LATER
    site.clock.advance(minutes=5)  # a later click with an open on record implies no other
    site.client.get(path_of(link), headers={"User-Agent": BROWSER})
    assert [e["kind"] for e in events(adapters)] == ["clicked", "opened", "clicked"]


def test_the_click_never_redirects_anywhere_but_the_stored_destination(
    adapters: Adapters, site: Site
) -> None:
    message = sent(adapters)[0]
    link = path_of(urls(message, "/t/c/")[0])
    token = link.rsplit("/", 1)[1]
    evil = "https://evil.example/phish"
    for query in (f"?url={evil}", f"?next={evil}", f"?url={evil}&next={evil}&redirect={evil}"):
        answer = site.client.get(link + query)
        assert answer.headers["Location"] == destination(message)
    before = snapshot(adapters)
    refused = [
        f"/t/c/{tampered(token)}?url={evil}",
        f"/t/c/{tampered(token)}?next={evil}",
        path_of(site.tracking.url("c", message.send_id, 10**9)),  # no such link
        path_of(site.tracking.url("c", message.send_id)),  # one id: not a click token
        path_of(site.tracking.url("o", message.send_id)).replace("/t/o/", "/t/c/"),
        f"/t/c/{evil}",
    ]
    for path in refused:
        answer = site.client.get(path)
        assert answer.status_code == 404 and "Location" not in answer.headers, path
    assert snapshot(adapters) == before


def test_the_unsubscribe_page_changes_nothing_and_shows_only_a_masked_address(
    adapters: Adapters, site: Site
) -> None:
    message = sent(adapters)[0]
    (link,) = urls(message, "/u/")
    assert message.headers["List-Unsubscribe"] == f"<{link}>"
    with adapters.engine.begin() as conn:  # an address no importer would accept, to test escaping
        customer = conn.execute(select(Send.customer_id).where(Send.id == message.send_id))
        hostile = 'x@"><script>alert(1)</script>.example'
        conn.execute(
            update(Customer).where(Customer.id == customer.scalar_one()).values(email=hostile)
        )
    before = snapshot(adapters)
    for _ in range(3):  # mail scanners fetch every URL
        page = site.client.get(path_of(link))
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    assert snapshot(adapters) == before
    html = page.get_data(as_text=True)
    assert f'<form method="post" action="{path_of(link)}">' in html
    assert "x•••@&#34;&gt;&lt;script&gt;" in html and "<script>" not in html
    assert message.to not in html and "p0@" not in html


def test_one_click_unsubscribes_once_and_without_a_redirect(adapters: Adapters, site: Site) -> None:
    message = sent(adapters)[0]
    link = path_of(message.headers["List-Unsubscribe"].strip("<>"))
    body = message.headers["List-Unsubscribe-Post"]  # what mail clients POST (RFC 8058)
    kinds = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
    answer = site.client.post(link, data=body, content_type=kinds[0])
    assert answer.status_code == 200 and "Location" not in answer.headers
    assert "You are unsubscribed" in answer.get_data(as_text=True)
    customer = send_row(adapters, message.send_id)["customer_id"]
    withdrawn = [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    assert [(c["customer_id"], c["channel"], c["source"], c["evidence"]) for c in withdrawn] == [
        (customer, "email", "unsubscribe", f"send {message.send_id} one-click")
    ]
    assert withdrawn[0]["recorded_at"] == LATER
    (event,) = events(adapters)
    assert (event["kind"], event["send_id"], event["detail"]) == (
        "unsubscribed",
        message.send_id,
        {"via": "one-click"},
    )
    before = snapshot(adapters)
    site.clock.advance(minutes=3)
    for kind in kinds:  # repeated, by any client: nothing changes
        multipart = {"List-Unsubscribe": "One-Click"} if kind == kinds[1] else body
        assert site.client.post(link, data=multipart, content_type=kind).status_code == 200
    assert snapshot(adapters) == before
    assert "already unsubscribed" in site.client.get(link).get_data(as_text=True)


def test_the_form_unsubscribes_a_person_and_confirms(adapters: Adapters, site: Site) -> None:
    message = sent(adapters)[0]
    link = path_of(urls(message, "/u/")[0])
    page = site.client.post(link, data={"confirm": "unsubscribe"})
    assert page.status_code == 200 and "You are unsubscribed" in page.get_data(as_text=True)
    (consent,) = [c for c in table(adapters, Consent) if c["status"] == "withdrawn"]
    assert consent["evidence"] == f"send {message.send_id} form"
    assert [e["detail"] for e in events(adapters)] == [{"via": "form"}]


def test_bad_unsubscribe_tokens_are_a_404_page_and_change_nothing(
    adapters: Adapters, site: Site
) -> None:
    message = sent(adapters)[0]
    token = urls(message, "/u/")[0].rsplit("/", 1)[1]
    before = snapshot(adapters)
    bad = [
        f"/u/{tampered(token)}",
        path_of(site.tracking.url("o", message.send_id)).replace("/t/o/", "/u/"),
        path_of(site.tracking.url("u", 10**9)),  # signed, but no such send
        "/u/" + "A" * 200,
    ]
    for path in bad:
        for answer in (
            site.client.get(path),
            site.client.post(path, data="List-Unsubscribe=One-Click"),
        ):
            assert answer.status_code == 404 and "not valid" in answer.get_data(as_text=True)
    assert snapshot(adapters) == before


def test_an_unsubscribe_wins_over_the_next_dispatch(adapters: Adapters, site: Site) -> None:
    people(adapters, 6)
    launch(adapters)
    later = EMAIL.replace("key: mail-test", "key: mail-two").replace(
        "2026-11-05 10:00", "2026-11-06 10:00"
    )
    launch(adapters, later)
    first = FakeChannel("email")
    dispatch(adapters, FakeClock(OPEN), first, policy=policy())
    gone = first.received[0]
    link = path_of(gone.headers["List-Unsubscribe"].strip("<>"))
    assert site.client.post(link, data="List-Unsubscribe=One-Click").status_code == 200
    second = FakeChannel("email")
    report = dispatch(adapters, FakeClock(OPEN + timedelta(days=1)), second, policy=policy())
    assert report.skipped == {"no_consent_email": 1}
    assert gone.to not in {m.to for m in second.received} and second.received
    skipped = [s for s in table(adapters, Send) if s["state"] == "skipped"]
    assert [s["last_error"] for s in skipped] == ["no_consent_email"]


def test_the_dispatched_html_email_carries_urls_these_endpoints_accept(
    adapters: Adapters, site: Site
) -> None:
    people(adapters, 3)
    launch(adapters)
    clock = FakeClock(OPEN)
    dispatch(adapters, clock, OutboxChannel(adapters.engine, "email", clock))
    stored = sorted(table(adapters, OutboxMessage), key=lambda m: m["send_id"])[0]
    html = stored["html"]
    (pixel,) = re.findall(r'<img src="([^"]+/t/o/[^"]+)"', html)
    clicks = re.findall(r'href="([^"]+/t/c/[^"]+)"', html)
    unsubscribe = stored["headers"]["List-Unsubscribe"].strip("<>")
    assert clicks and unsubscribe in html
    assert site.client.get(path_of(pixel), headers={"User-Agent": BROWSER}).data == PIXEL
    for click in clicks:
        answer = site.client.get(path_of(click.replace("&amp;", "&")))
        assert answer.status_code == 302 and answer.headers["Location"].startswith("https://")
    assert "Unsubscribe" in site.client.get(path_of(unsubscribe)).get_data(as_text=True)
    one_click = stored["headers"]["List-Unsubscribe-Post"]
    assert site.client.post(path_of(unsubscribe), data=one_click).status_code == 200
    assert {e["kind"] for e in events(adapters)} == {"opened", "clicked", "unsubscribed"}
    assert {e["send_id"] for e in events(adapters)} == {stored["send_id"]}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_unavailable_database_still_serves_the_pixel_and_503_elsewhere(
    kind: str, settings: Settings, tmp_path: Path
) -> None:
    # A SQLite "file" that is a directory and a PostgreSQL port nobody listens on.
    url = f"sqlite:///{tmp_path}" if kind == "sqlite" else "postgresql://postgres@127.0.0.1:9/x"
    down = bootstrap(settings, url)
    site = site_on(down, datetime(2026, 11, 5, 4, 0, tzinfo=UTC))
    try:
        pixel = site.client.get(path_of(site.tracking.url("o", 1)))
        assert pixel.status_code == 200 and pixel.data == PIXEL
        click = site.client.get(path_of(site.tracking.url("c", 1, 1)))
        assert click.status_code == 503 and "Location" not in click.headers
        unsubscribe = path_of(site.tracking.url("u", 1))
        assert site.client.get(unsubscribe).status_code == 503
        refused = site.client.post(unsubscribe, data="List-Unsubscribe=One-Click")
        assert refused.status_code == 503 and "Nothing was changed" in refused.get_data(
            as_text=True
        )
    finally:
        down.engine.dispose()
