"""A fake SendGrid v3 Mail Send API: ``POST /v3/mail/send`` on 127.0.0.1.

Checks the bearer key, the body size and the rules of the real API that a
channel can break (required fields, at most 1000 personalizations, each
address once per request, string custom args, at most 10 categories),
answers like SendGrid (202 + ``X-Message-Id``, 200 in sandbox mode, 400 with
``errors[]``, 401, 413), keeps every accepted mail, and produces the
``processed`` events the Event Webhook would post for them.

    with FakeSendGrid(api_key="SG.test") as fake:
        client = SendGridAPIClient("SG.test", host=fake.url)

Run on its own for benchmarks: ``python -m engine.testing.sendgrid --port 8025 --latency-ms 50``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.testing.server import Answer, FakeServer, Headers, Recorded, arguments, serve_forever

MAX_PERSONALIZATIONS = 1000
MAX_BODY_BYTES = 30 * 1024 * 1024
UNAUTHORIZED = {
    "errors": [
        {
            "field": None,
            "message": "The provided authorization grant is invalid, expired, or revoked",
            "help": None,
        }
    ]
}


@dataclass(frozen=True)
class AcceptedMail:
    """One accepted Mail Send request: its ``X-Message-Id``, body and arrival (unix s)."""

    message_id: str
    body: dict[str, Any]
    received_at: float
    sandbox: bool


def rate_limited(reset_at: int) -> Answer:
    """A 429 answer whose ``X-RateLimit-Reset`` is `reset_at` (unix seconds)."""
    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
    headers["X-RateLimit-Reset"] = str(reset_at)
    return Answer(429, headers, {"errors": [{"field": None, "message": "too many requests"}]})


def sendgrid_error(status: int, message: str, field: str | None = None) -> Answer:
    """An answer with SendGrid's ``errors`` body."""
    return Answer(status, {}, {"errors": [{"message": message, "field": field, "help": None}]})


class FakeSendGrid(FakeServer[AcceptedMail]):
    """Fake SendGrid; `accepted` lists the mail it took, `processed_events()` their events."""

    def __init__(
        self,
        api_key: str = "SG.fake-key",
        *,
        port: int = 0,
        latency: float = 0.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        record: bool = True,
    ) -> None:
        super().__init__(port=port, latency=latency, record=record)
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    def recipients(self) -> list[str]:
        """The ``to`` addresses of every accepted personalization, in order."""
        return [
            to["email"]
            for mail in self.accepted
            for personalization in mail.body["personalizations"]
            for to in personalization["to"]
        ]

    def processed_events(self) -> list[dict[str, Any]]:
        """Event Webhook ``processed`` events for every accepted recipient (not sandbox).

        Like SendGrid's: custom args (top level and per personalization)
        flattened to the top, our reserved fields winning; ``sg_message_id``
        starts with the request's ``X-Message-Id``; ``sg_event_id`` is
        deterministic, so calling this twice gives replays to de-duplicate.
        """
        events = []
        for mail in self.accepted:
            if mail.sandbox:
                continue
            for p_index, personalization in enumerate(mail.body["personalizations"]):
                for t_index, to in enumerate(personalization["to"]):
                    events.append(_processed(mail, personalization, f"{p_index}.{t_index}", to))
        return events

    def answer(
        self, method: str, path: str, query: Mapping[str, str], headers: Headers, raw: bytes
    ) -> Answer:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        seen = Recorded(method, path, query, headers, body, raw)
        self.keep(seen)
        if (method, path) != ("POST", "/v3/mail/send"):
            return sendgrid_error(404, "Not Found")
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return Answer(401, {}, UNAUTHORIZED)
        return self.script_or(seen, lambda: self._answer(raw, body))

    def _answer(self, raw: bytes, body: Any) -> Answer:
        """Return SendGrid's own answer to a mail body, accepting it when valid."""
        if len(raw) > self.max_body_bytes:
            return sendgrid_error(413, "request entity too large")
        if not isinstance(body, dict):
            return sendgrid_error(400, "Bad Request")
        problems = mail_problems(body)
        if problems:
            return Answer(400, {}, {"errors": problems})
        message_id = secrets.token_urlsafe(16)[:22]
        sandbox = bool(body.get("mail_settings", {}).get("sandbox_mode", {}).get("enable"))
        self.take(AcceptedMail(message_id, body, time.time(), sandbox))
        return Answer(200 if sandbox else 202, {"X-Message-Id": message_id}, b"")


def mail_problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Return SendGrid's ``errors`` entries for a Mail Send body ([] when valid)."""
    problems: list[dict[str, Any]] = []

    def problem(field: str | None, message: str) -> None:
        problems.append({"field": field, "message": message, "help": None})

    if "@" not in str(body.get("from", {}).get("email", "")):
        problem("from.email", "The from email does not contain a valid address.")
    if not body.get("subject"):
        problem("subject", "The subject is required.")
    content = body.get("content") or []
    if not content or not all(part.get("value") for part in content):
        problem("content", "There must be at least one defined content block.")
    if len(body.get("categories", [])) > 10:
        problem("categories", "Too many categories: at most 10 per request.")
    personalizations = body.get("personalizations") or []
    if not personalizations:
        problem("personalizations", "The personalizations field is required.")
    if len(personalizations) > MAX_PERSONALIZATIONS:
        problem("personalizations", "You may not have more than 1000 personalizations.")
    seen: set[str] = set()
    for index, personalization in enumerate(personalizations):
        for t_index, to in enumerate(personalization.get("to", [])):
            email = str(to.get("email", ""))
            if "@" not in email or "." not in email.rpartition("@")[2]:
                problem(
                    f"personalizations.{index}.to.{t_index}.email",
                    "Does not contain a valid address.",
                )
            elif email.lower() in seen:
                problem(
                    f"personalizations.{index}.to",
                    "Each email address in the personalization block should be unique between "
                    f"to, cc, and bcc. We found the first duplicate instance of [{email}] in the "
                    f"personalizations.{index}.to field.",
                )
            seen.add(email.lower())
        for key, value in personalization.get("custom_args", {}).items():
            if not isinstance(value, str):
                problem(f"personalizations.{index}.custom_args", f"{key}: expected a string.")
    return problems


def _processed(
    mail: AcceptedMail, personalization: dict[str, Any], where: str, to: dict[str, Any]
) -> dict[str, Any]:
    digest = hashlib.sha256(f"{mail.message_id}.{where}.processed".encode()).digest()
    event: dict[str, Any] = {
        **mail.body.get("custom_args", {}),
        **personalization.get("custom_args", {}),
        "email": to["email"],
        "timestamp": int(mail.received_at),
        "event": "processed",
        "sg_event_id": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
        "sg_message_id": f"{mail.message_id}.filterdrecv-fake-{where}-0",
        "smtp-id": f"<{mail.message_id}.{where}@ismtpd-fake.sendgrid.net>",
    }
    categories = mail.body.get("categories", [])
    if categories:
        event["category"] = categories[0] if len(categories) == 1 else list(categories)
    return event


def main(argv: list[str] | None = None) -> None:
    """Fake SendGrid Mail Send API for benchmarks."""
    parser = arguments(main.__doc__ or "")
    parser.add_argument("--api-key", default="SG.fake-key")
    args = parser.parse_args(argv)
    latency = args.latency_ms / 1000
    fake = FakeSendGrid(args.api_key, port=args.port, latency=latency, record=not args.no_record)
    serve_forever(fake)


if __name__ == "__main__":
    main()
