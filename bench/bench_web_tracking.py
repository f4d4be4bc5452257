"""Benchmark: the engine's own tracking endpoints, requests per second in one process.

Fills a small database (customers with e-mail consent), launches a
campaign to it, then sends real signed requests through Flask's test
client (in-process WSGI: no network, no gunicorn) and prints, for each
endpoint, requests per second (wall clock) and this process's CPU time per
request: a first open per send (an insert), the same open again in the
same minute (a key conflict: nothing written), a click, the unsubscribe
page and the one-click POST. One worker; gunicorn runs several.

    .venv/bin/python bench/bench_web_tracking.py [--customers N] [--requests N] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_import import _database  # type: ignore[import-not-found]
from bench_launch import CAMPAIGN  # type: ignore[import-not-found]
from bench_plan import NOW, ROOT  # type: ignore[import-not-found]
from sqlalchemy import Engine, insert, select

from engine.bootstrap import bootstrap, codebook, tracking
from engine.db import migrate
from engine.db.connect import make_engine
from engine.db.links import SqlLinks
from engine.db.models import Consent, Customer, Send
from engine.services.launching import launch_campaign
from engine.services.validation import validate_campaign
from engine.settings import Settings
from engine.web import create_app

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"


def people(engine: Engine, n: int) -> None:
    """`n` own customers in Shanghai with an e-mail address and e-mail consent."""
    when = {"data_as_of": NOW, "created_at": NOW, "updated_at": NOW}
    rows = [
        {"external_id": f"c{i}", "email": f"c{i}@example.com", "first_name": f"C{i}", **when}
        | {"origin": "internal", "source_name": "shop", "trust": 100, "attributes": {}}
        | {"timezone": "Asia/Shanghai", "country": "CN"}
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Customer), rows)
        ids = conn.execute(select(Customer.id)).scalars()
        consent = {"channel": "email", "status": "granted", "recorded_at": NOW}
        more = {"source": "bench", "evidence": "form"}
        conn.execute(insert(Consent), [{"customer_id": i, **consent, **more} for i in ids])


def rate(label: str, kind: str, paths: list[str], call: Callable[[str], int], ok: int) -> None:
    """Print wall-clock requests per second and the web process's CPU time per request.

    On a shared machine the wall clock swings with the neighbours' load; the
    CPU time of this process (Flask, SQLAlchemy, our code; not the database
    server's) is the steadier figure.
    """
    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        status = call(path)
        assert status == ok, (label, path, status)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{kind:10s} {label:24s} {len(paths) / seconds:6,.0f} req/s wall, "
        f"{cpu / len(paths) * 1000:5.2f} ms CPU per request ({len(paths):,} requests)",
        flush=True,
    )


def run(kind: str, workdir: Path, customers: int, requests: int) -> None:
    url, cleanup = _database(kind, workdir)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        people(engine, customers)
        engine.dispose()
        settings = Settings.model_validate({"templates_dir": str(ROOT / "templates")})
        adapters = bootstrap(settings, url)
        checked = validate_campaign(CAMPAIGN, "bench.yaml", adapters.renderer)
        launch_campaign(
            checked, CAMPAIGN, adapters.policy(), adapters.launches, codebook(settings), NOW
        )
        with adapters.engine.connect() as conn:
            sends = conn.execute(select(Send.id, Send.campaign_id).limit(requests)).all()
        link = SqlLinks(adapters.engine).link_ids(sends[0][1], ["https://shop.example/new"])
        signed = tracking(settings)
        client = create_app(adapters=adapters, clock=lambda: NOW).test_client()

        def path(token_kind: str, *ids: int) -> str:
            return signed.url(token_kind, *ids).removeprefix(signed.public_url)

        def get(path: str) -> int:
            return client.get(path, headers={"User-Agent": BROWSER}).status_code

        def post(path: str) -> int:
            return client.post(path, data="List-Unsubscribe=One-Click").status_code

        link_id = link["https://shop.example/new"]
        opens = [path("o", s) for s, _ in sends]
        pages = [path("u", s) for s, _ in sends]
        rate("open, first", kind, opens, get, 200)
        rate("open, same minute again", kind, opens, get, 200)
        rate("click", kind, [path("c", s, link_id) for s, _ in sends], get, 302)
        rate("unsubscribe page", kind, pages, get, 200)
        rate("one-click unsubscribe", kind, pages, post, 200)
        adapters.engine.dispose()
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
            run(kind, Path(tmp), args.customers, args.requests)


if __name__ == "__main__":
    main()
