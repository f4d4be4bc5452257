"""PDF proofs of a drop: the real letter of a cell's first piece, and the seed list.

HTML goes to PDF through xhtml2pdf (pure Python on ReportLab: nothing to
install beyond PyPI). A proof carries a marked strip with the keyline, the
response code, the PURL and its QR code as the mail house will print them.
Only ``data:`` resources load: a template never makes the proof fetch a URL.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

import segno
from xhtml2pdf import pisa

from engine.errors import PermanentError

_BODY_END: Final = re.compile(r"</body\s*>", re.IGNORECASE)
_STRIP: Final = (
    '<div style="margin-top: 8mm; border-top: 1px dashed #999999; padding-top: 2mm;'
    ' font-family: Helvetica; font-size: 8pt; color: #444444;">'
    '<table><tr><td width="30mm">{qr}</td><td>{lines}</td></tr></table></div>'
)


class ProofError(PermanentError):
    """The HTML could not be turned into a PDF proof."""


def qr_image(payload: str) -> str:
    """An ``<img>`` of the QR code of `payload` (empty when there is none)."""
    if not payload:
        return ""
    uri = segno.make(payload, error="m").png_data_uri(scale=4, border=2)
    return f'<img src="{uri}" width="25mm" height="25mm">'


def letter_proof(html: str, labels: Mapping[str, str], qr_payload: str) -> str:
    """The letter `html` with a marked proof strip (labels, QR) before ``</body>``."""
    lines = "<br>".join(
        ["<b>PROOF - not for mailing</b>"]
        + [f"{escape(label)}: {escape(value)}" for label, value in labels.items()]
    )
    strip = _STRIP.format(qr=qr_image(qr_payload), lines=lines)
    matches = list(_BODY_END.finditer(html))
    if not matches:
        return html + strip
    cut = matches[-1].start()
    return html[:cut] + strip + html[cut:]


def seed_proof(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML page listing the seed pieces of a drop, every column shown."""
    # The keyline (first column) is the longest word: give it room.
    head = "".join(
        f'<th width="{18 if i == 0 else 9}%">{escape(name)}</th>' for i, name in enumerate(header)
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
        "@page { size: A4 landscape; margin: 12mm; } body { font-family: Helvetica; font-size: 7pt; }"
        " th, td { border: 1px solid #999999; padding: 1mm; text-align: left; vertical-align: top; }"
        f"</style></head><body><h1>{escape(title)}</h1>"
        f"<table>{head and '<tr>' + head + '</tr>'}{body}</table></body></html>"
    )


def html_to_pdf(html: str) -> bytes:
    """The PDF of `html`; raise `ProofError` if xhtml2pdf reports errors."""
    # xhtml2pdf logs every glyph a font lacks and every CSS property it skips
    # at WARNING: the template author's business, not the dispatcher log's.
    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", link_callback=_only_data)
    if status.err:
        raise ProofError(f"xhtml2pdf reported {status.err} error(s)")
    return out.getvalue()


def _only_data(uri: str, rel: str) -> str:
    # Returning nothing for other URIs leaves the resource out instead of fetching it.
    return uri if uri.startswith("data:") else ""
