"""Benchmark: launch a campaign to a 1,000,000-customer audience, on SQLite and PostgreSQL.

Fills a database as bench_plan.py does (set-based SQL, deterministic), then
launches a campaign whose segment matches every customer into three cells
including a control: contacts for the whole audience (treated, held out or
suppressed with reason), response codes and the first sends. Each launch runs
in a fresh process on a fresh copy of the fill (a file copy on SQLite, a
template database on PostgreSQL), so `--repeat` launches the same thing again
and each peak-memory figure is the launch's own. Prints each launch's time,
the counts, the sample-ratio check and the peak memory; `--profile` adds the
time of every statement over 50 ms (and of the commit).

    .venv/bin/python bench/bench_launch.py [--customers N] [--only sqlite|postgresql]
                                           [--repeat N] [--profile] [--keep]

Target on a 2-core machine: <= 10 s and <= 512 MB per launch.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_import import (  # type: ignore[import-not-found]
    PG_ADMIN,
    _backends,
    _cpu_seconds,
    _database,
)
from bench_plan import NOW, ROOT, fill  # type: ignore[import-not-found]
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from engine.bootstrap import bootstrap, codebook
from engine.db import migrate
from engine.db.connect import make_engine
from engine.services.launching import launch_campaign
from engine.services.validation import validate_campaign
from engine.settings import Settings

CAMPAIGN = """\
key: bench-launch
name: Launch benchmark, everyone, three cells
groups:
  control: 10%
  cells:
    offer15: {share: 45%, vars: {discount: 15}}
    offer20: {share: 45%, vars: {discount: 20}}
schedule:
  start: 2026-11-04 10:00
  timezone: Asia/Shanghai
  windows: {days: [wed, thu], hours: "10:00-16:00"}
steps:
  - id: offer
    channel: email
    template: winback/offer
"""


def filled(kind: str, workdir: Path, customers: int, keep: bool) -> tuple[str, Callable[[], None]]:
    """(URL, cleanup) of a filled, migrated database that the launches copy."""
    kept = Path(tempfile.gettempdir()) / f"engine-bench-plan-{customers}.sqlite3"
    if kind == "sqlite" and keep and kept.exists():
        shutil.copy(kept, workdir / "bench.sqlite3")  # the kept fill stays as it is
        url, cleanup = f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
        engine = make_engine(url)
        migrate.upgrade(engine)  # a fill kept by an older checkout
    else:
        url, cleanup = _database(kind, workdir)
        engine = make_engine(url)
        migrate.upgrade(engine)
        print(f"{kind:10s} fill    {fill(engine, customers)}", flush=True)
    _settle(engine)
    engine.dispose()
    return url, cleanup


def _settle(engine: Engine) -> None:
    """Write the fill out, so a launch does not pay for the fill's checkpoint."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        conn.exec_driver_sql("CHECKPOINT")


def copy(url: str, workdir: Path, n: int) -> tuple[str, Callable[[], None]]:
    """A fresh copy of the filled database for launch `n`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = workdir / f"launch-{n}.sqlite3"
        shutil.copy(str(parsed.database), target)
        return f"sqlite:///{target}", lambda: target.unlink()
    name = f"{parsed.database}_{n}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
        conn.execute(text("CHECKPOINT"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return parsed.set(database=name).render_as_string(hide_password=False), drop


def launch(kind: str, url: str, profile: bool) -> None:
    """One launch in this process: its time, counts and peak memory."""
    settings = Settings.model_validate({"templates_dir": str(ROOT / "templates")})
    adapters = bootstrap(settings, url)
    statements = _profiled(adapters.engine) if profile else []
    backends = _backends(adapters.engine)
    checked = validate_campaign(CAMPAIGN, "bench-launch.yaml", adapters.renderer)
    started, cpu = time.perf_counter(), sum(os.times()[:2])
    report = launch_campaign(
        checked, CAMPAIGN, adapters.policy(), adapters.launches, codebook(settings), NOW
    )
    seconds, cpu = time.perf_counter() - started, sum(os.times()[:2]) - cpu
    server = sum(_cpu_seconds(pid) for pid in backends)
    for at, took, what in statements:
        if took >= 0.05 or what == "COMMIT":
            print(f"{kind:10s}   {at - started:6.2f} +{took:5.2f} s  {what}", flush=True)
    cells = ", ".join(f"{code} {n:,}" for code, _, _, n in report.counts.cells)
    excluded = sum(n for _, n in report.counts.excluded)
    sends = ", ".join(f"{state} {n:,}" for state, n in report.counts.sends)
    check = report.sample_ratio
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{kind:10s} launch  {seconds:5.2f} s  cpu {cpu:.2f} s"
        + (f" + server {server:.2f} s" if backends else "")
        + f"  peak memory {peak:,.0f} MB  "
        f"{report.entered:,} contacts ({cells}; excluded {excluded:,}), sends: {sends}"
        + (f"; sample-ratio p = {check.p_value:.3f}" if check is not None else ""),
        flush=True,
    )
    adapters.engine.dispose()


def _profiled(engine: Engine) -> list[tuple[float, float, str]]:
    """(start, seconds, statement) of every statement and commit on `engine`, as they run."""
    seen: list[tuple[float, float, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        started = conn.info["started"]
        seen.append((started, time.perf_counter() - started, " ".join(statement.split())[:90]))

    @event.listens_for(engine, "commit")
    def commit(conn: Any) -> None:  # it lasts until the next statement starts
        seen.append((time.perf_counter(), 0.0, "COMMIT"))

    return seen


def run(kind: str, customers: int, repeat: int, profile: bool, keep: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        url, cleanup = filled(kind, Path(tmp), customers, keep)
        try:
            for n in range(1, repeat + 1):
                target, drop = copy(url, Path(tmp), n)
                try:
                    command = [sys.executable, __file__, "--child", kind, "--url", target]
                    subprocess.run(command + (["--profile"] if profile else []), check=True)
                finally:
                    drop()
        finally:
            cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=1, help="launches, each on a fresh copy")
    parser.add_argument("--profile", action="store_true", help="time every statement")
    parser.add_argument(
        "--keep", action="store_true", help="SQLite: start from bench_plan.py's kept fill"
    )
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        launch(args.child, args.url, args.profile)
        return
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        run(kind, args.customers, args.repeat, args.profile, args.keep)


if __name__ == "__main__":
    main()
