"""A dispatcher process killed with SIGKILL mid-batch: nothing sent twice, nothing lost.

A real `campaign dispatch` subprocess sends through FakeSendGrid (in this
process, 100 ms per answer) and is killed once the fake has taken some but
not all messages. The restart (the same dispatch pass, in this process, from the same config
file) past the lease queues again what was claimed
but never handed over and marks `unknown` what was handed over; the
`processed` events reconcile the unknowns the provider took; the
`resend` policy sends the rest (the provider never had them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from engine.bootstrap import Adapters, bootstrap
from engine.cli.send import run_dispatch
from engine.config import load_settings
from engine.db.dispatch import SqlDispatch
from engine.db.models import Send
from engine.services.dispatching import DispatchReport
from engine.testing.sendgrid import FakeSendGrid

from .test_dispatch import OPEN, launch, people
from .test_launch import table

KEY = "SG.crash-test"
ROOT = Path(__file__).resolve().parents[1]
LEASE = 10  # seconds (the smallest the settings allow)


def dispatcher(config: Path, at: datetime) -> subprocess.Popen[str]:
    """Start `campaign dispatch --at` as its own process with the config file."""
    campaign = str(Path(sys.executable).parent / "campaign")
    command = [campaign, "dispatch", "--at", f"{at:%Y-%m-%d %H:%M:%S}"]
    environ = {**os.environ, "ENGINE_CONFIG": str(config)}
    return subprocess.Popen(
        command, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def restart(config: Path, at: datetime, environ: dict[str, str] | None = None) -> DispatchReport:
    """One dispatch pass as the restarted dispatcher: the same config file (and `environ`)."""
    adapters = bootstrap(load_settings(config, environ or {}))
    try:
        return run_dispatch(adapters, at)
    finally:
        adapters.engine.dispose()


def sent_ids(fake: FakeSendGrid) -> Counter[int]:
    """How often the fake took each send id."""
    return Counter(
        int(p["custom_args"]["ce_send_id"])
        for mail in fake.accepted
        for p in mail.body["personalizations"]
    )


def test_sigkill_mid_batch_then_restart_sends_each_step_exactly_once(
    adapters: Adapters, database_url: str, tmp_path: Path
) -> None:
    people(adapters, 100)
    launch(adapters, now=OPEN)
    total = {s["id"] for s in table(adapters, Send)}
    with FakeSendGrid(KEY, latency=0.1) as fake:
        config = tmp_path / "config.yaml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "database": {"url": database_url},
                    "channels": {"sendgrid": {"api_key": KEY, "host": fake.url, "concurrency": 4}},
                    "dispatch": {
                        "batch_size": 20,
                        "lease_seconds": LEASE,
                        "throttle": {"email": "100000/s"},
                    },
                }
            )
        )
        first = dispatcher(config, OPEN)
        deadline = time.monotonic() + 60  # a loaded machine starts Python slowly
        while len(fake.accepted) < 10 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        output, _ = first.communicate(timeout=10)
        assert first.returncode == -signal.SIGKILL, output
        taken = sent_ids(fake)
        assert 10 <= len(taken) < len(total)  # killed mid-way

        claimed = [s for s in table(adapters, Send) if s["state"] == "sending"]
        handed = sum(1 for s in claimed if s["handed_at"] is not None)
        first_pass = restart(config, OPEN + timedelta(seconds=LEASE + 1))
        assert (first_pass.unknown, first_pass.requeued) == (handed, len(claimed) - handed)
        assert first_pass.unknown > 0
        states = Counter(s["state"] for s in table(adapters, Send))
        assert states["sent"] + states["unknown"] == len(total)

        events = [(int(e["ce_send_id"]), e["sg_message_id"]) for e in fake.processed_events()]
        outbox = SqlDispatch(adapters.engine)
        reconciled = outbox.reconcile(events, OPEN + timedelta(seconds=LEASE + 2))
        assert reconciled > 0  # taken before the kill, never recorded by the dead process
        left = [s["id"] for s in table(adapters, Send) if s["state"] == "unknown"]
        assert left and not set(left) & set(sent_ids(fake))  # the provider never had these

        resend = {"ENGINE_DISPATCH__UNKNOWN_POLICY": "resend"}
        resend["ENGINE_DISPATCH__UNKNOWN_GRACE_HOURS"] = "0.01"
        last = restart(config, OPEN + timedelta(hours=1), resend)
        assert last.resolved == len(left)

    sends = table(adapters, Send)
    assert Counter(s["state"] for s in sends) == {"sent": len(total)}
    received = sent_ids(fake)
    assert set(received) == total and set(received.values()) == {1}
