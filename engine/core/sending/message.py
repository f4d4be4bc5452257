"""What the dispatcher hands a channel, and what the channel hands back.

A `Message` is one rendered send for one recipient, with everything a
channel needs and nothing it must look up. An `Outcome` says what became
of it; the dispatcher turns outcomes into send states (see `states`), so a
channel never touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from engine.core.messages import Rendered

OutcomeKind = Literal["sent", "failed", "retry", "unknown"]


@dataclass(frozen=True, slots=True)
class Message:
    """One send, rendered for its recipient.

    `to` is the e-mail address (email), the E.164 phone (sms, call) or the
    customer's name line (mail). `headers` are e-mail headers the engine sets
    (List-Unsubscribe, List-Unsubscribe-Post). `fields` carries the per-piece
    data of file channels (postal address lines, keycode, response code,
    PURL, timezone, calling window), all strings; API channels ignore it.
    Nothing personal goes into `campaign_key`, `step` or `cell`: they end up
    in provider metadata.
    """

    send_id: int
    campaign_key: str
    step: str
    cell: str
    channel: str
    to: str
    rendered: Rendered
    response_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message.

    - ``sent``: the provider accepted it (`provider_message_id` when known).
    - ``failed``: it will never be sent (a permanent error, in `error`).
    - ``retry``: the provider certainly did not accept it; try again, not
      before `retry_at` when given (e.g. SendGrid's ``X-RateLimit-Reset``).
    - ``unknown``: the provider may have accepted it (timeout, 5xx after the
      request went out). Never retried blindly: reconciled from provider
      events, or resolved by policy after a grace period.

    Side effects the dispatcher applies with the outcome:
    `suppress` a channel for this recipient's address (``sms`` for Twilio
    30005/30006), `opt_out` withdraw the recipient's consent on the channel
    (Twilio 21610, the recipient sent STOP), `pause` the campaign with this
    reason (SendGrid 401/403: the key is wrong, every other send would fail
    too), `alert` an operator (Twilio 30007, carrier filtering).
    """

    send_id: int
    kind: OutcomeKind
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    suppress: str | None = None
    opt_out: bool = False
    pause: str | None = None
    alert: str | None = None

    def __post_init__(self) -> None:
        if self.retry_at is not None and self.retry_at.tzinfo is None:
            raise ValueError("retry_at must be timezone-aware")
