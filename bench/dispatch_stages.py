"""One dispatcher (as `campaign worker --stop-when-idle`) whose ports are timed; prints JSON.

Run by bench_dispatch.py with ENGINE_CONFIG set. Every call of an outbox,
checks, effects, pacer, renderer or links method is timed on the
dispatching thread; "compose" is composing minus rendering and link ids
(variables, token signing, link rewriting); "waiting and other" is the rest
of the wall time (mostly waiting for the chunk in flight). The channel's
`send` runs in the carrier thread, overlapped with the rest: "provider
calls (background)". Values are seconds; "wall" is the whole run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from engine.bootstrap import bootstrap, channels, dispatch_ports, dispatch_rules
from engine.config import load_settings
from engine.services.composing import Composer
from engine.services.dispatching import dispatch_due

spent: Counter[str] = Counter()


class Timed:
    """Times every method call of `inner` under `stage` (or `stage.method`)."""

    def __init__(self, inner: Any, stage: str, by_method: bool = False) -> None:
        self._inner, self._stage, self._by_method = inner, stage, by_method

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value
        stage = f"{self._stage}.{name}" if self._by_method else self._stage

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - started

        return timed


def main() -> None:
    adapters = bootstrap(load_settings())
    ports = dispatch_ports(adapters)
    composer = ports.composer
    timed_composer = replace(
        composer,
        renderer=Timed(composer.renderer, "render"),
        links=Timed(composer.links, "link ids"),
    )
    ports = replace(
        ports,
        outbox=Timed(ports.outbox, "outbox", by_method=True),
        checks=Timed(ports.checks, "checks"),
        effects=Timed(ports.effects, "effects"),
        pacer=Timed(ports.pacer, "pacer"),
        composer=Timed(timed_composer, "composing"),  # type: ignore[arg-type]
    )
    assert isinstance(timed_composer, Composer)
    rules = dispatch_rules(adapters)
    started = time.perf_counter()
    while True:
        ways = channels(adapters)
        chosen = {name: Timed(way, "provider calls") for name, way in ways.items()}
        report = dispatch_due(ports, chosen, rules, lambda: datetime.now(UTC), time.sleep)  # type: ignore[arg-type]
        for way in ways.values():
            way.close()
        if not sum(report.states.values()):
            break
    wall = time.perf_counter() - started
    spent["compose"] = spent.pop("composing") - spent["render"] - spent["link ids"]
    background = spent.pop("provider calls")
    accounted = sum(spent.values())
    shares = {**dict(spent.most_common()), "waiting and other": wall - accounted}
    print(json.dumps({**shares, "provider calls (background)": background, "wall": wall}))


if __name__ == "__main__":
    main()
