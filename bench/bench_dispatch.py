"""Benchmark: the dispatcher end to end against fake providers in their own processes.

Fills a fresh database with N customers (e-mail, phone, consent), launches a
campaign with a 10% control cell, starts the fake provider (50 ms latency,
``--no-record``) and runs real ``campaign worker --stop-when-idle``
processes (ENGINE_CONFIG) until every send is done: claim, send-time
checks, render with engine link tracking, provider call, record.

    .venv/bin/python bench/bench_dispatch.py [--part email|stages|sms|memory]
        [--only sqlite|postgresql] [--emails N] [--workers K] [--concurrency C]
        [--sms-rate R] [--sms-concurrency C] [--audience N] [--seconds S]

Parts (each bounded to about two minutes):
- email: sends/s end to end, peak RSS per worker (SQLite: one worker; PostgreSQL: 1 and K);
- stages: one in-process worker with timed ports: share of wall time per stage;
- sms: the achieved rate under `dispatch.throttle.sms` over >= 30 s, and the
  capacity unthrottled;
- memory: a large audience (default 200,000 sends); RSS sampled while one
  worker sends for `--seconds`: it stays flat, whatever the audience.

Targets (2 cores, 50 ms latency): >= 1,500 e-mails/s; SMS within ±5% of the
throttle and >= 500/s unthrottled; <= 256 MB per dispatcher process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_channels import KEY, SID, TOKEN, fake  # type: ignore[import-not-found]
from bench_import import _database  # type: ignore[import-not-found]
from sqlalchemy import func, select, text

from engine.bootstrap import bootstrap, codebook
from engine.db import migrate
from engine.db.models import Send
from engine.services.launching import launch_campaign
from engine.services.validation import validate_campaign
from engine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = """\
key: bench-{channel}
name: Dispatch benchmark ({channel})
audience:
  segment: {{consent: {channel}}}
groups:
  control: 10%
  cells:
    a: {{share: 45%, vars: {{discount: 15}}}}
    b: {{share: 45%, vars: {{discount: 20}}}}
schedule:
  timezone: Asia/Shanghai
  windows: {{hours: "00:00-23:59"}}
steps:
  - id: offer
    channel: {channel}
    template: {template}
"""
cpu: list[float] = []  # CPU seconds of every worker run, in order
TEMPLATES = {"email": "winback/offer", "sms": "winback/nudge"}


def fill(url: str, kind: str, customers: int) -> None:
    """`customers` own customers in Shanghai with e-mail, phone and both consents (set-based)."""
    engine = bootstrap(Settings(), url).engine
    migrate.upgrade(engine)
    series = (
        "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
        "SELECT i FROM s) AS n"
        if kind == "sqlite"
        else "generate_series(1, :n) AS n(i)"
    )
    now = "'2026-01-01 00:00:00.000000'" if kind == "sqlite" else "timestamptz '2026-01-01Z'"
    attributes = "'{}'" if kind == "sqlite" else "CAST('{}' AS jsonb)"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, external_id, first_name, email, phone, country, "
                "timezone, origin, source_name, trust, data_as_of, created_at, updated_at, "
                f"attributes) SELECT i, 'C' || i, 'Mei', 'c' || i || '@example.com', "
                f"'+8613' || (100000000 + i), 'CN', 'Asia/Shanghai', 'internal', 'shop', 100, "
                f"{now}, {now}, {now}, {attributes} FROM {series}"
            ),
            {"n": customers},
        )
        for channel in ("email", "sms"):
            conn.execute(
                text(
                    "INSERT INTO consents (customer_id, channel, status, recorded_at, source, "
                    f"evidence) SELECT id, '{channel}', 'granted', {now}, 'shop', 'form' "
                    "FROM customers"
                )
            )
    engine.dispose()


def launch(url: str, channel: str, customers: int) -> int:
    """Launch the campaign now; returns the number of queued sends."""
    settings = Settings.model_validate({"templates_dir": str(ROOT / "templates")})
    adapters = bootstrap(settings, url)
    spec = CAMPAIGN.format(channel=channel, template=TEMPLATES[channel])
    checked = validate_campaign(spec, "bench.yaml", adapters.renderer)
    now = datetime.now(UTC) - timedelta(seconds=1)
    launch_campaign(checked, spec, adapters.policy(), adapters.launches, codebook(settings), now)
    count = sends(url)
    adapters.engine.dispose()
    return count


def sends(url: str, state: str | None = None) -> int:
    engine = bootstrap(Settings(), url).engine
    query = select(func.count()).select_from(Send)
    with engine.connect() as conn:
        count = conn.execute(query.where(Send.state == state) if state else query).scalar_one()
    engine.dispose()
    return int(count)


def config(workdir: Path, url: str, provider: str, **dispatch: Any) -> Path:
    """A config file for the workers: the database, the fake provider, the dispatch rules."""
    channels = (
        {"sendgrid": {"api_key": KEY, "host": provider, "concurrency": dispatch.pop("conc")}}
        if dispatch.pop("way") == "email"
        else {
            "twilio": {
                "account_sid": SID,
                "auth_token": TOKEN,
                "from_number": "+15550001111",
                "base_url": provider,
                "concurrency": dispatch.pop("conc"),
            }
        }
    )
    data = {
        "database": {"url": url},
        "templates_dir": str(ROOT / "templates"),
        "channels": channels,
        "dispatch": {"quiet_hours": {"sms": {"default": "00:00-23:59"}}, **dispatch},
    }
    path = workdir / f"config-{time.monotonic_ns()}.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def workers(path: Path, count: int, sample: Callable[[list[int]], None] | None = None) -> list[int]:
    """Run `count` ``campaign worker --stop-when-idle``; returns each one's peak RSS (MB).

    The peak is the worker's own high-water mark (VmHWM, polled until it
    exits): `ru_maxrss` would include the RSS of this benchmark process at
    the fork, which Linux carries across exec. Their CPU seconds (user +
    system) are added to `cpu`.
    """
    env = {**os.environ, "ENGINE_CONFIG": str(path)}
    command = [str(Path(sys.executable).parent / "campaign"), "worker", "--stop-when-idle"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(count)]
    highs = dict.fromkeys((p.pid for p in procs), 0)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for pid in highs:
                highs[pid] = max(highs[pid], rss(pid, "VmHWM"))
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    if sample is not None:
        sample([p.pid for p in procs])
    for proc in procs:
        highs[proc.pid] = max(highs[proc.pid], rss(proc.pid, "VmHWM"))
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        expected = -9 if sample else 0  # the memory part kills its worker
        assert proc.returncode == expected, f"worker exited with {proc.returncode}"
        cpu.append(usage.ru_utime + usage.ru_stime)
    done.set()
    watcher.join()
    return [highs[p.pid] for p in procs]


@contextmanager
def database(kind: str, channel: str, customers: int) -> Iterator[tuple[str, Path, int]]:
    """A filled, launched database; yields its URL, a work directory and the queued sends."""
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        url, cleanup = _database(kind, Path(tmp))
        try:
            fill(url, kind, customers)
            yield url, Path(tmp), launch(url, channel, customers)
        finally:
            cleanup()


def part_email(kind: str, emails: int, counts: list[int], concurrency: int) -> None:
    customers = int(emails / 0.9) + 1
    with fake("engine.testing.sendgrid", 50) as server:
        for count in counts:
            with database(kind, "email", customers) as (url, workdir, queued):
                path = config(
                    workdir, url, server.url, way="email", conc=concurrency,
                    throttle={"email": "1000000/s"},
                )  # fmt: skip
                started, fake_cpu = time.perf_counter(), server.cpu()
                peaks = workers(path, count)
                seconds = time.perf_counter() - started
                used, fake_used = sum(cpu[-count:]), server.cpu() - fake_cpu
                sent = sends(url, "sent")
                assert sent == queued, (sent, queued)
                print(
                    f"{kind:10s} email  {count} worker(s), concurrency {concurrency}: "
                    f"{sent:,} sent in {seconds:5.1f} s = {sent / seconds:6,.0f} sends/s; "
                    f"peak RSS {', '.join(f'{p} MB' for p in peaks)}; CPU per send: "
                    f"dispatcher {used / sent * 1000:.2f} ms, fake {fake_used / sent * 1000:.2f} ms",
                    flush=True,
                )


def part_sms(kind: str, rate: float, seconds: float, capacity: int, concurrency: int) -> None:
    with fake("engine.testing.twilio", 50) as server:
        with database(kind, "sms", int(rate * seconds / 0.9) + 1) as (url, workdir, queued):
            path = config(
                workdir, url, server.url, way="sms", conc=concurrency, throttle={"sms": rate}
            )
            workers(path, 1)
            achieved, span = paced_rate(url)
            print(
                f"{kind:10s} sms    throttle {rate:g}/s: {queued:,} sent, achieved "
                f"{achieved:6.1f}/s over {span:4.1f} s ({(achieved / rate - 1) * 100:+.1f}%)",
                flush=True,
            )
        with database(kind, "sms", int(capacity / 0.9) + 1) as (url, workdir, queued):
            path = config(
                workdir, url, server.url, way="sms", conc=concurrency,
                throttle={"sms": "1000000/s"},
            )  # fmt: skip
            started, fake_cpu = time.perf_counter(), server.cpu()
            peaks = workers(path, 1)
            took = time.perf_counter() - started
            used, fake_used = cpu[-1] / queued * 1000, (server.cpu() - fake_cpu) / queued * 1000
            print(
                f"{kind:10s} sms    unthrottled, concurrency {concurrency}: {queued:,} sent in "
                f"{took:4.1f} s = {queued / took:6,.0f} SMS/s; peak RSS {peaks[0]} MB; CPU per "
                f"send: dispatcher {used:.2f} ms, fake {fake_used:.2f} ms",
                flush=True,
            )


def paced_rate(url: str) -> tuple[float, float]:
    """Messages per second between the first and the last handover (the paced starts)."""
    engine = bootstrap(Settings(), url).engine
    with engine.connect() as conn:
        handed = sorted(conn.execute(select(Send.handed_at).where(Send.state == "sent")).scalars())
    engine.dispose()
    last = sum(1 for at in handed if at == handed[-1])  # the last chunk starts at the end
    span = (handed[-1] - handed[0]).total_seconds()
    return (len(handed) - last) / span, span


def part_memory(kind: str, audience: int, seconds: float, concurrency: int) -> None:
    with (
        fake("engine.testing.sendgrid", 50) as server,
        database(kind, "email", int(audience / 0.9) + 1) as (url, workdir, queued),
    ):
        path = config(
            workdir, url, server.url, way="email", conc=concurrency,
            throttle={"email": "1000000/s"},
        )  # fmt: skip
        samples: list[tuple[float, int]] = []

        def sample(pids: list[int]) -> None:
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                time.sleep(1)
                samples.append((time.perf_counter() - started, rss(pids[0])))
            samples.append((time.perf_counter() - started, rss(pids[0], "VmHWM")))
            os.kill(pids[0], 9)  # a pass lasts until the audience is done: SIGKILL

        peak = workers(path, 1, sample)[0]
        sent = sends(url, "sent")
        shown = ", ".join(f"{t:.0f} s {mb} MB" for t, mb in samples[:: max(1, len(samples) // 6)])
        print(
            f"{kind:10s} memory {queued:,} sends queued, {sent:,} sent in {seconds:g} s; "
            f"RSS {shown}; peak {peak} MB",
            flush=True,
        )


def rss(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process now (VmRSS) or at its peak (VmHWM), in MB (Linux /proc)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # already gone
        return 0
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) // 1024
    return 0


def part_stages(kind: str, emails: int, concurrency: int) -> None:
    with (
        fake("engine.testing.sendgrid", 50) as server,
        database(kind, "email", int(emails / 0.9) + 1) as (url, workdir, queued),
    ):
        path = config(
            workdir, url, server.url, way="email", conc=concurrency,
            throttle={"email": "1000000/s"},
        )  # fmt: skip
        env = {**os.environ, "ENGINE_CONFIG": str(path)}
        command = [sys.executable, str(ROOT / "bench" / "dispatch_stages.py")]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        report = json.loads(out.stdout)
        wall = report.pop("wall")
        stages = ", ".join(f"{name} {t / wall:.0%}" for name, t in report.items())
        print(
            f"{kind:10s} stages {queued:,} in {wall:.1f} s = {queued / wall:,.0f}/s: {stages}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["email", "stages", "sms", "memory"], action="append")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--emails", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2, help="PostgreSQL: also run this many")
    parser.add_argument("--concurrency", type=int, default=0, help="0: the settings' default")
    parser.add_argument("--sms-concurrency", type=int, default=64, help="Twilio threads")
    parser.add_argument("--sms-rate", type=float, default=200.0)
    parser.add_argument("--sms-seconds", type=float, default=30.0)
    parser.add_argument("--sms-capacity", type=int, default=30_000, help="SMS sends unthrottled")
    parser.add_argument("--audience", type=int, default=200_000, help="memory part: sends")
    parser.add_argument("--seconds", type=float, default=45.0, help="memory part: how long")
    args = parser.parse_args()
    email = args.concurrency or Settings().channels.sendgrid.concurrency
    sms = args.sms_concurrency
    print("dispatch benchmark, fakes with 50 ms latency (shared 2-core machine)", flush=True)
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        parts = args.part or ["email", "stages", "sms", "memory"]
        counts = [1] if kind == "sqlite" else sorted({1, args.workers})
        if "email" in parts:
            part_email(kind, args.emails, counts, email)
        if "stages" in parts:
            part_stages(kind, args.emails // 2, email)
        if "sms" in parts:
            part_sms(kind, args.sms_rate, args.sms_seconds, args.sms_capacity, sms)
        if "memory" in parts:
            part_memory(kind, args.audience, args.seconds, email)


if __name__ == "__main__":
    main()
