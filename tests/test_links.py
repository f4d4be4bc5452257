"""E-mail link rewriting, the open pixel and the one-click unsubscribe headers."""

from __future__ import annotations

import pytest

from engine.core.tracking.links import (
    PIXEL,
    TrackedHtml,
    find_links,
    one_click_headers,
    track_links,
)

UNSUBSCRIBE = "https://t.example.com/u/UNSUB"
PIXEL_URL = "https://t.example.com/t/o/OPEN"


def track(html: str, pixel: str | None = None, skip: tuple[str, ...] = ()) -> TrackedHtml:
    """Rewrites with ids handed out in order of first use."""
    seen: dict[str, int] = {}

    def link_id(url: str) -> int:
        assert url not in seen, "link_id is asked once per destination"
        seen[url] = len(seen) + 1
        return seen[url]

    return track_links(html, link_id, lambda i: f"https://t.example.com/t/c/L{i}", pixel, skip)


def test_http_and_https_links_go_through_the_click_url() -> None:
    html = (
        '<p><a href="https://shop.example.com/sale">Sale</a> <a href="http://x.example/">x</a></p>'
    )
    out = track(html)
    assert out.html == (
        '<p><a href="https://t.example.com/t/c/L1">Sale</a> '
        '<a href="https://t.example.com/t/c/L2">x</a></p>'
    )
    assert out.links == ("https://shop.example.com/sale", "http://x.example/")


def test_other_schemes_anchors_relative_and_opted_out_links_stay() -> None:
    html = (
        '<a href="mailto:help@example.com">m</a><a href="tel:+4930123">t</a>'
        '<a href="sms:+4930123">s</a><a href="#top">top</a><a href="/local">rel</a>'
        '<a href="//cdn.example.com/x">proto</a><a href="javascript:alert(1)">j</a>'
        '<a data-no-track href="https://shop.example.com/raw">raw</a>'
        '<a href="https://shop.example.com/raw2" DATA-NO-TRACK="1">raw2</a>'
        '<a name="x">no href</a><a href="">empty</a>'
    )
    out = track(html)
    assert out.html == html
    assert out.links == ()


def test_the_skip_list_keeps_the_unsubscribe_link() -> None:
    html = f'<a href="{UNSUBSCRIBE}">Unsubscribe</a><a href="https://shop.example.com/">Shop</a>'
    out = track(html, skip=(UNSUBSCRIBE,))
    assert out.html == (
        f'<a href="{UNSUBSCRIBE}">Unsubscribe</a><a href="https://t.example.com/t/c/L1">Shop</a>'
    )
    assert out.links == ("https://shop.example.com/",)


def test_entities_are_decoded_for_the_destination() -> None:
    html = '<a href="https://shop.example.com/p?a=1&amp;b=2&#38;c=3">p</a>'
    out = track(html)
    assert out.links == ("https://shop.example.com/p?a=1&b=2&c=3",)
    assert out.html == '<a href="https://t.example.com/t/c/L1">p</a>'
    # an unsubscribe URL with an escaped query is still recognised
    skip = "https://t.example.com/u?t=1&s=2"
    assert track('<a href="https://t.example.com/u?t=1&amp;s=2">u</a>', skip=(skip,)).links == ()


def test_the_click_url_is_escaped_into_the_attribute() -> None:
    out = track_links(
        '<a href="https://a.example/">a</a>',
        lambda url: 7,
        lambda i: f"https://t/c?i={i}&x=1",
        None,
    )
    assert out.html == '<a href="https://t/c?i=7&amp;x=1">a</a>'


def test_attribute_order_quoting_case_and_whitespace() -> None:
    html = (
        "<A CLASS=btn HREF='https://a.example/one' title=\"go > there\">1</A>\n"
        '<a\n  style="color:red"\n  href = https://b.example/two\n>2</a>'
        '<a title="href=https://fake.example/" href="https://c.example/three">3</a>'
        '<a href="  https://d.example/four  ">4</a>'
        '<a href="https://e.example/five"/>'
    )
    out = track(html)
    assert out.links == (
        "https://a.example/one",
        "https://b.example/two",
        "https://c.example/three",
        "https://d.example/four",
        "https://e.example/five",
    )
    assert out.html == (
        '<A CLASS=btn HREF="https://t.example.com/t/c/L1" title="go > there">1</A>\n'
        '<a\n  style="color:red"\n  href = "https://t.example.com/t/c/L2"\n>2</a>'
        '<a title="href=https://fake.example/" href="https://t.example.com/t/c/L3">3</a>'
        '<a href="https://t.example.com/t/c/L4">4</a>'
        '<a href="https://t.example.com/t/c/L5"/>'
    )


def test_repeated_destinations_share_one_id() -> None:
    html = '<a href="https://a.example/">1</a><a href="https://a.example/">2</a>'
    out = track(html)
    assert out.html.count("/t/c/L1") == 2
    assert out.links == ("https://a.example/",)


def test_other_tags_and_text_are_untouched() -> None:
    html = (
        "<!doctype html><html><head><style>a{color:red}</style></head><body>"
        '<abbr href="https://x.example/">abbr</abbr><area href="https://y.example/">'
        '<link href="https://z.example/s.css"><p>Visit https://shop.example.com today &amp; save</p>'
        '<img src="https://img.example/a.png" alt="">\u00e9\u4e2d'
        "</body></html>"
    )
    assert track(html).html == html


def test_the_pixel_goes_before_the_last_body_end() -> None:
    pixel = PIXEL.format(PIXEL_URL)
    assert pixel == (
        f'<img src="{PIXEL_URL}" width="1" height="1" alt="" style="display:block;border:0">'
    )
    html = "<html><body><p>x</p><!-- </body> --></BODY ></html>"
    assert (
        track(html, PIXEL_URL).html == f"<html><body><p>x</p><!-- </body> -->{pixel}</BODY ></html>"
    )
    assert track("<p>fragment</p>", PIXEL_URL).html == f"<p>fragment</p>{pixel}"
    query = track("<p>x</p>", "https://t/o?a=1&b=2").html
    assert 'src="https://t/o?a=1&amp;b=2"' in query
    assert track("<p>x</p>", None).html == "<p>x</p>"


def test_broken_markup_does_not_hang_or_raise() -> None:
    broken = '<a href="https://a.example/ ' + "<a title='" * 2_000 + "<a"
    assert track(broken).html == broken  # unterminated tags are left alone
    stray = "<a title=it's href=https://a.example/x>x</a>"
    assert track(stray).links == ("https://a.example/x",)


def test_one_click_headers() -> None:
    assert one_click_headers(UNSUBSCRIBE) == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    for bad in ("", "https://x/ y", "https://x/>\r\nBcc: a@b"):
        with pytest.raises(ValueError):
            one_click_headers(bad)


def test_found_links_filled_later_give_what_track_links_gives() -> None:
    html = (
        "<html><body>"
        '<a href="https://a.example/x?p=1&amp;q=2">a</a> <a href="mailto:x@example.com">m</a> '
        f'<a href="{UNSUBSCRIBE}">u</a> <a data-no-track href="https://n.example/">n</a> '
        "<a href='https://a.example/x?p=1&amp;q=2'>again</a> <a href=https://b.example/>b</a>"
        "</body></html>"
    )
    found = find_links(html, (UNSUBSCRIBE,))
    assert found.urls == ("https://a.example/x?p=1&q=2",) * 2 + ("https://b.example/",)
    assert found.links == ("https://a.example/x?p=1&q=2", "https://b.example/")
    assert len(found.pieces) == len(found.urls) + 1
    ids = {"https://a.example/x?p=1&q=2": 1, "https://b.example/": 2}
    filled = found.fill(ids.__getitem__, lambda i: f"https://t.example.com/t/c/L{i}", PIXEL_URL)
    assert filled == track(html, PIXEL_URL, (UNSUBSCRIBE,)).html
    assert found.fill(ids.__getitem__, str, None).count('href="1"') == 2


def test_a_document_without_links_is_one_piece() -> None:
    found = find_links("<p>plain</p>")
    assert (found.pieces, found.urls, found.links) == (("<p>plain</p>",), (), ())
    assert found.fill(lambda url: 0, str, None) == "<p>plain</p>"
