"""The SendGrid client's keep-alive transport: connections reused, dropped ones replaced."""

from __future__ import annotations

from engine.channels.sendgrid import SendGridChannel
from engine.core.messages import Rendered
from engine.core.sending.message import Message
from engine.settings import SendGridSettings
from engine.testing.sendgrid import FakeSendGrid
from engine.testing.server import Answer

KEY = "SG.test-key"


def email(send_id: int) -> Message:
    text = f"Hello {send_id}"  # distinct content: one request per message
    rendered = Rendered("email", text, "Spring offer", f"<p>{text}</p>")
    return Message(send_id, "spring", "offer", "A", "email", f"c{send_id}@example.com", rendered)


def sender(url: str, concurrency: int = 2) -> SendGridChannel:
    settings = SendGridSettings(api_key=KEY, host=url, concurrency=concurrency)
    return SendGridChannel(settings, "Shop", "news@shop.example", "engine")


def test_requests_share_one_kept_connection_per_thread() -> None:
    with FakeSendGrid(KEY) as fake:
        channel = sender(fake.url, concurrency=2)
        outcomes = channel.send([email(i) for i in range(20)])
        assert {o.kind for o in outcomes} == {"sent"}
        assert len(fake.accepted) == 20
        # urllib would have closed each after its answer: here they stay open.
        assert 1 <= len(fake.connections) <= 2
        channel.close()


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_sent_twice() -> None:
    with FakeSendGrid(KEY) as fake:
        port = int(fake.url.rsplit(":", 1)[1])
        channel = sender(fake.url, concurrency=1)
        assert channel.send([email(1)])[0].kind == "sent"
    with FakeSendGrid(KEY, port=port) as again:  # the kept connection is dead now
        [outcome] = channel.send([email(2)])
        assert outcome.kind == "sent"
        assert again.recipients() == ["c2@example.com"]
        channel.close()


def test_an_answer_with_connection_close_drops_the_connection() -> None:
    with FakeSendGrid(KEY) as fake:
        channel = sender(fake.url, concurrency=1)
        fake.answer_next(Answer(202, {"X-Message-Id": "m1", "Connection": "close"}, b""))
        assert channel.send([email(1)])[0].kind == "sent"
        assert channel.send([email(2)])[0].kind == "sent"
        assert len(fake.requests) == 2
        channel.close()
