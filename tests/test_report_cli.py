"""`campaign report` end to end: the tables, --json keys, --csv rows and --all."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.db.connect import make_engine

from .report_campaign import build

AT = ("--at", "2026-11-01 12:00:00")  # NOW of the tests


@pytest.fixture
def run(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    build(engine)
    build(engine, key="no-control", control="0%")
    engine.dispose()
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": "", "COLUMNS": "200"}

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_the_report_tables(run) -> None:  # type: ignore[no-untyped-def]
    result = run("report", "report-test", *AT)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Report test campaign (report-test)" in out
    assert "launched 2026-10-25 12:00 UTC, 7d 0h ago" in out
    assert "response window 21d 0h: 33% passed (open)" in out
    assert "window still open" in out
    assert "50.0% [21.5, 78.5]" in out  # cell a: 4 of 8, Wilson interval
    assert "135.00" in out and "0.06" in out  # revenue and cost of cell a in CNY
    assert "+25.00 pp [-28.20, +60.06]" in out  # a against control, Newcombe interval
    assert "0.4076" in out and "0.8153" in out  # p and Holm-adjusted p
    assert "consent 1" in out  # a5's skipped offer
    assert "SECONDARY, delivered basis" in out and "75.0% [30.1, 95.4]" in out
    assert "sample ratio: chi-square 0.33 (2 df)" in out


def test_json_has_every_figure_under_stable_keys(run) -> None:  # type: ignore[no-untyped-def]
    result = run("report", "report-test", "--json", *AT)
    data = json.loads(result.output)
    assert list(data) == [
        "campaign", "as_of", "launched_at", "since_launch_seconds", "window",
        "response_events", "money", "alpha", "cells", "comparisons", "uncompared",
        "sample_ratio", "funnel", "curves", "notes",
    ]  # fmt: skip
    assert data["window"]["elapsed"] == pytest.approx(1 / 3) and data["window"]["final"] is False
    assert data["money"] == "cents of CNY"
    a = data["cells"][1]
    assert (a["code"], a["assigned"], a["responders"], a["revenue"], a["cost"]) == (
        "a",
        8,
        4,
        13500.0,
        6.0,
    )
    assert a["messages"] == {"email": 6} and a["response_interval"]["low"] == pytest.approx(
        0.2152, abs=1e-4
    )
    lift = data["comparisons"][0]
    assert {"absolute_lift_interval", "adjusted_p_value", "minimum_detectable_lift",
            "delivered_lift", "incremental_roi"} <= set(lift)  # fmt: skip
    assert lift["absolute_lift"] == pytest.approx(0.25)
    assert data["funnel"][0]["skipped"] == {"consent": 1}
    assert data["curves"][1]["points"][1] == {"day": 1, "responders": 3, "rate": 3 / 8}


def test_csv_is_one_row_per_cell_with_its_lift(run) -> None:  # type: ignore[no-untyped-def]
    result = run("report", "report-test", "--csv", *AT)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["cell"] for r in rows] == ["control", "a", "b"]
    assert rows[0]["versus"] == "" and rows[0]["responders"] == "1"
    assert rows[1]["versus"] == "control" and float(rows[1]["absolute_lift"]) == pytest.approx(0.25)
    assert float(rows[2]["adjusted_p_value"]) == pytest.approx(float(rows[1]["adjusted_p_value"]))


def test_all_lists_every_campaign(run) -> None:  # type: ignore[no-untyped-def]
    out = run("report", "--all", *AT).output
    assert "report-test" in out and "no-control" in out
    assert "+25.00 pp [-28.20, +60.06]" in out
    data = json.loads(run("report", "--all", "--json", *AT).output)
    assert [(d["key"], d["best"]) for d in data] == [("no-control", None), ("report-test", "a")]
    rows = list(csv.DictReader(io.StringIO(run("report", "--all", "--csv", *AT).output)))
    assert [(r["key"], r["best"], r["lift_low"] != "") for r in rows] == [
        ("no-control", "", False),
        ("report-test", "a", True),
    ]


def test_a_campaign_without_control_says_so(run) -> None:  # type: ignore[no-untyped-def]
    out = run("report", "no-control", *AT).output
    assert "no control cell: no lift" in out and "lift against control" not in out


def test_bad_usage(run) -> None:  # type: ignore[no-untyped-def]
    assert run("report").exit_code == 2
    assert run("report", "report-test", "--all").exit_code == 2
    missing = run("report", "nope")
    assert missing.exit_code == 1 and "no launched campaign 'nope'" in missing.output
