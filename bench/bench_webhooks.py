"""Benchmark: provider webhooks under gunicorn, loaded over loopback from another process.

The app runs as in production (``gunicorn -w 2 -k gthread``, the wsgi entry
point, config from the environment) on a fresh PostgreSQL database (or
SQLite with ``--database sqlite``) holding 20,000 e-mail and 20,000 SMS
sends. A separate load process then posts, each phase bounded in time:

1. signed SendGrid Event Webhook batches of 1,000 events (a realistic mix:
   processed, delivered, opens, clicks, deferrals, a few bounces and
   unsubscribes; every event new), several connections at once; the
   figure is events ingested and committed per second (counted in the
   events table afterwards, not taken from the answers);
2. signed Twilio status callbacks (sent then delivered per message), many
   connections at once; requests per second and latency percentiles.

Each phase also prints the server's CPU per event or request (gunicorn's
workers and the database's backends, `server_cpu`) and the run ends with
the load average: the machine is shared, so the rate alone says little.

    .venv/bin/python bench/bench_webhooks.py [--database postgresql|sqlite] [--seconds 20]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, insert, select
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import _database  # type: ignore[import-not-found]
from server_cpu import ServerCpu  # type: ignore[import-not-found]

from engine.db import migrate
from engine.db.connect import make_engine
from engine.db.models import Campaign, Cell, Contact, Customer, Event, Send

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
SENDS = 20_000
TOKEN = "bench-twilio-auth-token"
MIX = (
    [("processed", {})] * 300
    + [("delivered", {"response": "250 OK"})] * 300
    + [("open", {"sg_machine_open": False, "useragent": "Mozilla/5.0"})] * 250
    + [("click", {"url": "https://shop.example/new"})] * 100
    + [("deferred", {"response": "400 try again later", "attempt": "1"})] * 35
    + [("bounce", {"type": "bounce", "status": "5.1.1", "reason": "unknown user"})] * 10
    + [("unsubscribe", {})] * 5
)


def seed(url: str) -> None:
    """Customers with an e-mail and a phone, an e-mail and an SMS campaign, every send sent."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    stamp = {"created_at": NOW, "updated_at": NOW}
    with engine.begin() as conn:
        conn.execute(
            insert(Customer),
            [
                {
                    "external_id": f"c{i}",
                    "email": f"c{i}@example.com",
                    "phone": f"+86139{i:08d}",
                    "origin": "internal",
                    "source_name": "bench",
                    "trust": 100,
                    "data_as_of": NOW,
                    "attributes": {},
                    **stamp,
                }
                for i in range(SENDS)
            ],
        )
        customers = list(conn.execute(select(Customer.id).order_by(Customer.id)).scalars())
        for channel in ("email", "sms"):
            campaign = conn.execute(
                insert(Campaign).returning(Campaign.id),
                {
                    "key": f"bench-{channel}",
                    "name": channel,
                    "kind": "batch",
                    "spec_yaml": "",
                    "spec_hash": "",
                    "salt": "",
                    "status": "running",
                    "starts_at": NOW,
                    **stamp,
                },
            ).scalar_one()
            cell = conn.execute(
                insert(Cell).returning(Cell.id),
                {
                    "campaign_id": campaign,
                    "code": "a",
                    "is_control": False,
                    "share": 1.0,
                    "vars": {},
                },
            ).scalar_one()
            conn.execute(
                insert(Contact),
                [
                    {
                        "campaign_id": campaign,
                        "customer_id": c,
                        "cell_id": cell,
                        "status": "treated",
                        "entered_at": NOW,
                    }
                    for c in customers
                ],
            )
            contacts = conn.execute(
                select(Contact.id, Contact.customer_id).where(Contact.campaign_id == campaign)
            ).all()
            conn.execute(
                insert(Send),
                [
                    {
                        "contact_id": contact,
                        "campaign_id": campaign,
                        "customer_id": customer,
                        "step": "offer",
                        "channel": channel,
                        "due_at": NOW,
                        "state": "sent",
                        "provider_message_id": f"X{contact % 20:021d}"
                        if channel == "email"
                        else f"SM{contact:032x}",
                        "sent_at": NOW,
                        **stamp,
                    }
                    for contact, customer in contacts
                ],
            )
    engine.dispose()


def sends(url: str, channel: str) -> list[tuple[int, str, str]]:
    """(send id, address, provider message id) of every send on `channel`."""
    engine = make_engine(url)
    address = Customer.email if channel == "email" else Customer.phone
    with engine.connect() as conn:
        rows = conn.execute(
            select(Send.id, address, Send.provider_message_id)
            .join(Customer, Customer.id == Send.customer_id)
            .where(Send.channel == channel)
            .order_by(Send.id)
        ).all()
    engine.dispose()
    return [(int(a), str(b), str(c)) for a, b, c in rows]


def event_count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(Event)).scalar_one())
    engine.dispose()
    return count


def applied_after(url: str, events: int, within: float = 30.0) -> float | None:
    """Seconds until the ledger holds `events` events (callbacks are applied in bulk, after
    the answer), or None when it does not within `within` seconds."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        if event_count(url) >= events:
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def sendgrid_batches(
    key: ec.EllipticCurvePrivateKey, targets: list[tuple[int, str, str]], count: int
) -> list[tuple[bytes, dict[str, str]]]:
    """`count` signed batches of 1,000 new events each, spread over the sends."""
    batches = []
    at = str(int(NOW.timestamp()))
    for b in range(count):
        events = []
        for n, (kind, extra) in enumerate(MIX):
            send_id, email, message_id = targets[(b * len(MIX) + n * 7) % len(targets)]
            events.append(
                {
                    "email": email,
                    "timestamp": int((NOW + timedelta(minutes=n % 90)).timestamp()),
                    "smtp-id": f"<{message_id}@ismtpd>",
                    "event": kind,
                    "category": ["bench"],
                    "sg_event_id": f"b{b:05d}e{n:04d}{secrets.token_hex(4)}",
                    "sg_message_id": f"{message_id}.filterdrecv-{n}.0",
                    "ce_send_id": str(send_id),
                    "ce_campaign": "bench-email",
                    **extra,
                }
            )
        body = json.dumps(events)
        signature = key.sign((at + body).encode(), ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": at,
        }
        batches.append((body.encode(), headers))
    return batches


def twilio_callbacks(
    base: str, targets: list[tuple[int, str, str]]
) -> list[tuple[str, bytes, dict[str, str]]]:
    validator = RequestValidator(TOKEN)
    out = []
    for status in ("sent", "delivered"):
        for send_id, phone, sid in targets:
            path = f"/webhooks/twilio/status?send={send_id}"
            params = {
                "AccountSid": "AC" + "0" * 32,
                "From": "+15005550006",
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": phone,
                "ApiVersion": "2010-04-01",
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(base + path, params),
            }
            out.append((path, urlencode(params).encode(), headers))
    return out


def hammer(
    port: int, requests: list[tuple[str, bytes, dict[str, str]]], connections: int, seconds: float
) -> tuple[float, list[float], dict[int, int]]:
    """Post `requests` over `connections` keep-alive connections until done or `seconds` pass."""
    lock = threading.Lock()
    queue = iter(requests)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < deadline:
            with lock:
                item = next(queue, None)
            if item is None:
                break
            path, body, headers = item
            started = time.perf_counter()
            conn.request("POST", path, body, headers)
            answer = conn.getresponse()
            answer.read()
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def load(args: argparse.Namespace) -> None:
    """The load process: everything prepared first, then only HTTP in the timed part."""
    key = serialization.load_pem_private_key(Path(args.key).read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    base = f"http://127.0.0.1:{args.port}"
    email = sends(args.url, "email")
    batches = sendgrid_batches(key, email, args.batches)
    requests = [("/webhooks/sendgrid", body, headers) for body, headers in batches]
    before = event_count(args.url)
    cpu = ServerCpu(args.server_pid, args.url)
    took, latencies, statuses = hammer(args.port, requests, 4, args.seconds)
    app_cpu, db_cpu = cpu.used()
    events = event_count(args.url) - before
    print(
        f"sendgrid  {len(latencies)} batches of {len(MIX):,} events in {took:.2f} s, answers {statuses}"
    )
    print(
        f"sendgrid  {events / took:,.0f} events/s committed ({events:,} new events); per batch p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    print(_cpu_line("sendgrid", app_cpu, db_cpu, took, events, "event", 1e6, "µs"))
    if len(latencies) == len(requests):
        print("sendgrid  (every prepared batch was posted before the bound: raise --batches)")
    callbacks = twilio_callbacks(base, sends(args.url, "sms"))
    before = event_count(args.url)
    cpu = ServerCpu(args.server_pid, args.url)
    took, latencies, statuses = hammer(args.port, callbacks, args.connections, args.seconds)
    lag = applied_after(args.url, before + len(latencies))
    app_cpu, db_cpu = cpu.used()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(
        f"twilio    {len(latencies):,} status callbacks in {took:.2f} s over {args.connections} connections, answers {statuses}"
    )
    print(
        f"twilio    {len(latencies) / took:,.0f} requests/s; latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"twilio    every callback applied {lag:.2f} s after the last answer"
        if lag is not None
        else "twilio    NOT every callback was applied within 30 s of the last answer"
    )
    print(_cpu_line("twilio", app_cpu, db_cpu, took, len(latencies), "request", 1e3, "ms"))
    print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min)")


def _cpu_line(
    what: str, app: float, db: float, took: float, items: int, item: str, scale: float, unit: str
) -> str:
    """Server CPU over the phase: app workers and database backends, per item and in cores."""
    n = max(items, 1)
    return (
        f"{what:<9} CPU per {item}: app {app / n * scale:.1f} {unit} + database"
        f" {db / n * scale:.1f} {unit}; {(app + db) / took:.2f} of {os.cpu_count()} cores busy"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    url: str, port: int, public_key: str, workers: int, threads: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENGINE_CONFIG": str(ROOT / "config.yaml"),
        "ENGINE_DATABASE_URL": url,
        "ENGINE_WEBHOOKS__SENDGRID_PUBLIC_KEY": public_key,
        "ENGINE_CHANNELS__TWILIO__AUTH_TOKEN": TOKEN,
        "ENGINE_SENDER__PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "-w",
        str(workers),
        "-k",
        "gthread",
        "--threads",
        str(threads),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "engine.web.wsgi:app",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/webhooks/sendgrid", b"[]")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=20.0, help="bound of each phase")
    parser.add_argument("--batches", type=int, default=800, help="SendGrid batches prepared")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load(args)
        return
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        url, drop = _database(args.database, Path(tmp))
        server = None
        try:
            seed(url)
            key = ec.generate_private_key(ec.SECP256R1())
            key_file = Path(tmp) / "key.pem"
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            public = base64.b64encode(
                key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).decode()
            port = free_port()
            server = serve(url, port, public, args.workers, args.threads)
            print(
                f"{args.database}: gunicorn -w {args.workers} -k gthread --threads {args.threads}, {os.cpu_count()} cores (shared machine)",
                flush=True,
            )
            command = [
                sys.executable,
                __file__,
                "--load",
                "--url",
                url,
                "--port",
                str(port),
                "--key",
                str(key_file),
                "--server-pid",
                str(server.pid),
                "--seconds",
                str(args.seconds),
                "--batches",
                str(args.batches),
                "--connections",
                str(args.connections),
            ]
            subprocess.run(command, check=True)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            drop()


if __name__ == "__main__":
    main()
