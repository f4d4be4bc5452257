"""Every table, importable from one place (migrations compare against `Base`)."""

from engine.db.models.base import Base
from engine.db.models.campaigns import Campaign, Cell, Contact, Response, Send
from engine.db.models.customers import (
    Consent,
    Customer,
    CustomerMetrics,
    CustomerSource,
    ImportBatch,
    Order,
    Suppression,
)

__all__ = [
    "Base",
    "Campaign",
    "Cell",
    "Consent",
    "Contact",
    "Customer",
    "CustomerMetrics",
    "CustomerSource",
    "ImportBatch",
    "Order",
    "Response",
    "Send",
    "Suppression",
]
