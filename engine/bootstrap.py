"""Composition: the one place that builds concrete adapters from settings."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from engine.channels.call_list import CallListChannel
from engine.channels.print_file import PrintFileChannel
from engine.channels.sendgrid import SendGridChannel
from engine.channels.twilio_sms import TwilioSmsChannel
from engine.core.campaign.eligibility import Holdout, Policy
from engine.core.codes import CodeBook
from engine.core.customers import ParseOptions
from engine.core.followups.rules import FollowupOptions
from engine.core.scoring import MetricRules
from engine.core.sending.states import RetryPolicy
from engine.core.tracking.tokens import TokenSigner
from engine.db.audience import SqlAudience
from engine.db.batches import SqlImportLog
from engine.db.connect import make_engine
from engine.db.customers import SqlCustomerStore
from engine.db.dispatch import SqlDispatch
from engine.db.effects import SqlEffects
from engine.db.followups import SqlFollowups
from engine.db.launches import SqlLaunches
from engine.db.links import SqlLinks
from engine.db.metrics import SqlMetricsStore
from engine.db.orders import SqlOrderStore
from engine.db.outbox import OutboxChannel
from engine.db.sendcheck import SqlSendChecks
from engine.db.throttle import SqlThrottle
from engine.render import TemplateRenderer
from engine.services.composing import Composer, Tracking
from engine.services.dispatching import BURST_SECONDS, DispatchRules, Ports
from engine.services.ports import Channel
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

    def orders(self, source: str, credit_at: datetime | None = None) -> SqlOrderStore:
        return SqlOrderStore(self.engine, source, credit_at)

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
    database = settings.database
    engine = make_engine(database_url or database.url, database.echo, database.sqlite_cache_mb)
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


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """This process, as named on the sends it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def tracking(settings: Settings) -> Tracking:
    sender = settings.sender
    return Tracking(
        signer=TokenSigner(settings.tracking.secret),
        public_url=sender.public_url,
        mode=settings.tracking.mode,
        purl_base=settings.channels.print.purl_base or sender.public_url.rstrip("/") + "/r",
    )


def dispatch_ports(adapters: Adapters) -> Ports:
    engine = adapters.engine
    return Ports(
        outbox=SqlDispatch(engine),
        checks=SqlSendChecks(engine),
        effects=SqlEffects(engine),
        pacer=SqlThrottle(engine, BURST_SECONDS),
        campaigns=adapters.launches,
        composer=Composer(
            adapters.renderer, SqlLinks(engine), tracking(adapters.settings), adapters.zone
        ),
    )


def dispatch_rules(adapters: Adapters, worker: str | None = None) -> DispatchRules:
    rules = adapters.settings.dispatch
    return DispatchRules(
        worker=worker or worker_name(),
        batch_size=rules.batch_size,
        lease=timedelta(seconds=rules.lease_seconds),
        retry=RetryPolicy(rules.max_attempts, timedelta(seconds=rules.retry_seconds)),
        pause_after_errors=rules.pause_after_errors,
        unknown_grace=timedelta(hours=rules.unknown_grace_hours),
        resend_unknown=rules.unknown_policy == "resend",
        throttle=dict(rules.throttle),
        quiet_hours={channel: dict(hours) for channel, hours in rules.quiet_hours.items()},
        policy=adapters.policy(),
    )


def followup_store(adapters: Adapters) -> SqlFollowups:
    """The follow-up rules' SQL (engine.db.followups) on the adapters' database."""
    return SqlFollowups(adapters.engine)


def followup_options(settings: Settings) -> FollowupOptions:
    """The follow-up evaluation settings as typed values."""
    rules = settings.followups
    return FollowupOptions(
        count_machine_opens=rules.count_machine_opens,
        lookback=timedelta(seconds=rules.lookback_seconds),
    )


def channels(adapters: Adapters, clock: Clock = utc_now) -> dict[str, Channel]:
    """One channel per way out: the provider where configured, else the outbox.

    Mail and calls always go to files (print drops, call lists): they are
    the hand-over to the mail house and the call centre.
    """
    engine, settings, sender = adapters.engine, adapters.settings.channels, adapters.settings.sender
    email: Channel = OutboxChannel(engine, "email", clock)
    if settings.sendgrid.api_key:
        email = SendGridChannel(
            settings.sendgrid, sender.name, sender.email, adapters.settings.tracking.mode
        )
    sms: Channel = OutboxChannel(engine, "sms", clock)
    if settings.twilio.configured:
        sms = TwilioSmsChannel(settings.twilio, sender.public_url)
    return {
        "email": email,
        "sms": sms,
        "mail": PrintFileChannel(settings.print, clock),
        "call": CallListChannel(settings.calls, clock),
    }
