"""`campaign scheduler`: APScheduler ticks over the engine's own tables.

The schedule lives in the database (campaign starts, `sends.due_at`, entry
slots), never as one APScheduler job per recipient: the scheduler only runs
a few ticks with fixed ids, each with ``coalesce=True, max_instances=1`` so
a slow tick is never run twice at once nor replayed after a stall. A
`LeaderLock` keeps a second scheduler idle until the first one goes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler

from engine.bootstrap import Adapters, codebook, followup_options, followup_store
from engine.db import tallies
from engine.db.provider_events import SqlProviderEvents
from engine.services.following import SpecCache, run_followups
from engine.services.ingesting_sms import reapply_inbound
from engine.services.ingesting_status import drain_statuses
from engine.services.launching import run_entries
from engine.services.metrics import refresh_metrics

Tick = Callable[[], object]


def ticks(adapters: Adapters, dispatch: Tick, followups: Tick | None = None) -> dict[str, Tick]:
    """The scheduler's jobs by id (the dispatch and follow-up passes are handed in by the CLI)."""

    def now() -> datetime:
        return datetime.now(UTC)

    cache = SpecCache()
    events = SqlProviderEvents(adapters.engine)
    options = followup_options(adapters.settings)

    return {
        "launch-due": lambda: adapters.launches.start_due(now()),
        "entries": lambda: run_entries(
            adapters.launches, adapters.policy(), codebook(adapters.settings), now()
        ),
        "dispatch": dispatch,
        "followups": followups
        or (
            lambda: run_followups(
                followup_store(adapters), adapters.launches, now(), options, cache
            )
        ),
        "metrics-nightly": lambda: refresh_metrics(
            adapters.metrics, adapters.metric_rules(), now()
        ),
        # PostgreSQL appends report tallies per statement; fold them now and then
        "tallies": lambda: tallies.compact(adapters.engine),
        # Twilio status callbacks a stopped web process kept but did not apply,
        # and inbound texts whose processing failed in the request
        "callbacks": lambda: drain_statuses(events, now()) + reapply_inbound(events, now()),
    }


def build(adapters: Adapters, dispatch: Tick, followups: Tick | None = None) -> BlockingScheduler:
    """A scheduler with the fixed-id ticks; `start()` blocks."""
    scheduler = BlockingScheduler(timezone=UTC)
    jobs = ticks(adapters, dispatch, followups)
    poll = adapters.settings.dispatch.poll_seconds
    every = {
        "launch-due": 30.0,
        "entries": 60.0,
        "dispatch": poll,
        "followups": adapters.settings.followups.tick_seconds,
        "tallies": 300.0,
        "callbacks": 30.0,
    }
    options = {"coalesce": True, "max_instances": 1, "replace_existing": True}
    for job_id, seconds in every.items():
        scheduler.add_job(jobs[job_id], "interval", seconds=seconds, id=job_id, **options)
    zone = ZoneInfo(adapters.settings.timezone)
    scheduler.add_job(
        jobs["metrics-nightly"], "cron", hour=3, timezone=zone, id="metrics-nightly", **options
    )
    return scheduler
