"""The `campaign` command end to end: migrate, import, refresh, summarise, demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli

from .helpers import write_csv


@pytest.fixture
def run(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "ENGINE_DATABASE_URL": database_url,
        "ENGINE_IMPORTS__REJECTS_DIR": str(tmp_path / "rej"),
        "ENGINE_CONFIG": "",
    }

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_import_refresh_and_summary(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("db", "upgrade").exit_code == 0
    customers = write_csv(
        tmp_path / "c.csv", ["no", "mail"], [["C1", "a@example.com"], ["C2", "bad"]]
    )
    result = run(
        "import", "customers", str(customers), "--map", "external_id=no", "--map", "email=mail"
    )
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output and "invalid email" in result.output
    orders = write_csv(
        tmp_path / "o.csv",
        ["order_id", "customer_id", "ordered_at", "amount"],
        [["O1", "C1", "2026-01-01T00:00:00Z", "9.99"]],
    )
    assert run("import", "orders", str(orders)).exit_code == 0
    refreshed = run("metrics", "refresh", "--as-of", "2026-02-01")
    assert "metrics refreshed for 1 customers as of 2026-02-01 00:00 UTC" in refreshed.output
    summary = run("customers", "summary").output
    assert "1 customers, 1 orders, revenue 9.99 CNY" in summary
    assert "│ active " in summary and "│ champions " in summary


def test_bad_input_gives_a_clear_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("import", "customers", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1 and "missing.csv: no such file" in result.output
    bad_map = run("import", "customers", str(tmp_path / "x.csv"), "--map", "colour=c")
    assert bad_map.exit_code == 2 and "unknown field 'colour'" in bad_map.output
    bad_source = run("import", "customers", str(tmp_path / "x.csv"), "--source", "bought")
    assert bad_source.exit_code == 2 and "use internal or external:NAME" in bad_source.output


def test_demo_builds_and_summarises_a_customer_base(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["demo", "--customers", "400", "--dir", str(tmp_path / "demo")],
        env={"ENGINE_CONFIG": ""},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    for expected in (
        "customers by lifecycle stage",
        "customers by RFM segment",
        "customers by source",
        "external:listco",
        "merged into existing",
        "rejected rows by reason",
        "plan winback-2026-12",
        "audience funnel",
        "sample: cell offer15, step offer (email)",
        "launched winback-2026-12",
        "sample-ratio check",
        "campaign dispatch --at",
        "│ email   │  sent │",
        "callbacks posted",
        "/webhooks/sendgrid 200",
        "│ processed │",
        "sends by delivery status",
        "follow-ups the callbacks fired",
        "campaign report winback-2026-12",
        "lift against control",
    ):
        assert expected in result.output
    assert (tmp_path / "demo" / "demo.sqlite3").exists()
    assert (tmp_path / "demo" / "rejects" / "orders.csv").exists()
