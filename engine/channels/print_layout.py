"""The print file's columns and the record layout that describes them to a mail house."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from engine.channels.layout import Column

KEYLINE_MAX: Final = 35
SEED_CELL: Final = "SEED"


COLUMNS: Final = (
    Column("keyline", "string", KEYLINE_MAX, "Keycode printed on the piece (cell/offer code)."),
    Column("response_code", "string", 9, "Personal response code (XXXX-XXXX); empty for seeds."),
    Column("purl", "string", None, "Personal URL of the piece; empty for seeds."),
    Column("qr_payload", "string", None, "Text to encode as QR code (the PURL); empty for seeds."),
    Column("name", "string", None, "Addressee name line."),
    Column("company_name", "string", None, "Company line, may be empty."),
    Column("address_line1", "string", None, "First address line."),
    Column("address_line2", "string", None, "Second address line, may be empty."),
    Column("postal_code", "string", None, "Postal code."),
    Column("city", "string", None, "City."),
    Column("region", "string", None, "Region or state, may be empty."),
    Column("country", "string", 2, "ISO 3166-1 alpha-2 country code."),
    Column("cell", "string", 64, f"Campaign cell; {SEED_CELL} for seed addresses."),
    Column("version", "string", 64, "Cell whose letter the piece carries: proof-<version>.pdf."),
    Column("send_id", "integer", 20, "Engine send id; empty for seeds."),
    Column("seed", "boolean", 3, "yes for a seed address (internal check copy), else no."),
)
HEADER: Final = tuple(column.name for column in COLUMNS)
ADDRESS: Final = (
    "company_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
)


def piece_row(
    to: str, fields: Mapping[str, str], cell: str, response_code: str, send_id: int
) -> list[str]:
    """The print row of one piece, in `HEADER` order (cells not yet neutralised)."""
    purl = fields.get("purl", "")
    address = [fields.get(name, "") for name in ADDRESS]
    head = [fields.get("keycode", ""), response_code, purl, purl, to]
    return [*head, *address, cell, cell, str(send_id), "no"]


def seed_row(keyline: str, name: str, address: Mapping[str, str], version: str) -> list[str]:
    """The print row of one seed address, in `HEADER` order."""
    lines = [address.get(field, "") for field in ADDRESS]
    return [keyline, "", "", "", name, *lines, SEED_CELL, version, "", "yes"]
