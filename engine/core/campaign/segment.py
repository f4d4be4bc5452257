"""The segment language: a tree of `all` / `any` / `none` over named conditions.

A condition is a one-key mapping, ``{lifecycle: {in: [at_risk, lapsed]}}``;
the key names a customer field, a metric or a special condition (source,
consent, tag, attribute, birthday, bought, orders, contacted, responded).
Nodes are a tagged union (the tag is that key), so an unknown name is one
violation listing the allowed names. There is no raw SQL: the database
adapter compiles each node to a SQLAlchemy expression.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, Self, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    model_validator,
)

from engine.core.campaign.fields import FIELDS
from engine.core.campaign.values import Duration, MomentValue

# Union tags carry this mark so error paths can drop them (engine.yamldoc).
TAG_MARK: Final = "~"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Scalar = str | int | float | Decimal


class FieldOps(Strict):
    """Comparisons on one field. A bare value means `eq`, a bare list `in`.

    Several operators in one mapping must all hold. `exists: false` matches
    customers without a value.
    """

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(None, min_length=1)
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    between: tuple[Scalar, Scalar] | None = None
    contains: str | None = None
    starts_with: str | None = None
    before: MomentValue | None = None
    after: MomentValue | None = None
    within: Duration | None = None  # in the last ...
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"in": value}
        if not isinstance(value, dict):
            return {"eq": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one operator")
        return self

    def used(self) -> list[str]:
        """Names of the operators set, as written in YAML."""
        fields = type(self).model_fields
        return [fields[name].alias or name for name in sorted(self.model_fields_set)]


class Count(Strict):
    """A numeric test on an aggregate (order count, amount); a bare number means `eq`."""

    eq: Decimal | None = None
    gt: Decimal | None = None
    gte: Decimal | None = None
    lt: Decimal | None = None
    lte: Decimal | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"eq": value}

    def holds(self, value: Decimal) -> bool:
        """Whether `value` passes every operator (used to decide how zero compiles)."""
        return (
            (self.eq is None or value == self.eq)
            and (self.gt is None or value > self.gt)
            and (self.gte is None or value >= self.gte)
            and (self.lt is None or value < self.lt)
            and (self.lte is None or value <= self.lte)
        )


class SourceIs(Strict):
    """``source: internal`` / ``external`` (provenance) or a source name."""

    source: str | list[str]


class ConsentIs(Strict):
    """``consent: email``: the latest consent on that channel is granted."""

    consent: Literal["email", "sms", "mail", "call"]


class TagIs(Strict):
    """``tag: staff``: the `tags` attribute (comma separated) holds that tag."""

    tag: Annotated[str, Field(min_length=1, pattern=r"^[^,\s]+$")]


class AttributeOps(FieldOps):
    name: Annotated[str, Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return value


class AttributeIs(Strict):
    """``attribute: {name: loyalty_card, eq: gold}``: a custom attribute (as text)."""

    attribute: AttributeOps


class BirthdayWindow(Strict):
    within_next: Annotated[Duration, Field(le=timedelta(days=366))]


class BirthdayIs(Strict):
    """``birthday: {within_next: 7d}``: the birthday falls in the next days."""

    birthday: BirthdayWindow


class BoughtSpec(Strict):
    category: str | list[str] | None = None
    brand: str | list[str] | None = None
    channel: str | list[str] | None = None
    within: Duration | None = None


class Bought(Strict):
    """``bought: {category: garden, within: 365d}``: at least one such order."""

    bought: BoughtSpec


class OrdersSpec(Strict):
    within: Duration | None = None
    count: Count | None = None
    amount: Count | None = None  # base-currency units

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.count is None and self.amount is None:
            raise ValueError("give count or amount")
        return self


class Orders(Strict):
    """``orders: {within: 365d, count: {gte: 2}}``: order count or amount in a period."""

    orders: OrdersSpec


class HistorySpec(Strict):
    campaign: str | list[str] | None = None  # any campaign when absent
    within: Duration | None = None


class Contacted(Strict):
    """``contacted: {campaign: spring-2026, within: 90d}``: treated in such a campaign."""

    contacted: HistorySpec


class ResponseHistory(HistorySpec):
    kind: str | list[str] | None = None


class Responded(Strict):
    """``responded: {campaign: winback-2026-06, within: 180d}``: a response was attributed."""

    responded: ResponseHistory


class Group(Strict):
    """``all`` of these, at least one of ``any``, ``none`` of ``none`` (any mix)."""

    all: Annotated[list[Node], Field(min_length=1)] | None = None
    any: Annotated[list[Node], Field(min_length=1)] | None = None
    none: Annotated[list[Node], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give all, any or none")
        return self


LOGIC: Final = frozenset({"all", "any", "none"})


def _field_condition(name: str) -> type[Strict]:
    return create_model(f"FieldIs_{name}", __base__=Strict, **{name: (FieldOps, ...)})  # type: ignore[call-overload,no-any-return]


SPECIAL: Final[dict[str, type[Strict]]] = {
    "all": Group,
    "source": SourceIs,
    "consent": ConsentIs,
    "tag": TagIs,
    "attribute": AttributeIs,
    "birthday": BirthdayIs,
    "bought": Bought,
    "orders": Orders,
    "contacted": Contacted,
    "responded": Responded,
}
FIELD_CONDITIONS: Final[dict[str, type[Strict]]] = {name: _field_condition(name) for name in FIELDS}
ALLOWED: Final = ("all", "any", "none", *(name for name in SPECIAL if name != "all"), *FIELDS)


class Malformed(Strict):
    """Whatever is not a one-key mapping with a known name."""

    @model_validator(mode="before")
    @classmethod
    def _explain(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            raise ValueError(f"unknown filter {next(iter(value))!r}; allowed: {', '.join(ALLOWED)}")
        if isinstance(value, dict):
            raise ValueError(f"one condition per list item, got {', '.join(map(str, value))}")
        raise ValueError("expected a condition such as {lifecycle: {in: [active]}}")


def _tag(value: Any) -> str:
    if isinstance(value, dict) and value and value.keys() <= LOGIC:
        return TAG_MARK + "all"
    if isinstance(value, Group):
        return TAG_MARK + "all"
    if isinstance(value, dict) and len(value) == 1:
        name = str(next(iter(value)))
        if name in SPECIAL or name in FIELDS:
            return TAG_MARK + name
    if isinstance(value, BaseModel):
        return TAG_MARK + next(iter(type(value).model_fields))
    return TAG_MARK + "malformed"


if TYPE_CHECKING:
    Node = Strict  # a node of the tree; the runtime union below is built from tables
else:
    Node = Annotated[
        Union[  # noqa: UP007 - built from the tables above
            tuple(
                Annotated[model, Tag(TAG_MARK + name)]
                for name, model in {**SPECIAL, **FIELD_CONDITIONS, "malformed": Malformed}.items()
            )
        ],
        Discriminator(_tag),
    ]
Group.model_rebuild()


def condition_name(node: BaseModel) -> str:
    """The YAML key of a node (its only field)."""
    return next(iter(type(node).model_fields))
