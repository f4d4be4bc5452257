"""The scheduler: fixed-id ticks that never overlap, one leader per database."""

from __future__ import annotations

from engine.bootstrap import Adapters
from engine.db.connect import make_engine
from engine.db.leader import LeaderLock
from engine.scheduler import build


def test_ticks_have_fixed_ids_and_never_run_twice_at_once(adapters: Adapters) -> None:
    ran: list[str] = []
    scheduler = build(adapters, lambda: ran.append("dispatch"))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "launch-due",
        "entries",
        "dispatch",
        "followups",
        "metrics-nightly",
        "tallies",
        "callbacks",
    }
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
    jobs["dispatch"].func()
    assert ran == ["dispatch"]
    assert jobs["launch-due"].func() == []  # nothing scheduled
    assert jobs["followups"].trigger.interval.total_seconds() == 15  # followups.tick_seconds
    assert jobs["followups"].func().rules == 0  # no campaign yet


def test_a_second_scheduler_stays_idle_until_the_leader_lets_go(adapters: Adapters) -> None:
    other = make_engine(adapters.engine.url.render_as_string(hide_password=False))
    first, second = LeaderLock(adapters.engine), LeaderLock(other)
    try:
        assert first.acquire()
        assert first.acquire()  # re-entrant for its holder
        assert not second.acquire()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()
        other.dispose()
