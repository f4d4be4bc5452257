"""Config: parsed once into frozen settings; bad values name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.bootstrap import bootstrap
from engine.cli.context import Context
from engine.config import load_settings
from engine.errors import ConfigError
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_config_is_valid_and_matches_the_defaults() -> None:
    settings = load_settings(ROOT / "config.yaml", environ={})
    assert settings.database.url == "sqlite:///var/engine.sqlite3"
    assert settings.imports.default_region == "CN"
    assert settings.metrics.lifecycle.active_days == 180
    assert str(settings.currency.rates["USD"]) == "7.1"


def test_environment_overrides_file_values(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("imports:\n  default_region: CN\n")
    env = {
        "ENGINE_DATABASE_URL": "postgresql://db/x",
        "ENGINE_IMPORTS__DEFAULT_REGION": "us",
        "ENGINE_METRICS__LIFECYCLE__ACTIVE_DAYS": "90",
        "UNRELATED": "1",
    }
    settings = load_settings(path, environ=env)
    assert settings.database.url == "postgresql://db/x"
    assert settings.imports.default_region == "US"
    assert settings.metrics.lifecycle.active_days == 90


def test_bad_values_are_all_reported_with_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "database:\n  url: sqlite:///x\n"
        "metrics:\n  lifecycle:\n    active_days: soon\n"
        "imports:\n  default_region: Narnia\n  colour: blue\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.violations == (
        f"{path}:7:3 imports.default_region: unknown phone region 'Narnia' "
        "(use ISO 3166 codes like CN, US)",
        f"{path}:8:3 imports.colour: Extra inputs are not permitted",
        f"{path}:5:5 metrics.lifecycle.active_days: Input should be a valid integer, "
        "unable to parse string as an integer",
    )


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("imports: {}\n")
    with pytest.raises(ConfigError, match=r"\$ENGINE_IMPORTS__BATCH_SIZE imports.batch_size"):
        load_settings(tmp_path / "c.yaml", environ={"ENGINE_IMPORTS__BATCH_SIZE": "7"})


def test_inconsistent_thresholds_and_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("metrics:\n  lifecycle:\n    active_days: 400\n")
    with pytest.raises(
        ConfigError, match=r"c.yaml:2:3 metrics.lifecycle: .*active_days < at_risk_days"
    ):
        load_settings(path, environ={})
    path.write_text("timezone: UTC\ntimezone: Asia/Tokyo\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2:1: found duplicate key"):
        load_settings(path, environ={})


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_settings_are_frozen() -> None:
    settings = load_settings(ROOT / "config.yaml", environ={})
    with pytest.raises(ValidationError):
        settings.timezone = "UTC"  # type: ignore[misc]


def test_a_partial_eligibility_map_keeps_the_other_channels_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("eligibility:\n  consent: {mail: opt_in}\n  caps: {sms: {count: 3, days: 7}}\n")
    rules = load_settings(path, environ={}).eligibility
    assert rules.consent == {
        "email": "opt_in",
        "sms": "opt_in",
        "mail": "opt_in",
        "call": "opt_out",
    }
    assert (rules.caps["sms"].count, rules.caps["email"].count, rules.caps["mail"].days) == (
        3,
        2,
        30,
    )


def test_dispatch_processes_open_sqlite_with_their_smaller_page_cache(tmp_path: Path) -> None:
    ctx = Context(None)
    ctx.settings = Settings()  # as load_settings would give without a file
    url = f"sqlite:///{tmp_path / 'cache.sqlite3'}"

    def cache_kib() -> int:
        engine = bootstrap(ctx.settings, url).engine
        with engine.connect() as conn:
            size = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
        engine.dispose()
        return -size

    assert cache_kib() == 64 * 1024  # database.sqlite_cache_mb
    ctx.for_dispatch()  # `campaign dispatch` and `campaign worker`
    assert cache_kib() == 8 * 1024  # dispatch.sqlite_cache_mb
