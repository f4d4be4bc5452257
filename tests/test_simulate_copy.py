"""`campaign simulate` on its throwaway copy: the real database stays as it was."""

from __future__ import annotations

import hashlib
import json
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from engine.bootstrap import Adapters
from engine.cli import cli
from engine.cli.simulate import run_simulation
from engine.db import sandbox
from engine.db.sandbox import CopyImpossible, throwaway_copy
from engine.errors import InvalidDocument
from engine.services.simulating import Run, read_model
from engine.services.validation import validate_campaign
from engine.settings import Settings

from .conftest import NOW, PG_ADMIN_URL
from .helpers import snapshot
from .test_dispatch import EMAIL, launch, people
from .test_simulate import REMINDER

MODEL = """\
steps:
  offer:
    opened: {p: 40%, delay: 30m}
"""


def on(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": url})}
    )


def files(adapters: Adapters) -> dict[str, str]:
    """sha256 of the SQLite database file and its WAL (what "byte for byte" compares)."""
    database = adapters.engine.url.database
    assert database
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (Path(database), Path(database + "-wal"))
        if path.exists()
    }


class Named:
    """Stands in for `secrets` in the sandbox: notes the databases it names."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def token_hex(self, n: int) -> str:
        value = secrets.token_hex(n)
        self.made.append(f"engine_sim_{value}")
        return value


def sim_databases() -> set[str]:
    engine = create_engine(PG_ADMIN_URL)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database")).scalars()
        found = {n for n in names if n.startswith("engine_sim_")}
    engine.dispose()
    return found


def test_the_real_database_is_unchanged_and_the_same_seed_repeats_itself(
    adapters: Adapters,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people(adapters, 150)
    file = tmp_path / "campaign.yaml"
    file.write_text(REMINDER, encoding="utf-8")
    chosen = read_model(
        MODEL, "model.yaml", validate_campaign(REMINDER, "c", adapters.renderer).spec
    )
    before, sqlite = snapshot(adapters), adapters.engine.dialect.name == "sqlite"
    adapters.engine.dispose()
    raw = files(adapters) if sqlite else {}
    named = Named()  # only this test's databases: other runs may share the server
    monkeypatch.setattr(sandbox, "secrets", named)
    runs = [
        run_simulation(
            on(settings, database_url),
            file,
            chosen,
            Run(NOW, 5, ZoneInfo("Asia/Shanghai"), seed),
        )
        for seed in (5, 5, 6)
    ]
    assert runs[0].reactions == runs[1].reactions != runs[2].reactions
    assert runs[0].daily == runs[1].daily and sum(runs[0].daily.values()) > 100
    assert snapshot(adapters) == before  # row for row
    if sqlite:
        adapters.engine.dispose()
        assert files(adapters) == raw  # byte for byte
    else:
        assert len(named.made) == 3  # one temporary database per run
        assert not set(named.made) & sim_databases()  # each was dropped


def test_a_copy_that_is_impossible_says_why(tmp_path: Path) -> None:
    with (
        pytest.raises(CopyImpossible, match="does not exist"),
        throwaway_copy(f"sqlite:///{tmp_path / 'missing.sqlite3'}"),
    ):
        pass
    with pytest.raises(CopyImpossible, match="in-memory"), throwaway_copy("sqlite://"):
        pass


def test_bad_model_yaml_names_file_line_and_field(adapters: Adapters) -> None:
    spec = validate_campaign(REMINDER, "c", adapters.renderer).spec
    text_ = (
        "steps:\n"
        "  offer:\n"
        "    opened: {p: 140%, delay: 2h}\n"
        "  nope:\n"
        "    clicked: {p: 10%}\n"
        "cells:\n"
        "  a:\n"
        "    replied: {p: 5%, wait: 1h}\n"
    )
    with pytest.raises(InvalidDocument) as caught:
        read_model(text_, "model.yaml", spec)
    found = "\n".join(caught.value.violations)
    assert (
        "model.yaml:3:14 steps.offer.opened.p: a share is between 0% and 100%, got '140%'" in found
    )
    assert "model.yaml:8:22 cells.a.replied.wait: Extra inputs are not permitted" in found
    with pytest.raises(InvalidDocument) as caught:
        read_model("steps:\n  nope:\n    clicked: {p: 10%}\n", "model.yaml", spec)
    assert caught.value.violations == (
        "model.yaml:2:3 steps.nope: the campaign has no step 'nope'",
    )
    with pytest.raises(InvalidDocument) as caught:
        read_model("channels:\n  email:\n    replied: {p: 1%}\n", "m.yaml", spec)
    assert caught.value.violations == (
        "m.yaml:3:5 channels.email.replied: email cannot report replied",
    )


def test_the_cli_prints_the_timeline_and_json(
    adapters: Adapters, database_url: str, tmp_path: Path
) -> None:
    people(adapters, 40)
    file, model = tmp_path / "campaign.yaml", tmp_path / "model.yaml"
    file.write_text(EMAIL + "costs: {email: 0.5}\n")
    model.write_text(MODEL)
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    args = ["simulate", str(file), "--days", "4", "--at", "2026-11-01 12:00:00"]
    shown = CliRunner().invoke(cli, [*args, "--model", str(model)], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    for title in ("sends per day", "sends per hour", "simulated reactions", "expected cost (CNY)"):
        assert title in shown.output
    lines = [line.replace("│", " ").split() for line in shown.output.splitlines()]
    treated = next(int(row[2]) for row in lines if row[:2] == ["a", "test"])
    assert ["2026-11-05", str(treated), str(treated)] in lines
    assert ["total", str(treated), f"{treated * 0.5:.2f}"] in lines
    result = CliRunner().invoke(cli, [*args, "--json"], env=env, catch_exceptions=False)
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["daily"] == [{"day": "2026-11-05", "step": "offer", "cell": "a", "sends": treated}]
    assert data["cost"]["total"] == str(Decimal("0.5") * treated)
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: {offer: {opened: {p: 2}}}\n")
    failed = CliRunner().invoke(cli, [*args, "--model", str(bad)], env=env)
    assert failed.exit_code == 1 and f"{bad}:1:26 steps.offer.opened.p" in failed.output


def test_a_campaign_already_launched_is_refused_before_the_copy(
    adapters: Adapters, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people(adapters, 10)
    launch(adapters)  # EMAIL, launched for real
    file = tmp_path / "campaign.yaml"
    file.write_text(EMAIL)
    named = Named()
    monkeypatch.setattr(sandbox, "secrets", named)
    env = {"ENGINE_DATABASE_URL": database_url, "ENGINE_CONFIG": ""}
    failed = CliRunner().invoke(cli, ["simulate", str(file), "--days", "2"], env=env)
    assert failed.exit_code == 1
    assert "was already launched, on 2026-11-01" in failed.output
    assert "give the file another key" in failed.output
    assert named.made == []  # refused before any copy was made
