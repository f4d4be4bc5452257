"""SMS through Twilio's Messages API with the official `twilio` client.

One ``messages.create`` per message, in a thread pool of
`TwilioSettings.concurrency`, each with a status callback that carries the
send id in its query (Twilio signs the whole URL, so the id cannot be
forged). Errors become `Outcome`s through `twilio_outcome`; nothing here
raises for Twilio.
"""

from __future__ import annotations

import http.client
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client

from engine.channels.http11 import ConnectError
from engine.channels.twilio_http import KeepAliveHttpClient
from engine.core.sending.message import Message, Outcome
from engine.core.sending.providers import no_answer_outcome, twilio_outcome
from engine.settings import TwilioSettings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


class TwilioSmsChannel:
    """The ``sms`` way out through Twilio (see the module docstring)."""

    name = "twilio"

    def __init__(self, settings: TwilioSettings, public_url: str) -> None:
        if not settings.configured:
            raise ValueError("TwilioSmsChannel needs account_sid, auth_token and a sender")
        # Kept-alive connections, one per worker thread, never retried.
        http = KeepAliveHttpClient(settings.base_url, settings.timeout_seconds)
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
        # Kept connections close with the channel, even one never closed.
        weakref.finalize(self, http.pool.close)

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        """Return one outcome per message, in order; requests run concurrently."""
        return list(self._pool.map(self._create, messages))

    def flush(self) -> list[str]:
        return []

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.pool.close()

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
        except ConnectError as error:
            return no_answer_outcome(send_id, "Twilio", _describe(error), request_sent=False)
        except (OSError, http.client.HTTPException) as error:
            # Raised while waiting for or reading the answer: it may have been taken.
            return no_answer_outcome(send_id, "Twilio", _describe(error), request_sent=True)
        return Outcome(send_id, "sent", provider_message_id=created.sid)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
