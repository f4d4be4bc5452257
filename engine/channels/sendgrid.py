"""E-mail through SendGrid's v3 Mail Send API with the official `sendgrid` client.

Messages whose rendered subject, text, html and categories are identical go
in one request, one personalization each (address, List-Unsubscribe
headers, custom args); everything else goes alone. The official client
builds every request (`KeepAliveClient` records it instead of sending);
they go out together, up to `SendGridSettings.concurrency` at a time, over
kept-alive connections on one event loop (`engine.channels.multiplex`).
Answers that call for another request (413: split the group; 400 naming
some recipients: send the others again) make the next round. Every answer
becomes an `Outcome` through `engine.core.sending.providers`; nothing here
raises for SendGrid.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from sendgrid import SendGridAPIClient

from engine.channels.http11 import ConnectError, Headers, Reply, Request
from engine.channels.keepalive import KeepAliveClient
from engine.channels.multiplex import Multiplexer
from engine.core.sending.batching import batches, halves
from engine.core.sending.message import Message, Outcome
from engine.core.sending.providers import no_answer_outcome, sendgrid_blame, sendgrid_outcome
from engine.settings import SendGridSettings

MAX_PERSONALIZATIONS = 1000
MAX_CATEGORIES = 10
TrackingMode = Literal["engine", "sendgrid"]


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True)
class _NoAnswer:
    error: str
    request_sent: bool


class SendGridChannel:
    """The ``email`` way out through SendGrid (see the module docstring)."""

    name = "sendgrid"

    def __init__(
        self,
        settings: SendGridSettings,
        sender_name: str,
        sender_email: str,
        tracking_mode: TrackingMode,
    ) -> None:
        if not settings.api_key:
            raise ValueError("SendGridChannel needs settings.api_key")
        self._api = SendGridAPIClient(settings.api_key, host=settings.host)
        # The official client builds each request (URL, headers, JSON body);
        # the recorder keeps it and the multiplexer sends them all together.
        headers = {**self._api.client.request_headers, "Content-Type": "application/json"}
        self._recorder = _Recorder()
        self._api.client = KeepAliveClient(
            host=settings.host, request_headers=headers, version=3, pool=self._recorder
        )
        self._sender = {"email": sender_email, "name": sender_name}
        self._prefix = settings.custom_args_prefix
        self._tracking = tracking_settings(tracking_mode)
        self._sandbox = settings.sandbox
        self.wire = Multiplexer(settings.concurrency, settings.timeout_seconds)

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """Return one outcome per message, in order; requests run concurrently."""
        outcomes: dict[int, Outcome] = {}
        rounds = batches(messages, _content_key, lambda m: m.to, MAX_PERSONALIZATIONS)
        while rounds:
            answers = self._post_all([[messages[i] for i in g] for g in rounds])
            again: list[list[int]] = []
            for group, answer in zip(rounds, answers, strict=True):
                again += self._settle(messages, group, answer, outcomes)
            rounds = again
        return [outcomes[index] for index in range(len(messages))]

    def flush(self) -> list[str]:
        return []

    def close(self) -> None:
        self.wire.close()

    def _settle(
        self,
        messages: Sequence[Message],
        group: list[int],
        answer: _Answer | _NoAnswer,
        outcomes: dict[int, Outcome],
    ) -> list[list[int]]:
        """Record the outcomes `answer` decides for `group`; return the groups to post again.

        A 413 splits the group (a lone message fails); a 400 naming only
        some recipients fails those and sends the rest again (a 400 accepted
        none of them).
        """
        if isinstance(answer, _NoAnswer):
            for i in group:
                outcomes[i] = no_answer_outcome(
                    messages[i].send_id, "SendGrid", answer.error, answer.request_sent
                )
            return []
        if answer.status == 413 and len(group) > 1:
            return list(halves(group))
        blamed = sendgrid_blame(answer.body, len(group)) if answer.status == 400 else None
        if blamed is not None and len(blamed) < len(group):
            for position, i in enumerate(group):
                if position in blamed:
                    error = f"SendGrid 400: {blamed[position]}"
                    outcomes[i] = Outcome(messages[i].send_id, "failed", error=error)
            return [[i for position, i in enumerate(group) if position not in blamed]]
        for i in group:
            outcomes[i] = sendgrid_outcome(
                messages[i].send_id, answer.status, answer.headers, answer.body
            )
        return []

    def _post_all(self, groups: Sequence[list[Message]]) -> list[_Answer | _NoAnswer]:
        """SendGrid's answer to each group's request, or why there was none and whether it left."""
        requests = [partial(self._request, group) for group in groups]
        return [_answer(reply) for reply in self.wire.exchange_all(requests)]

    def _request(self, group: list[Message]) -> Request:
        return self._recorder.request(self._api, self.mail_body(group))

    def mail_body(self, group: Sequence[Message]) -> dict[str, Any]:
        """Return the Mail Send JSON for messages of identical content (one personalization each)."""
        rendered = group[0].rendered
        content = [{"type": "text/plain", "value": rendered.text}]
        if rendered.html:
            content.append({"type": "text/html", "value": rendered.html})
        body: dict[str, Any] = {
            "personalizations": [self._personalization(m) for m in group],
            "from": self._sender,
            "subject": rendered.subject or "",
            "content": content,
            "categories": list(categories(group[0])),
            "tracking_settings": self._tracking,
        }
        if self._sandbox:
            body["mail_settings"] = {"sandbox_mode": {"enable": True}}
        return body

    def _personalization(self, message: Message) -> dict[str, Any]:
        # Opaque ids only: SendGrid keeps custom args as non-personal data.
        p = self._prefix
        personalization: dict[str, Any] = {
            "to": [{"email": message.to}],
            "custom_args": {
                f"{p}send_id": str(message.send_id),
                f"{p}campaign": message.campaign_key,
                f"{p}step": message.step,
                f"{p}cell": message.cell,
            },
        }
        if message.headers:
            personalization["headers"] = dict(message.headers)
        return personalization


class _Recorder:
    """Takes the place of the connection pool under `KeepAliveClient`: keeps the request.

    The official client builds the request and reads an empty 202; the
    request is sent later with the others (`Multiplexer`).
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def exchange(self, request: Request, timeout: float | None) -> Reply:
        self._local.request = request
        return Reply(202, "Recorded", Headers(), b"", False)

    def request(self, api: SendGridAPIClient, body: dict[str, Any]) -> Request:
        """The request the official client makes of `body` (``POST /v3/mail/send``)."""
        api.send(body)
        request: Request = self._local.request
        return request

    def close(self) -> None:
        return None


def _answer(reply: Reply | Exception) -> _Answer | _NoAnswer:
    if isinstance(reply, Reply):
        return _Answer(reply.status, reply.headers, reply.body)
    if isinstance(reply, ConnectError):
        return _NoAnswer(str(reply), request_sent=False)
    if isinstance(reply, OSError | http.client.HTTPException):
        # Raised while waiting for or reading the answer: it may have been taken.
        return _NoAnswer(f"{type(reply).__name__}: {reply}", request_sent=True)
    raise reply


def tracking_settings(mode: TrackingMode) -> dict[str, Any]:
    """Return SendGrid's tracking settings for a tracking mode.

    engine: the renderer rewrote the links and added our pixel, so SendGrid
    tracks nothing. sendgrid: SendGrid tracks clicks and opens. Subscription
    tracking is off in both: the engine runs its own unsubscribe (one system,
    never two).
    """
    track = mode == "sendgrid"
    return {
        "click_tracking": {"enable": track, "enable_text": False},
        "open_tracking": {"enable": track},
        "subscription_tracking": {"enable": False},
    }


def categories(message: Message) -> tuple[str, ...]:
    """Return the campaign key then the message's categories: distinct, ASCII, ≤255, at most 10."""
    wanted = (message.campaign_key, *message.categories)
    usable = [c for c in dict.fromkeys(wanted) if c and c.isascii() and len(c) <= 255]
    return tuple(usable[:MAX_CATEGORIES])


def _content_key(message: Message) -> Hashable:
    rendered = message.rendered
    return (rendered.subject, rendered.text, rendered.html, categories(message))
