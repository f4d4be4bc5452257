"""SMS through Twilio's Messages API with the official `twilio` client.

One ``messages.create`` per message, in a thread pool of
`TwilioSettings.concurrency`, each with a status callback that carries the
send id in its query (Twilio signs the whole URL, so the id cannot be
forged). Errors become `Outcome`s through `twilio_outcome`; nothing here
raises for Twilio.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import MaxRetryError, NewConnectionError

from engine.core.sending.message import Message, Outcome
from engine.core.sending.providers import no_answer_outcome, twilio_outcome
from engine.settings import TwilioSettings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


class BaseUrlHttpClient(TwilioHttpClient):
    """Twilio's HTTP client, sending what it would send to ``*.twilio.com`` to `base_url`.

    The client builds absolute ``https://api.twilio.com/...`` URLs; only the
    scheme and host are swapped, path and query stay as Twilio built them.
    Connections are pooled up to `pool_size` (one per worker thread) and
    never retried by urllib3: a retried POST could send an SMS twice.
    """

    def __init__(self, base_url: str, timeout: float, pool_size: int) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        assert self.session is not None
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        if parts.hostname is not None and parts.hostname.endswith("twilio.com"):
            url = self.base_url + url[len(f"{parts.scheme}://{parts.netloc}") :]
        return super().request(method, url, *args, **kwargs)


class TwilioSmsChannel:
    """The ``sms`` way out through Twilio (see the module docstring)."""

    name = "twilio"

    def __init__(self, settings: TwilioSettings, public_url: str) -> None:
        if not settings.configured:
            raise ValueError("TwilioSmsChannel needs account_sid, auth_token and a sender")
        http = BaseUrlHttpClient(settings.base_url, settings.timeout_seconds, settings.concurrency)
        client = Client(settings.account_sid, settings.auth_token, http_client=http)
        self._messages = client.messages  # built once: its lazy parts are not thread-safe
        self._http = http
        self._sender = (
            {"messaging_service_sid": settings.messaging_service_sid}
            if settings.messaging_service_sid
            else {"from_": settings.from_number}
        )
        self._callback = public_url.rstrip("/") + STATUS_CALLBACK_PATH
        self._pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="twilio")

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """Return one outcome per message, in order; requests run concurrently."""
        return list(self._pool.map(self._create, messages))

    def flush(self) -> list[str]:
        return []

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._http.session is not None:
            self._http.session.close()

    def status_callback(self, send_id: int) -> str:
        """Return the status-callback URL for a send (the webhook reads ``send``)."""
        return f"{self._callback}?send={send_id}"

    def _create(self, message: Message) -> Outcome:
        send_id = message.send_id
        try:
            created = self._messages.create(
                to=message.to,
                body=message.rendered.text,
                status_callback=self.status_callback(send_id),
                **self._sender,
            )
        except TwilioRestException as error:
            # The client prefixes every message with this; the code says what failed.
            text = str(error.msg).removeprefix("Unable to create record: ")
            return twilio_outcome(send_id, error.status, error.code, text)
        except TwilioServiceException as error:
            return twilio_outcome(send_id, error.status, error.code, error.detail or error.title)
        except requests.exceptions.RequestException as error:
            return no_answer_outcome(send_id, "Twilio", _describe(error), _request_sent(error))
        return Outcome(send_id, "sent", provider_message_id=created.sid)


def _request_sent(error: requests.exceptions.RequestException) -> bool:
    """Return False when the request certainly never left (refused, connect timeout, TLS)."""
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = error.args[0] if error.args else None
        if isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError):
            return False
    return True


def _describe(error: Exception) -> str:
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", None)
    return f"{type(error).__name__}: {reason or cause or error}"
