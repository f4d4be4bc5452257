"""PROVISIONAL (replaced by the timing branch): link rewriting and the open pixel."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

_HREF = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"]+)(")', re.IGNORECASE)


@dataclass(frozen=True)
class TrackedHtml:
    html: str
    links: tuple[str, ...]


def track_links(
    html: str,
    link_id: Callable[[str], int],
    click_url: Callable[[int], str],
    pixel_url: str | None,
    skip: Collection[str] = (),
) -> TrackedHtml:
    found: list[str] = []

    def swap(match: re.Match[str]) -> str:
        url = htmllib.unescape(match[2])
        if url in skip:
            return match[0]
        found.append(url)
        return match[1] + htmllib.escape(click_url(link_id(url))) + match[3]

    out = _HREF.sub(swap, html)
    if pixel_url:
        img = f'<img src="{htmllib.escape(pixel_url)}" width="1" height="1" alt="">'
        out = out.replace("</body>", img + "</body>", 1) if "</body>" in out else out + img
    return TrackedHtml(out, tuple(found))


def one_click_headers(url: str) -> dict[str, str]:
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
