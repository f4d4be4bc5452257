"""The base of every settings model, and what several sections share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationInfo,
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def over_defaults(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A per-channel map from a file over the field's default: listing one channel changes that one."""
    if not isinstance(value, dict):
        return value
    defaults = model.model_fields[info.field_name or ""].get_default(call_default_factory=True)
    return {**defaults, **value}


Channel = Literal["email", "sms", "mail", "call"]
ConsentBasis = Literal["opt_in", "opt_out"]
