"""Composition: the one place that builds concrete adapters from settings."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from engine.core.campaign.eligibility import Holdout, Policy
from engine.core.codes import CodeBook
from engine.core.customers import ParseOptions
from engine.core.scoring import MetricRules
from engine.db.audience import SqlAudience
from engine.db.batches import SqlImportLog
from engine.db.connect import make_engine
from engine.db.customers import SqlCustomerStore
from engine.db.launches import SqlLaunches
from engine.db.metrics import SqlMetricsStore
from engine.db.orders import SqlOrderStore
from engine.render import TemplateRenderer
from engine.settings import Settings


@dataclass(frozen=True)
class Adapters:
    settings: Settings
    engine: Engine
    customers: SqlCustomerStore
    metrics: SqlMetricsStore
    log: SqlImportLog
    audience: SqlAudience
    launches: SqlLaunches
    renderer: TemplateRenderer

    def orders(self, source: str) -> SqlOrderStore:
        return SqlOrderStore(self.engine, source)

    def parse_options(self) -> ParseOptions:
        imports = self.settings.imports
        return ParseOptions(imports.default_region, imports.date_formats, self.zone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def metric_rules(self) -> MetricRules:
        lifecycle, tiers = self.settings.metrics.lifecycle, self.settings.metrics.value_tiers
        return MetricRules(
            new_days=lifecycle.new_days,
            active_days=lifecycle.active_days,
            at_risk_days=lifecycle.at_risk_days,
            lapsed_days=lifecycle.lapsed_days,
            tier_shares=(tiers.top, tiers.high, tiers.medium),
        )

    def policy(self) -> Policy:
        """Eligibility defaults from config, for planning and launching."""
        rules = self.settings.eligibility
        return Policy(
            timezone=self.settings.timezone,
            consent=dict(rules.consent),
            caps={channel: (cap.count, cap.days) for channel, cap in rules.caps.items()},
            holdout=Holdout(rules.holdout.share, rules.holdout.salt),
            currency=self.settings.currency.base,
        )


def codebook(settings: Settings) -> CodeBook:
    """Response codes keyed by the installation's secret."""
    return CodeBook.from_secret(settings.response_codes.secret)


def renderer(settings: Settings) -> TemplateRenderer:
    """Templates from config (no database needed: `campaign validate` uses only this)."""
    return TemplateRenderer(settings.templates_dir, settings.sender)


def bootstrap(settings: Settings, database_url: str | None = None) -> Adapters:
    """Adapters for `settings` (optionally on another database, e.g. the demo's)."""
    engine = make_engine(database_url or settings.database.url, settings.database.echo)
    return Adapters(
        settings=settings,
        engine=engine,
        customers=SqlCustomerStore(engine),
        metrics=SqlMetricsStore(engine),
        log=SqlImportLog(engine),
        audience=SqlAudience(engine),
        launches=SqlLaunches(engine),
        renderer=renderer(settings),
    )
