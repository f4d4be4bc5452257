"""Campaign results counted from the database: every figure of a hand-made campaign.

tests/report_campaign.py lays the campaign out contact by contact; the
expected figures below are counted by hand from that table.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from engine.bootstrap import Adapters
from engine.core.results import CellTally, StepTally
from engine.core.stats import CellCounts, analyse_campaign
from engine.db.models import Campaign, Cell
from engine.db.results import SqlResults
from engine.services.launching import UnknownCampaign
from engine.services.reporting import all_campaigns, campaign_report

from .conftest import NOW
from .report_campaign import LAUNCHED, build

STEPS = [("offer", "email"), ("reminder", "email")]

HAND_COUNTED = [
    CellTally("control", True, 0.2, assigned=4, responders=1, revenue_cents=3000,
              revenue_squares=3000**2),
    CellTally("a", False, 0.4, assigned=8, treated=8, sent=5, delivered=4, bounced=1, opened=2,
              clicked=1, unsubscribed=1, responders=4, delivered_responders=3,
              revenue_cents=5000 + 3000 + 1500 + 4000,
              revenue_squares=5000**2 + 3000**2 + 1500**2 + 4000**2),
    CellTally("b", False, 0.4, assigned=6, treated=6, sent=6, delivered=6, opened=1,
              complained=1, responders=1, delivered_responders=1, revenue_cents=10000,
              revenue_squares=10000**2),
]  # fmt: skip


def test_every_counted_figure_equals_the_hand_count(adapters: Adapters) -> None:
    campaign_id = build(adapters.engine)
    tallies, _ = SqlResults(adapters.engine).counts(
        campaign_id, ["purchase", "code_redeemed"], STEPS
    )
    assert tallies == HAND_COUNTED


def test_what_is_not_counted(adapters: Adapters) -> None:
    """Suppressed contacts, machine opens, other kinds and unattributed responses."""
    tallies = {
        t.code: t
        for t in campaign_report(SqlResults(adapters.engine), _built(adapters), NOW).tallies
    }
    a, b, control = tallies["a"], tallies["b"], tallies["control"]
    assert a.assigned == 8  # s1 is suppressed: not assigned, its purchase of 7000 not counted
    assert a.revenue_cents == 13500
    assert a.opened == 2  # a1 and a4; a2's only open was a machine's
    assert a.responders == 4  # a4's reply is not a counted kind
    assert control.responders == 1 and control.revenue_cents == 3000  # c1; c2's reply is not
    assert b.responders == 1 and b.revenue_cents == 10000  # b4's purchase is unattributed


def test_counting_other_kinds_counts_them(adapters: Adapters) -> None:
    campaign_id = build(adapters.engine)
    tallies, _ = SqlResults(adapters.engine).counts(campaign_id, ["reply"], STEPS)
    assert [(t.code, t.responders, t.revenue_cents) for t in tallies] == [
        ("control", 1, 0),
        ("a", 1, 0),
        ("b", 0, 0),
    ]


def test_the_statistics_are_analyse_campaign_of_the_counts(adapters: Adapters) -> None:
    report = campaign_report(SqlResults(adapters.engine), _built(adapters), NOW)
    cost = {"control": 0.0, "a": 6.0, "b": 6.0}  # 6 e-mails that went at 1 cent each
    expected = analyse_campaign(
        [
            CellCounts(
                code=t.code, assigned=t.assigned, responders=t.responders, control=t.control,
                share=t.share, treated=t.treated, sent=t.sent, delivered=t.delivered,
                bounced=t.bounced, opened=t.opened, clicked=t.clicked,
                unsubscribed=t.unsubscribed, complained=t.complained,
                delivered_responders=t.delivered_responders, revenue=float(t.revenue_cents),
                revenue_squares=float(t.revenue_squares), cost=cost[t.code],
            )
            for t in HAND_COUNTED
        ]
    )  # fmt: skip
    assert report.results == expected
    lift = report.results.comparison("a")
    assert lift is not None and lift.absolute_lift == pytest.approx(4 / 8 - 1 / 4)
    assert [c.test for c in report.results.comparisons] == ["a", "b"]


def test_funnel_costs_and_roi(adapters: Adapters) -> None:
    report = campaign_report(SqlResults(adapters.engine), _built(adapters), NOW)
    assert report.funnel == (
        StepTally("offer", "email", "a", queued=1, sent=5, delivered=4, bounced=1, opened=1,
                  clicked=1, failed=1, skipped=(("consent", 1),)),
        StepTally("offer", "email", "b", sent=6, delivered=6, opened=1),
        StepTally("reminder", "email", "a", sent=1, delivered=1, opened=1),
    )  # fmt: skip
    costs = {c.cell: c for c in report.costs}
    assert costs["a"].messages == (("email", 6),)  # 5 offers (a8 unknown) + a4's reminder
    assert costs["a"].cost_cents == pytest.approx(6.0)
    assert costs["a"].roi == pytest.approx((13500 - 6) / 6)
    assert costs["control"].cost_cents == 0 and costs["control"].roi is None


def test_window_progress_curves_and_notes(adapters: Adapters) -> None:
    key = _built(adapters)
    report = campaign_report(SqlResults(adapters.engine), key, NOW)
    assert report.since_launch == timedelta(days=7)
    assert report.window is not None
    assert report.window.elapsed == pytest.approx(7 / 21) and not report.window.final
    assert report.window.closes_at == LAUNCHED + timedelta(days=21)
    curves = {c.cell: [p.responders for p in c.points] for c in report.curves}
    assert curves == {
        "control": [0, 0, 1, 1, 1, 1, 1, 1],
        "a": [1, 3, 4, 4, 4, 4, 4, 4],  # a2's code redemption on day 3 is not a new responder
        "b": [0, 0, 0, 0, 1, 1, 1, 1],
    }
    assert report.curves[1].points[2].rate == pytest.approx(4 / 8)
    assert any("window still open" in note for note in report.notes)
    assert any("1 sends still queued" in note for note in report.notes)
    later = campaign_report(SqlResults(adapters.engine), key, NOW + timedelta(days=30))
    assert later.window is not None and later.window.final and later.window.elapsed == 1
    assert not any("window still open" in note for note in later.notes)
    assert len(later.curves[0].points) == 22  # days 0..21: the curve stops with the window


def test_a_campaign_without_a_control_has_no_lift(adapters: Adapters) -> None:
    build(adapters.engine, key="no-control", control="0%")
    report = campaign_report(SqlResults(adapters.engine), "no-control", NOW)
    assert report.results.comparisons == ()
    assert report.results.uncompared == ("a", "b")
    assert [t.assigned for t in report.tallies] == [0, 8, 6]
    assert any(note.startswith("no control cell: no lift") for note in report.notes)


def test_a_sample_ratio_mismatch_is_a_note(adapters: Adapters) -> None:
    campaign_id = build(adapters.engine)
    with adapters.engine.begin() as conn:  # planned 90/5/5, observed 4/8/6
        conn.execute(
            update(Cell)
            .where(Cell.campaign_id == campaign_id, Cell.code == "control")
            .values(share=0.9)
        )
        conn.execute(
            update(Cell)
            .where(Cell.campaign_id == campaign_id, Cell.code != "control")
            .values(share=0.05)
        )
    report = campaign_report(SqlResults(adapters.engine), "report-test", NOW)
    assert report.sample_ratio is not None and report.sample_ratio.mismatch
    assert any(note.startswith("sample-ratio mismatch") for note in report.notes)


def test_all_campaigns_each_counted_apart(adapters: Adapters) -> None:
    build(adapters.engine)
    build(adapters.engine, key="no-control", control="0%")
    summaries = all_campaigns(SqlResults(adapters.engine), NOW)
    assert [(s.key, s.assigned, s.responders, s.best) for s in summaries] == [
        ("no-control", 14, 5, None),
        ("report-test", 18, 6, "a"),
    ]
    best = summaries[1]
    assert best.lift == pytest.approx(0.25) and best.interval is not None
    assert best.adjusted_p is not None and not best.significant and not best.final


def test_an_unknown_campaign_is_an_error(adapters: Adapters) -> None:
    with pytest.raises(UnknownCampaign):
        campaign_report(SqlResults(adapters.engine), "nope", NOW)


def _built(adapters: Adapters) -> str:
    build(adapters.engine)
    return "report-test"


def test_a_curve_runs_from_launch_to_today_when_the_start_came_later(adapters: Adapters) -> None:
    key = _built(adapters)
    with adapters.engine.begin() as conn:  # launched 7 days ago, started 3 days later
        conn.execute(update(Campaign).values(starts_at=LAUNCHED + timedelta(days=3)))
    report = campaign_report(SqlResults(adapters.engine), key, NOW)
    # days count from the launch, like the responders per day: 0..7, not 0..4
    assert [len(c.points) for c in report.curves] == [8, 8, 8]
