"""Benchmark: the per-message pure work of sending, in µs per call.

Link rewriting plus the open pixel for a typical marketing e-mail (the
engine's own layout around a 12-product grid: ~20 KB, 30 links, of which
26 tracked), with real signed click tokens; a small e-mail (the shipped
templates' size: ~2 KB, 4 links); token sign and verify; one send-window
look-up. Single process, best of a few short repeats of CPU time.

    .venv/bin/python bench/bench_tracking.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from datetime import UTC, datetime, time
from time import process_time
from zoneinfo import ZoneInfo

from engine.core.sending.windows import next_allowed
from engine.core.tracking.links import track_links
from engine.core.tracking.tokens import TokenSigner

SIGNER = TokenSigner("bench-tracking-secret-0123456789")
UNSUBSCRIBE = "https://t.example.com/t/u/" + SIGNER.sign("u", 123_456_789)
PRODUCT = """
<tr><td style="padding:12px 0; border-bottom:1px solid #eee;">
  <a href="https://shop.example.com/p/{n}?utm_source=email&amp;utm_campaign=winter&amp;utm_content=grid-{n}"
     style="display:block; color:#2b2b2b; text-decoration:none;">
    <img src="https://img.example.com/p/{n}.jpg" width="160" height="160" alt="Product {n}" style="border:0;">
  </a>
  <p style="margin:8px 0; font-size:15px;">Wool scarf, colour {n} &middot; now 20% off for you</p>
  <a href="https://shop.example.com/p/{n}?utm_source=email&amp;utm_campaign=winter&amp;utm_content=cta-{n}"
     class="button" style="background:#a33; color:#fff; padding:8px 16px; border-radius:4px;">Shop now</a>
</td></tr>"""
LAYOUT = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>a {{ color:#a33; }} @media (max-width:600px) {{ .col {{ width:100% !important; }} }}</style>
</head><body style="margin:0; padding:0; background:#f4f1ec;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;">
<tr><td><a href="https://shop.example.com/?utm_source=email">Shop</a> |
<a href="https://shop.example.com/new">New</a> | <a href="#deals">Deals</a></td></tr>
<tr><td style="padding:28px 32px; font-size:16px; line-height:1.5;"><p>Dear Mei,</p>
<p>Winter is here. We picked these for you; your code is SAMPLE-7.</p></td></tr>
{products}
<tr><td style="font-size:12px; color:#7a7a7a;">You receive this e-mail because you are a customer.
<a href="{unsubscribe}" style="color:#7a7a7a;">Unsubscribe</a> at any time with one click.<br>
Shop &middot; 88 Sample Road, Shanghai &middot;
<a href="mailto:hello@shop.example.com">hello@shop.example.com</a>
<a href="https://shop.example.com/privacy" data-no-track>Privacy</a></td></tr>
</table></body></html>"""
TYPICAL = LAYOUT.format(
    products="".join(PRODUCT.format(n=n) for n in range(12)), unsubscribe=UNSUBSCRIBE
)
SMALL = LAYOUT.format(products="", unsubscribe=UNSUBSCRIBE)


def per_call(fn: Callable[[], object], number: int) -> float:
    """Best of five repeats of CPU time (steadier on a shared machine), in µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=5, timer=process_time)) / number * 1e6


def rewrite(html: str) -> Callable[[], object]:
    send_id = 123_456_789
    links: dict[str, int] = {}  # the per-campaign link cache a dispatcher keeps

    def run() -> object:
        return track_links(
            html,
            lambda url: links.setdefault(url, len(links) + 1),
            lambda link: "https://t.example.com/t/c/" + SIGNER.sign("c", send_id, link),
            "https://t.example.com/t/o/" + SIGNER.sign("o", send_id),
            skip=(UNSUBSCRIBE,),
        )

    return run


def main() -> None:
    tracked = track_links(TYPICAL, lambda url: 1, str, None, skip=(UNSUBSCRIBE,))
    print(f"typical e-mail: {len(TYPICAL):,} chars, {len(tracked.links)} tracked links")
    print(f"  track_links with signed tokens: {per_call(rewrite(TYPICAL), 300):8.1f} µs")
    print(f"small e-mail ({len(SMALL):,} chars):")
    print(f"  track_links with signed tokens: {per_call(rewrite(SMALL), 2000):8.1f} µs")
    token = SIGNER.sign("c", 123_456_789, 17)
    print(f"token sign:   {per_call(lambda: SIGNER.sign('c', 123_456_789, 17), 20000):8.1f} µs")
    print(f"token verify: {per_call(lambda: SIGNER.verify('c', token), 20000):8.1f} µs")
    now, zone = datetime(2026, 12, 4, 23, 30, tzinfo=UTC), ZoneInfo("Asia/Shanghai")
    days, hours, quiet = (
        ("mon", "tue", "wed", "thu", "fri"),
        (time(9), time(22)),
        (time(8), time(21)),
    )
    look_up = per_call(lambda: next_allowed(now, zone, days, hours, quiet), 20000)
    print(f"next_allowed (skips a weekend): {look_up:8.1f} µs")


if __name__ == "__main__":
    main()
