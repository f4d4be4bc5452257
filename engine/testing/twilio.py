"""A fake Twilio Messages API: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` on 127.0.0.1.

Checks basic auth (account SID and auth token) and the SID in the path,
validates the form like Twilio (To, Body, From or MessagingServiceSid),
answers 201 with a message resource (``sid`` SM...), keeps every accepted
message, and gives the status callbacks Twilio would POST for them. Error
answers carry Twilio's JSON (``code``, ``message``, ``more_info``,
``status``); script them with `twilio_error`:

    with FakeTwilio("AC123", "token") as fake:
        fake.rule = lambda r: twilio_error(21610) if r.body.get("To") == "+15005550009" else None

Run on its own for benchmarks: ``python -m engine.testing.twilio --port 8026 --latency-ms 50``.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from engine.testing.server import (
    Answer,
    FakeServer,
    Headers,
    Recorded,
    arguments,
    serve_forever,
)
from engine.testing.wire import form_fields

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(rf"/{API_VERSION}/Accounts/[^/]+/Messages\.json")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio's wording for the errors the fake produces or tests script.
MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
}
SERVICE_NUMBER = "+15005550006"  # the number a messaging service "picks"


@dataclass(frozen=True)
class AcceptedSms:
    """One message Twilio took: its SID and the form it came with."""

    sid: str
    form: dict[str, str]

    @property
    def status_callback(self) -> str | None:
        return self.form.get("StatusCallback")


def twilio_error(code: int, status: int | None = None, message: str | None = None) -> Answer:
    """A Twilio error answer (HTTP 400 unless given; 429 for 20429, 401 for 20003)."""
    status = status or {20429: 429, 20003: 401}.get(code, 400)
    body = {
        "code": code,
        "message": message or MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Answer(status, {}, body)


class FakeTwilio(FakeServer[AcceptedSms]):
    """Fake Twilio; `accepted` lists the messages it took, `status_callbacks()` their callbacks."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "fake-auth-token",
        *,
        port: int = 0,
        latency: float = 0.0,
        record: bool = True,
    ) -> None:
        super().__init__(port=port, latency=latency, record=record)
        self.account_sid = account_sid
        self.auth_token = auth_token

    def status_callbacks(self, status: str = "sent") -> list[tuple[str, dict[str, str]]]:
        """Return (url, form params) of the callback Twilio would POST for each accepted message.

        Only messages created with a ``StatusCallback``; `status` is the
        ``MessageStatus`` reported (sent, delivered, undelivered, failed...).
        """
        callbacks = []
        for sms in self.accepted:
            if sms.status_callback is None:
                continue
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": sms.form.get("From", SERVICE_NUMBER),
                "MessageSid": sms.sid,
                "MessageStatus": status,
                "SmsSid": sms.sid,
                "SmsStatus": status,
                "To": sms.form["To"],
            }
            if "MessagingServiceSid" in sms.form:
                params["MessagingServiceSid"] = sms.form["MessagingServiceSid"]
            callbacks.append((sms.status_callback, params))
        return callbacks

    def answer(
        self, method: str, path: str, query: Mapping[str, str], headers: Headers, raw: bytes
    ) -> Answer:
        body = form_fields(raw)
        seen = Recorded(method, path, query, headers, body, raw)
        self.keep(seen)
        if method != "POST" or MESSAGES_PATH.fullmatch(path) is None:
            return twilio_error(20404, 404, "The requested resource was not found")
        if not self._authorized(path, headers):
            return twilio_error(20003)
        return self.script_or(seen, lambda: self._answer(body))

    def _authorized(self, path: str, headers: Headers) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        header_ok = headers.get("Authorization") == f"Basic {expected}"
        return header_ok and path == f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def _answer(self, form: dict[str, str]) -> Answer:
        """Return Twilio's own answer to a create form, accepting it when valid."""
        if not form.get("To"):
            return twilio_error(21604)
        if not E164.match(form["To"]):
            return twilio_error(
                21211, message=f"The 'To' number {form['To']} is not a valid phone number."
            )
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(21603)
        if not form.get("Body") and not form.get("MediaUrl"):
            return twilio_error(21602)
        sms = AcceptedSms("SM" + secrets.token_hex(16), form)
        self.take(sms)
        return Answer(201, {}, self._resource(sms))

    def _resource(self, sms: AcceptedSms) -> dict[str, Any]:
        now = formatdate(usegmt=True)
        service = sms.form.get("MessagingServiceSid")
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sms.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": sms.form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sms.form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sms.sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{path}/Media.json"},
            "to": sms.form["To"],
            "uri": f"{path}.json",
        }


def main(argv: list[str] | None = None) -> None:
    """Fake Twilio Messages API for benchmarks."""
    parser = arguments(main.__doc__ or "")
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="fake-auth-token")
    args = parser.parse_args(argv)
    fake = FakeTwilio(
        args.account_sid,
        args.auth_token,
        port=args.port,
        latency=args.latency_ms / 1000,
        record=not args.no_record,
    )
    serve_forever(fake)


if __name__ == "__main__":
    main()
