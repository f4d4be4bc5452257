"""E-mail through SendGrid's v3 Mail Send API with the official `sendgrid` client.

Messages whose rendered subject, text, html and categories are identical go
in one request, one personalization each (address, List-Unsubscribe
headers, custom args); everything else goes alone. Requests run in a thread
pool of `SendGridSettings.concurrency`. Every answer becomes an `Outcome`
through `engine.core.sending.providers`; nothing here raises for SendGrid.
"""

from __future__ import annotations

import http.client
import urllib.error
import weakref
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from engine.channels.keepalive import KeepAliveClient
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
        # The client's own Client has no timeout and opens a connection per
        # request; this one has a timeout and keeps connections alive, and its
        # Content-Type is set up front so threads never add it concurrently.
        headers = {**self._api.client.request_headers, "Content-Type": "application/json"}
        self._api.client = KeepAliveClient(
            host=settings.host, request_headers=headers, version=3, timeout=settings.timeout_seconds
        )
        self._sender = {"email": sender_email, "name": sender_name}
        self._prefix = settings.custom_args_prefix
        self._tracking = tracking_settings(tracking_mode)
        self._sandbox = settings.sandbox
        self._pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="sendgrid")
        # Kept connections close with the channel, even one never closed.
        weakref.finalize(self, self._api.client.pool.close)

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """Return one outcome per message, in order; requests run concurrently."""
        groups = batches(messages, _content_key, lambda m: m.to, MAX_PERSONALIZATIONS)
        futures = [self._pool.submit(self._deliver, [messages[i] for i in g]) for g in groups]
        outcomes: dict[int, Outcome] = {}
        for group, future in zip(groups, futures, strict=True):
            outcomes.update(zip(group, future.result(), strict=True))
        return [outcomes[index] for index in range(len(messages))]

    def flush(self) -> list[str]:
        return []

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._api.client.pool.close()

    def _deliver(self, group: list[Message]) -> list[Outcome]:
        """Post one group; split it on 413, drop only the blamed recipients on 400."""
        answer = self._post(self.mail_body(group))
        if isinstance(answer, _NoAnswer):
            return [
                no_answer_outcome(m.send_id, "SendGrid", answer.error, answer.request_sent)
                for m in group
            ]
        if answer.status == 413 and len(group) > 1:
            first, second = halves(group)
            return self._deliver(first) + self._deliver(second)
        blamed = sendgrid_blame(answer.body, len(group)) if answer.status == 400 else None
        if blamed is not None and len(blamed) < len(group):
            return self._without(group, blamed)
        return [
            sendgrid_outcome(m.send_id, answer.status, answer.headers, answer.body) for m in group
        ]

    def _without(self, group: list[Message], blamed: dict[int, str]) -> list[Outcome]:
        """Fail the blamed messages and send the rest again (a 400 accepted none of them)."""
        rest = [m for i, m in enumerate(group) if i not in blamed]
        again = iter(self._deliver(rest))
        return [
            Outcome(m.send_id, "failed", error=f"SendGrid 400: {blamed[i]}")
            if i in blamed
            else next(again)
            for i, m in enumerate(group)
        ]

    def _post(self, body: dict[str, Any]) -> _Answer | _NoAnswer:
        """Return SendGrid's answer, or why there was none and whether the request went out."""
        try:
            response = self._api.send(body)
        except HTTPError as error:
            return _Answer(error.status_code, dict(error.headers.items()), error.body)
        except urllib.error.URLError as error:
            # urllib wraps what fails while connecting or writing the request.
            return _NoAnswer(str(error.reason), request_sent=False)
        except (OSError, http.client.HTTPException) as error:
            # Raised while waiting for or reading the answer: it may have been taken.
            return _NoAnswer(f"{type(error).__name__}: {error}", request_sent=True)
        return _Answer(response.status_code, dict(response.headers.items()), response.body)

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
