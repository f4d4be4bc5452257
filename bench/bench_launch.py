"""Benchmark: launch a campaign to a 1,000,000-customer audience, on SQLite and PostgreSQL.

Fills the database as bench_plan.py does (set-based SQL, deterministic), then
launches a campaign whose segment matches every customer into three cells
including a control: contacts for the whole audience (treated, held out or
suppressed with reason), response codes and the first sends. Prints the
launch time, the counts, the sample-ratio check and the peak memory of the
process (a fresh process per database).

    .venv/bin/python bench/bench_launch.py [--customers N] [--only sqlite|postgresql] [--keep]

Target on a 2-core machine: <= 10 s and <= 512 MB per launch.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_import import _database  # type: ignore[import-not-found]
from bench_plan import NOW, ROOT, fill  # type: ignore[import-not-found]

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


def run(kind: str, workdir: Path, customers: int, keep: bool) -> None:
    kept = Path(tempfile.gettempdir()) / f"engine-bench-plan-{customers}.sqlite3"
    if kind == "sqlite" and keep and kept.exists():
        url, cleanup = f"sqlite:///{workdir / 'launch.sqlite3'}", lambda: None
        shutil.copy(kept, workdir / "launch.sqlite3")  # the kept fill stays unlaunched
    else:
        url, cleanup = _database(kind, workdir)
        engine = make_engine(url)
        migrate.upgrade(engine)
        print(f"{kind:10s} fill    {fill(engine, customers)}", flush=True)
        engine.dispose()
    try:
        settings = Settings.model_validate({"templates_dir": str(ROOT / "templates")})
        adapters = bootstrap(settings, url)
        checked = validate_campaign(CAMPAIGN, "bench-launch.yaml", adapters.renderer)
        started = time.perf_counter()
        report = launch_campaign(
            checked, CAMPAIGN, adapters.policy(), adapters.launches, codebook(settings), NOW
        )
        seconds = time.perf_counter() - started
        cells = ", ".join(f"{code} {n:,}" for code, _, _, n in report.counts.cells)
        excluded = sum(n for _, n in report.counts.excluded)
        sends = ", ".join(f"{state} {n:,}" for state, n in report.counts.sends)
        check = report.sample_ratio
        print(
            f"{kind:10s} launch  {seconds:5.2f} s  {report.entered:,} contacts ({cells}; "
            f"excluded {excluded:,}), sends: {sends}",
            flush=True,
        )
        if check is not None:
            print(
                f"{kind:10s}         sample-ratio chi-square {check.statistic:.2f}, "
                f"p = {check.p_value:.3f}",
                flush=True,
            )
        adapters.engine.dispose()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{kind:10s} peak memory {peak:,.0f} MB", flush=True)
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--keep", action="store_true", help="SQLite: start from bench_plan.py's kept fill"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
            run(args.only, Path(tmp), args.customers, args.keep)
        return
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        command = [sys.executable, __file__, "--child", "--only", kind]
        command += ["--customers", str(args.customers)] + (["--keep"] if args.keep else [])
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
