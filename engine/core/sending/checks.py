"""Send-time eligibility: the same rules as at launch, on today's facts.

Consent, suppressions and frequency caps are checked again when a send is
due (ARCHITECTURE invariant 3): a STOP, an unsubscribe or a bounce recorded
after launch wins. Reasons use the launch's names (``no_consent_sms``, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.campaign.eligibility import ChannelRule
from engine.core.sending.due import ADDRESS_KIND, Due, suppression_token


@dataclass(frozen=True, slots=True)
class Facts:
    """What the database says about a batch's customers on one channel."""

    consent: dict[int, str]  # customer -> latest status (granted | withdrawn)
    suppressed_customers: frozenset[int] = frozenset()
    suppressed_tokens: frozenset[str] = frozenset()
    recent: tuple[tuple[int, datetime], ...] = ()  # (customer, when) of sends that went


def tokens_of(batch: Sequence[Due]) -> list[str]:
    """Hashed addresses of a batch, for the suppression lookup."""
    return [
        suppression_token(ADDRESS_KIND[due.channel], address)
        for due in batch
        if (address := due.address()) is not None
    ]


def reasons(
    batch: Sequence[Due], rules: dict[int, ChannelRule], facts: Facts, now: datetime
) -> dict[int, str]:
    """Send id -> why it must not go now; sends not named may go.

    `rules` gives each campaign's rule for the channel (consent basis and
    cap). The cap counts sends that went in the cap's period plus the sends
    of this batch allowed before it, so two campaigns' sends in one batch
    cannot together break it.
    """
    out: dict[int, str] = {}
    allowed: Counter[int] = Counter()
    went: dict[int, list[datetime]] = {}
    for customer_id, at in facts.recent:
        went.setdefault(customer_id, []).append(at)
    for due in batch:
        rule, customer, channel = rules[due.campaign_id], due.customer["id"], due.channel
        address = due.address()
        status = facts.consent.get(customer)
        if address is None:
            out[due.send_id] = f"unreachable_{channel}"
        elif status == "withdrawn" or (rule.consent == "opt_in" and status != "granted"):
            out[due.send_id] = f"no_consent_{channel}"
        elif (
            customer in facts.suppressed_customers
            or suppression_token(ADDRESS_KIND[channel], address) in facts.suppressed_tokens
        ):
            out[due.send_id] = f"suppressed_{channel}"
        elif rule.cap_count >= 0 and _over_cap(
            rule, went.get(customer, []), allowed[customer], now
        ):
            out[due.send_id] = f"frequency_cap_{channel}"
        else:
            allowed[customer] += 1
    return out


def _over_cap(rule: ChannelRule, went: list[datetime], in_batch: int, now: datetime) -> bool:
    since = now - timedelta(days=rule.cap_days)
    return sum(1 for at in went if at > since) + in_batch >= rule.cap_count
