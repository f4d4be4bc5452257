"""Tracked link ids: created once per (campaign, URL), the same for every worker and batch."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from engine.bootstrap import Adapters
from engine.db.links import SqlLinks
from engine.db.models import Campaign, TrackedLink
from tests.conftest import NOW


def a_campaign(adapters: Adapters) -> int:
    row = {
        "key": "links", "name": "Links", "kind": "batch", "spec_yaml": "", "spec_hash": "",
        "salt": "", "status": "running", "starts_at": NOW, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    with adapters.engine.begin() as conn:
        return int(conn.execute(insert(Campaign).values(row).returning(Campaign.id)).scalar_one())


def test_new_links_get_ids_and_known_ones_keep_theirs(adapters: Adapters) -> None:
    campaign = a_campaign(adapters)
    first = SqlLinks(adapters.engine).link_ids(
        campaign, ["https://a.example/1", "https://a.example/2"]
    )
    # Another worker (its own cache) sees one old link and one new: the old id comes back.
    other = SqlLinks(adapters.engine)
    second = other.link_ids(campaign, ["https://a.example/2", "https://a.example/3"])
    assert second["https://a.example/2"] == first["https://a.example/2"]
    assert len({*first.values(), *second.values()}) == 3
    assert other.link_ids(campaign, ["https://a.example/3"]) == {
        "https://a.example/3": second["https://a.example/3"]
    }
    assert other.destination(first["https://a.example/1"]) == "https://a.example/1"
    with adapters.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TrackedLink)).scalar_one() == 3
