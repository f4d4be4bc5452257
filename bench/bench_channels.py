"""Benchmark: SendGridChannel and TwilioSmsChannel alone against their fake servers.

Each fake runs in its own process (``python -m engine.testing.sendgrid``,
``python -m engine.testing.twilio``) with 50 ms simulated latency; the
channel sends batches of `--batch` messages as the dispatcher would hand
them. Prints messages per second for: e-mail with per-recipient content
(one request per message, the worst case), e-mail with identical content
(batched personalizations), SMS; and the fake's own capacity, hammered by
an aiohttp client.

    .venv/bin/python bench/bench_channels.py [--messages N] [--latency-ms 50] [--concurrency C]

Target (whole dispatcher, 2 cores): >= 1,500 e-mails/s with 50 ms latency.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from engine.channels.sendgrid import SendGridChannel
from engine.channels.twilio_sms import TwilioSmsChannel
from engine.core.messages import Rendered
from engine.core.sending.message import Message, Outcome
from engine.settings import SendGridSettings, TwilioSettings

SID, TOKEN, KEY = "AC" + "0" * 32, "fake-auth-token", "SG.fake-key"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Fake:
    url: str
    pid: int

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


@contextmanager
def fake(module: str, latency_ms: float) -> Iterator[Fake]:
    """Run a fake provider in its own process; yields its URL and pid."""
    command = [sys.executable, "-m", module, "--latency-ms", str(latency_ms), "--no-record"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            yield Fake(process.stdout.readline().strip(), process.pid)
        finally:
            process.terminate()


def email(i: int, same: bool) -> Message:
    text = "Hello, our spring offer" if same else f"Hello customer {i}, your code is X{i:07d}"
    rendered = Rendered("email", text, "Spring offer", f"<p>{text}</p>")
    headers = {"List-Unsubscribe": f"<https://shop.example/u/{i}>"}
    return Message(i, "spring", "offer", "A", "email", f"c{i}@example.com", rendered, None, headers)


def sms(i: int) -> Message:
    rendered = Rendered("sms", f"Hi {i}, 15% off this week. Reply STOP to opt out")
    return Message(i, "spring", "offer", "A", "sms", f"+1555{i:07d}", rendered)


def timed(
    send: Callable[[Sequence[Message]], list[Outcome]],
    messages: list[Message],
    batch: int,
    server: Fake,
) -> str:
    """Send in dispatcher-sized batches (all must be sent); returns rate and CPU per message."""
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), server.cpu()
    for start in range(0, len(messages), batch):
        outcomes = send(messages[start : start + batch])
        assert all(o.kind == "sent" for o in outcomes), {o.kind for o in outcomes}
    rate = len(messages) / (time.perf_counter() - started)
    client = (time.process_time() - cpu) / len(messages) * 1000
    fake = (server.cpu() - server_cpu) / len(messages) * 1000
    return f"{rate:7.0f} messages/s  (CPU per message: channel {client:.3f} ms, fake {fake:.3f} ms)"


async def hammer(url: str, requests: int, in_flight: int, close: bool, **post: object) -> float:
    """Return requests per second an aiohttp client gets with `in_flight` requests open.

    `close`: a new connection per request, as the SendGrid client makes them.
    """
    connector = aiohttp.TCPConnector(limit=in_flight, force_close=close)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, **post) as response:  # type: ignore[arg-type]
                await response.read()
                assert response.status < 300, response.status

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=0, help="0: the settings' default")
    args = parser.parse_args()
    n, batch = args.messages, args.batch
    tuning = {"concurrency": args.concurrency} if args.concurrency else {}
    print(f"{n} messages, batches of {batch}, {args.latency_ms:g} ms latency (shared 2-core box)")

    with fake("engine.testing.sendgrid", args.latency_ms) as server:
        settings = SendGridSettings(api_key=KEY, host=server.url, **tuning)
        channel = SendGridChannel(settings, "Shop", "news@shop.example", "engine")
        print(f"sendgrid concurrency {settings.concurrency}")
        distinct = [email(i, same=False) for i in range(n)]
        print("  per-recipient content:", timed(channel.send, distinct, batch, server))
        same = [email(i, same=True) for i in range(n)]
        print("  identical content:    ", timed(channel.send, same, batch, server))
        channel.close()
        body = channel.mail_body([email(0, same=False)])
        headers = {"Authorization": f"Bearer {KEY}"}
        print(
            "  fake alone:           ",
            capacity(server, "/v3/mail/send", n, True, json=body, headers=headers),
        )

    with fake("engine.testing.twilio", args.latency_ms) as server:
        tw = TwilioSettings(
            account_sid=SID,
            auth_token=TOKEN,
            from_number="+15550001111",
            base_url=server.url,
            **tuning,
        )
        sms_channel = TwilioSmsChannel(tw, "https://shop.example")
        print(f"twilio concurrency {tw.concurrency}")
        print(
            "  sms:                  ",
            timed(sms_channel.send, [sms(i) for i in range(n)], batch, server),
        )
        sms_channel.close()
        form = {"To": "+15550000001", "From": "+15550001111", "Body": "hi"}
        path = f"/2010-04-01/Accounts/{SID}/Messages.json"
        auth = {"Authorization": "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()}
        print("  fake alone:           ", capacity(server, path, n, False, data=form, headers=auth))


def capacity(server: Fake, path: str, n: int, close: bool, **post: object) -> str:
    """Hammer the fake with 200 requests in flight; returns the rate and its CPU per request."""
    before = server.cpu()
    rate = asyncio.run(hammer(server.url + path, n, 200, close, **post))
    per_request = (server.cpu() - before) / n
    return (
        f"{rate:7.0f} requests/s from one aiohttp client; {per_request * 1000:.3f} ms CPU "
        f"per request = {1 / per_request:,.0f} requests/s per core"
    )


if __name__ == "__main__":
    main()
