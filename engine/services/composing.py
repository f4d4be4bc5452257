"""Turn a claimed send into a `Message`: variables, rendering, tracking, headers.

Templates see the variables of `message_variables` (customer, metrics,
campaign, cell, vars, offer, response code and its personal URL) plus
``unsubscribe_url``, a signed token of the send id. In e-mail with engine tracking, links become signed
redirects and an open pixel is added; no URL carries personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.core.campaign.preview import message_variables
from engine.core.campaign.spec import CampaignSpec, MailStep
from engine.core.messages import Rendered
from engine.core.sending.due import Due, zone_of
from engine.core.sending.message import Message
from engine.core.sending.windows import window_on
from engine.core.tracking.links import FoundLinks, find_links, one_click_headers
from engine.core.tracking.tokens import TokenSigner
from engine.errors import TemplateError


class Renderer(Protocol):
    def render(self, channel: str, name: str, variables: Mapping[str, Any]) -> Rendered: ...


class Links(Protocol):
    def link_ids(self, campaign_id: int, urls: Iterable[str]) -> dict[str, int]: ...


@dataclass(frozen=True)
class Tracking:
    """How links, pixels and unsubscribe URLs are made (from config)."""

    signer: TokenSigner
    public_url: str
    mode: str  # engine | sendgrid
    purl_base: str

    def url(self, kind: str, *ids: int) -> str:
        path = {"o": "t/o", "c": "t/c", "u": "u"}[kind]
        return f"{self.public_url.rstrip('/')}/{path}/{self.signer.sign(kind, *ids)}"

    def unsubscribe(self, send_id: int) -> str:
        """The unsubscribe URL of a send (signed once: composing asks for it three times)."""
        return _unsubscribe(self, send_id)


@lru_cache(maxsize=16_384)  # > the sends of one batch
def _unsubscribe(tracking: Tracking, send_id: int) -> str:
    return tracking.url("u", send_id)


@dataclass(frozen=True)
class Composer:
    renderer: Renderer
    links: Links
    tracking: Tracking
    zone: ZoneInfo  # campaign timezone fallback for customers without one

    def compose_all(
        self, batch: Sequence[tuple[Due, CampaignSpec]], now: datetime
    ) -> list[Message | TemplateError]:
        """The message of every send in `batch` (or the template's error), in order.

        Tracked links are resolved for the whole batch at once (personal
        links are new for every recipient: one round trip, not one each).
        """
        drafts: list[Message | TemplateError] = []
        for due, spec in batch:
            try:
                drafts.append(self.compose(due, spec, now))
            except TemplateError as exc:
                drafts.append(exc)
        if self.tracking.mode != "engine":
            return drafts
        return self._track(drafts, {due.send_id: due for due, _ in batch})

    def _track(
        self, drafts: list[Message | TemplateError], dues: dict[int, Due]
    ) -> list[Message | TemplateError]:
        # One scan per e-mail: its links are found, their ids resolved for the
        # whole batch, then the same cuts are filled with the click URLs.
        found: dict[int, FoundLinks] = {}
        wanted: dict[int, set[str]] = {}
        for draft in drafts:
            if isinstance(draft, Message) and draft.channel == "email":
                skip = (self.tracking.unsubscribe(draft.send_id),)
                found[draft.send_id] = links = find_links(draft.rendered.html or "", skip)
                wanted.setdefault(dues[draft.send_id].campaign_id, set()).update(links.links)
        ids = {campaign: self.links.link_ids(campaign, urls) for campaign, urls in wanted.items()}
        out: list[Message | TemplateError] = []
        for draft in drafts:
            if isinstance(draft, Message) and draft.channel == "email":
                known = ids[dues[draft.send_id].campaign_id]
                draft = _with_html(draft, self._tracked(draft, found[draft.send_id], known))
            out.append(draft)
        return out

    def compose(self, due: Due, spec: CampaignSpec, now: datetime) -> Message:
        """The message of `due` with its links untracked; raises `TemplateError`."""
        step = next(s for s in spec.steps if s.id == due.step)
        code = due.response_code or ""
        purl = self.tracking.purl_base.rstrip("/") + "/" + code if code else ""
        unsubscribe = self.tracking.unsubscribe(due.send_id)
        variables = message_variables(spec, due.cell, due.customer, due.metrics, code, purl)
        variables["unsubscribe_url"] = unsubscribe
        rendered = self.renderer.render(step.channel, step.template, variables)
        base = {
            "send_id": due.send_id,
            "campaign_key": spec.key,
            "step": step.id,
            "cell": due.cell,
            "channel": step.channel,
            "response_code": due.response_code,
        }
        customer = due.customer
        if step.channel == "email":
            return Message(
                **base,
                to=customer["email"],
                rendered=rendered,
                headers=one_click_headers(unsubscribe),
                categories=tuple(getattr(step, "categories", ())),
            )
        if step.channel == "mail":
            assert isinstance(step, MailStep)
            return Message(
                **base,
                to=_name(customer),
                rendered=rendered,
                fields=self._mail(due, spec, step, purl),
            )
        fields: dict[str, str] = {}
        if step.channel == "call":
            fields = self._call(due, step.hours, now)
        return Message(**base, to=customer["phone"], rendered=rendered, fields=fields)

    def _tracked(self, message: Message, found: FoundLinks, known: dict[str, int]) -> str:
        def click(link: int) -> str:
            return self.tracking.url("c", message.send_id, link)

        return found.fill(known.__getitem__, click, self.tracking.url("o", message.send_id))

    def _mail(self, due: Due, spec: CampaignSpec, step: MailStep, purl: str) -> dict[str, str]:
        c = due.customer
        keycode = f"{step.keyline or spec.key}-{due.cell}".upper()[:35]
        keys = ("company_name", "address_line1", "address_line2", "postal_code", "city")
        return {
            "name": _name(c),
            **{key: str(c.get(key) or "") for key in (*keys, "region", "country")},
            "keycode": keycode,
            "purl": purl,
        }

    def _call(self, due: Due, hours: Any, now: datetime) -> dict[str, str]:
        c = due.customer
        zone = zone_of(c.get("timezone")) or self.zone
        start, end = window_on(now.astimezone(zone).date(), zone, hours)
        return {
            "name": _name(c),
            "timezone": str(zone.key),
            "language": str(c.get("language") or ""),
            "window_start": f"{hours[0]:%H:%M}",
            "window_end": f"{hours[1]:%H:%M}",
            "window_start_utc": start.isoformat(),
            "window_end_utc": end.isoformat(),
            "customer_ref": str(c.get("external_id") or c["id"]),
        }


def _with_html(message: Message, html: str) -> Message:
    r = message.rendered
    return replace(message, rendered=Rendered(r.channel, r.text, r.subject, html))


def _name(customer: Mapping[str, Any]) -> str:
    parts = (customer.get("first_name"), customer.get("last_name"))
    return " ".join(str(p) for p in parts if p) or str(customer.get("company_name") or "")
