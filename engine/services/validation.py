"""Use case `validate_campaign`: is the campaign file right, down to its templates?

Every violation is collected with its YAML location (schema errors from
pydantic, then the cross-checks and a render of every template for a sample
customer of every cell); warnings do not stop a campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from engine.core.campaign.check import Finding, check_campaign
from engine.core.campaign.preview import (
    SAMPLE_CUSTOMER,
    SAMPLE_METRICS,
    SAMPLE_RESPONSE_CODE,
    message_variables,
)
from engine.core.campaign.spec import CampaignSpec
from engine.core.messages import Rendered, sms_length
from engine.errors import InvalidDocument, TemplateError
from engine.yamldoc import YamlDoc, load_yaml, violations


class Renderer(Protocol):
    def missing(self, channel: str, name: str) -> list[str]: ...
    def render(self, channel: str, name: str, variables: dict[str, Any]) -> Rendered: ...


@dataclass(frozen=True)
class Checked:
    """A valid campaign, its source document and what deserves a second look."""

    spec: CampaignSpec
    doc: YamlDoc
    warnings: tuple[str, ...] = ()


def validate_campaign(text: str, filename: str, renderer: Renderer) -> Checked:
    """The parsed campaign; InvalidDocument lists every violation (file:line:col path: why)."""
    doc = load_yaml(text, filename)
    try:
        spec = CampaignSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise InvalidDocument(violations(exc, doc)) from exc
    findings = [*check_campaign(spec), *check_templates(spec, renderer)]
    errors = [doc.describe(f.path, f.message) for f in findings if f.severity == "error"]
    if errors:
        raise InvalidDocument(errors)
    warnings = [doc.describe(f.path, f.message) for f in findings if f.severity == "warning"]
    return Checked(spec, doc, tuple(warnings))


def check_templates(spec: CampaignSpec, renderer: Renderer) -> list[Finding]:
    """Every step's templates exist and render for a sample customer of every cell."""
    findings: list[Finding] = []
    for index, step in enumerate(spec.steps):
        where = ("steps", index, "template")
        missing = renderer.missing(step.channel, step.template)
        if missing:
            findings.append(Finding(where, f"missing template file(s): {', '.join(missing)}"))
            continue
        for cell, cell_spec in spec.groups.cells.items():
            if cell_spec.steps is not None and step.id not in cell_spec.steps:
                continue
            variables = message_variables(
                spec, cell, SAMPLE_CUSTOMER, SAMPLE_METRICS, SAMPLE_RESPONSE_CODE
            )
            try:
                message = renderer.render(step.channel, step.template, variables)
            except TemplateError as exc:
                findings.append(Finding(where, f"cell {cell}: {exc}"))
                continue
            if step.channel == "sms":
                findings.extend(_sms_findings(where, cell, message.text))
    return findings


def _sms_findings(where: tuple[str | int, ...], cell: str, text: str) -> list[Finding]:
    length = sms_length(text)
    if length.segments <= 1:
        return []
    return [
        Finding(
            where,
            f"cell {cell}: {length.segments} SMS segments ({length.characters} {length.encoding} "
            "characters); each segment is billed",
            "warning",
        )
    ]
