"""Two workers on PostgreSQL send a 10,000-message campaign: every send exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from engine.bootstrap import bootstrap, dispatch_ports, dispatch_rules
from engine.db.models import Send
from engine.services.dispatching import dispatch_due
from engine.settings import Settings

from .fakes import FakeChannel, FakeClock
from .test_dispatch import OPEN, launch, people, table


def test_two_workers_send_every_message_exactly_once(postgres_url: str, settings: Settings) -> None:
    setup = bootstrap(settings, postgres_url)
    people(setup, 12_500)
    launch(setup, now=OPEN)
    total = len(table(setup, Send))
    assert total >= 9_500  # 80% test cell of 12,500
    fakes = [FakeChannel("email"), FakeChannel("email")]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        adapters = bootstrap(settings, postgres_url)  # its own pool, as another process has
        rules = replace(dispatch_rules(adapters, f"worker-{index}"), throttle={}, batch_size=200)
        clock = FakeClock(OPEN + timedelta(seconds=index))
        try:
            dispatch_due(
                dispatch_ports(adapters), {"email": fakes[index]}, rules, clock, clock.sleep
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            adapters.engine.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    received = Counter(m.send_id for fake in fakes for m in fake.received)
    assert len(received) == total and set(received.values()) == {1}
    assert all(fake.received for fake in fakes)  # both took part
    sends = table(setup, Send)
    assert Counter(s["state"] for s in sends) == {"sent": total}
    claimed = Counter(s["claimed_by"] for s in sends)
    assert set(claimed) == {"worker-0", "worker-1"}
    setup.engine.dispose()
