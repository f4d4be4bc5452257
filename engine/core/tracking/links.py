"""Click tracking, the open pixel and one-click unsubscribe headers for e-mail.

`track_links` rewrites the ``href`` of every ``<a>`` pointing to an http(s)
URL into our click URL and adds the open pixel; everything else in the
document stays byte for byte as rendered. Only HTML parts are rewritten:
plain-text parts keep their real links (a long opaque redirect in a text
mail reads as phishing, and text clients show the URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from html import escape, unescape
from typing import Final

# An <a> start tag. Quotes open a quoted value only right after "=", as in
# browsers; a stray quote elsewhere is text. Possessive quantifiers keep
# the scan linear even on broken markup.
_A_TAG: Final = re.compile(
    r"""<a(?=[\s/>])((?:[^<>"'=]++|=\s*+"[^"]*+"|=\s*+'[^']*+'|=|["'])*+)>""",
    re.IGNORECASE,
)
# One attribute inside the tag: name, then an optional quoted or bare value.
_ATTRIBUTE: Final = re.compile(
    r"""([^\s"'>/=]++)(?:\s*+=\s*+("[^"]*+"|'[^']*+'|[^\s>]*+))?""",
)
# The last </body>: a greedy prefix backtracks from the end of the document,
# a few characters in a mail, where scanning it all forwards reads every one.
_LAST_BODY_END: Final = re.compile(r".*(</body\s*>)", re.IGNORECASE | re.DOTALL)
_HEADER_UNSAFE: Final = re.compile(r"[\s<>]")
PIXEL: Final = '<img src="{}" width="1" height="1" alt="" style="display:block;border:0">'


@dataclass(frozen=True, slots=True)
class TrackedHtml:
    """The rewritten document and the destinations it links to.

    `links` holds each tracked destination once, in order of first
    appearance (the real URLs, HTML-unescaped).
    """

    html: str
    links: tuple[str, ...]


def track_links(
    html: str,
    link_id: Callable[[str], int],
    click_url: Callable[[int], str],
    pixel_url: str | None,
    skip: Collection[str] = (),
) -> TrackedHtml:
    """`html` with http(s) links sent through `click_url` and the open pixel added.

    `link_id` gives the id of a destination (called once per distinct
    URL), `click_url` the tracking URL for that id. Left alone: mailto:,
    tel:, sms: and other schemes, #anchors, relative URLs, ``<a>`` with a
    ``data-no-track`` attribute and every URL in `skip` (the unsubscribe
    link). The pixel goes just before the last ``</body>``, or at the end.
    """
    found = find_links(html, skip)
    ids = {url: link_id(url) for url in found.links}
    return TrackedHtml(found.fill(ids.__getitem__, click_url, pixel_url), found.links)


@dataclass(frozen=True, slots=True)
class FoundLinks:
    """A document cut at its tracked ``href`` values: what `track_links` rewrites, found once.

    `pieces` are the text around the values (one more than `urls`), `urls`
    the destination of each value in order, `links` each destination once.
    """

    pieces: tuple[str, ...]
    urls: tuple[str, ...]
    links: tuple[str, ...]

    def fill(
        self, link_id: Callable[[str], int], click_url: Callable[[int], str], pixel_url: str | None
    ) -> str:
        """The document with every tracked value replaced by its click URL, plus the pixel."""
        clicks = {url: '"' + escape(click_url(link_id(url))) + '"' for url in self.links}
        out = [self.pieces[0]]
        for url, piece in zip(self.urls, self.pieces[1:], strict=True):
            out += (clicks[url], piece)
        html = "".join(out)
        return html if pixel_url is None else _with_pixel(html, PIXEL.format(escape(pixel_url)))


def find_links(html: str, skip: Collection[str] = ()) -> FoundLinks:
    """The tracked links of `html` (the rules of `track_links`), ready to `fill`."""
    skipped = frozenset(skip)
    pieces: list[str] = []
    urls: list[str] = []
    done = 0
    for tag in _A_TAG.finditer(html):
        found = _href(tag[1])
        if found is None:
            continue
        start, end, url = found
        if url in skipped:
            continue
        offset = tag.start(1)
        pieces.append(html[done : offset + start])
        urls.append(url)
        done = offset + end
    pieces.append(html[done:])
    return FoundLinks(tuple(pieces), tuple(urls), tuple(dict.fromkeys(urls)))


def _href(attributes: str) -> tuple[int, int, str] | None:
    """(start, end) of the href value in `attributes` and its URL, when tracked."""
    href: tuple[int, int, str] | None = None
    for attribute in _ATTRIBUTE.finditer(attributes):
        name = attribute[1].lower()
        if name == "data-no-track":
            return None
        if name == "href" and href is None and attribute[2] is not None:
            href = (attribute.start(2), attribute.end(2), attribute[2])
    if href is None:
        return None
    start, end, value = href
    if value[:1] in "\"'":
        value = value[1:-1]
    # Browsers decode entities and strip surrounding whitespace before they
    # follow a link; the destination we record is what they would follow.
    url = _unescape(value).strip()
    if not url[:8].lower().startswith(("http://", "https://")):
        return None
    return start, end, url


def _unescape(value: str) -> str:
    ampersands = value.count("&")
    if ampersands == 0:
        return value
    if value.count("&amp;") == ampersands:  # query strings: 6x faster than unescape
        return value.replace("&amp;", "&")
    return unescape(value)


def _with_pixel(html: str, pixel: str) -> str:
    end = _LAST_BODY_END.match(html)
    if end is None:
        return html + pixel
    return html[: end.start(1)] + pixel + html[end.start(1) :]


def one_click_headers(url: str) -> dict[str, str]:
    """The RFC 8058 one-click unsubscribe headers for `url`.

    Raises ValueError for a URL that would break the header (whitespace or
    angle brackets). RFC 8058 asks for an https URL in production.
    """
    if not url or _HEADER_UNSAFE.search(url):
        raise ValueError(f"an unsubscribe URL cannot contain spaces or <>: {url!r}")
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
