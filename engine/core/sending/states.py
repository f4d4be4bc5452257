"""The send state machine, and how an outcome moves a send through it.

```mermaid
stateDiagram-v2
    [*] --> queued: launch / follow-up
    queued --> sending: claimed (lease)
    sending --> queued: deferred (window, quiet hours) or lease expired before handover
    sending --> skipped: consent, suppression, cap, campaign stopped
    sending --> sent: provider accepted
    sending --> failed: permanent error / attempts used up
    sending --> queued: retry (provider certainly did not accept)
    sending --> unknown: timeout, 5xx, lease expired after handover
    unknown --> sent: provider event (SendGrid processed, Twilio callback)
    unknown --> failed: grace period over, policy give_up
    unknown --> queued: grace period over, policy resend
    queued --> cancelled: campaign cancelled
```

A send only goes back to `queued` when it provably never reached a
provider: it was deferred or re-checked before the handover, the provider
answered "not accepted" (rate limit, refused key, unreachable handset), or
its claim expired before the handover was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from engine.core.sending.message import Outcome

State = Literal["queued", "sending", "sent", "failed", "unknown", "skipped", "cancelled"]
FINAL: Final = frozenset({"sent", "failed", "skipped", "cancelled"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    first_wait: timedelta  # doubles with every attempt

    def wait(self, attempts: int) -> timedelta:
        """Back-off before attempt `attempts + 1` (`attempts` made so far, >= 1)."""
        factor: int = 2 ** max(0, attempts - 1)
        return self.first_wait * factor


@dataclass(frozen=True, slots=True)
class Settled:
    """The row a send becomes after one provider attempt."""

    send_id: int
    state: State
    due_at: datetime | None  # set when queued again
    provider_message_id: str | None
    error: str | None
    sent_at: datetime | None


def settle(outcome: Outcome, attempts: int, policy: RetryPolicy, now: datetime) -> Settled:
    """What `outcome` of attempt number `attempts` (1 = first) makes of the send.

    A retry past `policy.max_attempts` fails; a retry that names a time
    (``X-RateLimit-Reset``) waits until then, else the back-off. An outcome
    that pauses the campaign is queued again at once: the campaign's pause
    holds it, and it goes when the campaign is resumed.
    """
    sid, error = outcome.send_id, outcome.error
    match outcome.kind:
        case "sent":
            return Settled(sid, "sent", None, outcome.provider_message_id, None, now)
        case "failed":
            return Settled(sid, "failed", None, outcome.provider_message_id, error, None)
        case "unknown":
            return Settled(sid, "unknown", None, outcome.provider_message_id, error, None)
        case "retry":
            if outcome.pause is not None:
                return Settled(sid, "queued", now, None, error, None)
            if attempts >= policy.max_attempts:
                spent = f"gave up after {attempts} attempts: {error or 'provider refused'}"
                return Settled(sid, "failed", None, None, spent, None)
            due = outcome.retry_at or now + policy.wait(attempts)
            return Settled(sid, "queued", max(due, now), None, error, None)
    raise AssertionError(f"unknown outcome kind {outcome.kind!r}")  # pragma: no cover


def counts_as_provider_error(outcome: Outcome) -> bool:
    """Outcomes that say the provider, not the recipient, is in trouble."""
    return outcome.kind in ("unknown", "retry") and outcome.pause is None and not outcome.suppress
