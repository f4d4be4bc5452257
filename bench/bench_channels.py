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
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import aiohttp

from engine.channels.sendgrid import SendGridChannel
from engine.channels.twilio_sms import TwilioSmsChannel
from engine.core.messages import Rendered
from engine.core.sending.message import Message, Outcome
from engine.settings import SendGridSettings, TwilioSettings

SID, TOKEN, KEY = "AC" + "0" * 32, "fake-auth-token", "SG.fake-key"


@contextmanager
def fake(module: str, latency_ms: float) -> Iterator[str]:
    """Run a fake provider in its own process; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--latency-ms", str(latency_ms), "--no-record"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)


def email(i: int, same: bool) -> Message:
    text = "Hello, our spring offer" if same else f"Hello customer {i}, your code is X{i:07d}"
    rendered = Rendered("email", text, "Spring offer", f"<p>{text}</p>")
    headers = {"List-Unsubscribe": f"<https://shop.example/u/{i}>"}
    return Message(i, "spring", "offer", "A", "email", f"c{i}@example.com", rendered, None, headers)


def sms(i: int) -> Message:
    rendered = Rendered("sms", f"Hi {i}, 15% off this week. Reply STOP to opt out")
    return Message(i, "spring", "offer", "A", "sms", f"+1555{i:07d}", rendered)


def timed(
    send: Callable[[Sequence[Message]], list[Outcome]], messages: list[Message], batch: int
) -> float:
    """Send in dispatcher-sized batches; returns messages per second (all must be sent)."""
    started = time.perf_counter()
    for start in range(0, len(messages), batch):
        outcomes = send(messages[start : start + batch])
        assert all(o.kind == "sent" for o in outcomes), {o.kind for o in outcomes}
    return len(messages) / (time.perf_counter() - started)


async def hammer(url: str, requests: int, in_flight: int, **post: object) -> float:
    """Return requests per second the server answers with `in_flight` requests open."""
    connector = aiohttp.TCPConnector(limit=in_flight)
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

    with fake("engine.testing.sendgrid", args.latency_ms) as url:
        settings = SendGridSettings(api_key=KEY, host=url, **tuning)
        channel = SendGridChannel(settings, "Shop", "news@shop.example", "engine")
        distinct = timed(channel.send, [email(i, same=False) for i in range(n)], batch)
        same = timed(channel.send, [email(i, same=True) for i in range(n)], batch)
        channel.close()
        body = channel.mail_body([email(0, same=False)])
        headers = {"Authorization": f"Bearer {KEY}"}
        raw = asyncio.run(hammer(f"{url}/v3/mail/send", n, 200, json=body, headers=headers))
    print(
        f"sendgrid  per-recipient content: {distinct:8.0f} e-mails/s "
        f"(concurrency {settings.concurrency})"
    )
    print(f"sendgrid  identical content:     {same:8.0f} e-mails/s")
    print(f"fake sendgrid alone:             {raw:8.0f} requests/s (200 in flight)")

    with fake("engine.testing.twilio", args.latency_ms) as url:
        tw = TwilioSettings(
            account_sid=SID, auth_token=TOKEN, from_number="+15550001111", base_url=url, **tuning
        )
        sms_channel = TwilioSmsChannel(tw, "https://shop.example")
        texts = timed(sms_channel.send, [sms(i) for i in range(n)], batch)
        sms_channel.close()
        form = {"To": "+15550000001", "From": "+15550001111", "Body": "hi"}
        create = f"{url}/2010-04-01/Accounts/{SID}/Messages.json"
        auth = aiohttp.BasicAuth(SID, TOKEN)
        raw = asyncio.run(hammer(create, n, 200, data=form, auth=auth))
    print(
        f"twilio    sms:                   {texts:8.0f} messages/s (concurrency {tw.concurrency})"
    )
    print(f"fake twilio alone:               {raw:8.0f} requests/s (200 in flight)")


if __name__ == "__main__":
    main()
