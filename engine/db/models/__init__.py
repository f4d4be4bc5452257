"""Every table, importable from one place (migrations compare against `Base`)."""

from engine.db.models.base import Base
from engine.db.models.campaigns import (
    Campaign,
    Cell,
    Contact,
    FollowupMark,
    Response,
    Send,
)
from engine.db.models.customers import (
    Consent,
    Customer,
    CustomerMetrics,
    CustomerSource,
    ImportBatch,
    Order,
    Suppression,
)
from engine.db.models.sending import Alert, OutboxMessage, Throttle, TrackedLink
from engine.db.models.tallies import ContactTally, SendTally
from engine.db.models.tracking import Event, QuarantinedEvent, WebhookBatch

__all__ = [
    "Alert",
    "Base",
    "Campaign",
    "Cell",
    "Consent",
    "Contact",
    "ContactTally",
    "Customer",
    "CustomerMetrics",
    "CustomerSource",
    "Event",
    "FollowupMark",
    "ImportBatch",
    "Order",
    "OutboxMessage",
    "QuarantinedEvent",
    "Response",
    "Send",
    "SendTally",
    "Suppression",
    "Throttle",
    "TrackedLink",
    "WebhookBatch",
]
