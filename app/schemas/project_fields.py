"""The kinds of the project field table, and the models derived from it.

The table is ``ProjectFields`` (schemas/project.py): each field is declared once, as any pydantic
field (type, constraints, description), with a *kind* in its annotation that says what else there
is to know about it: the stored columns that hold it, its Chinese spreadsheet header, and how the
answer shows it (its description there, when it differs from the input's). From that one
declaration come the all-optional PATCH model, the answer model, the columns a write sets, the JSON
answer, the spreadsheet columns and the batch's compared columns.

- ``Plain``: one column of the same name, shown as stored;
- ``Amount``: CNY in one column, shown as a decimal string;
- ``Mask``: a list of codes stored as one integer bit mask (``<name>_mask``);
- ``Records``: a list of small models stored as one JSON column of the field's name (in a
  spreadsheet, one cell of ``a:b`` items);
- ``Nested``: a small model whose parts are columns ``<name>_<part>`` (the parts declare
  their own headers); ``private`` ones are shown only to those who may see the contact;
- ``Screened``: the 两高 screening the library stores with every project (answer only);
- ``Results``: the verified monitoring results kept with every project (answer only).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from app.models.flags import FlagSet
from app.schemas.common import MoneyText, OutputModel


class Kind:
    """How a field is stored, shown and named in a spreadsheet; by default one column as is."""

    def __init__(
        self,
        zh: str | None = None,
        *,
        shown: str | None = None,
        shown_examples: list[Any] | None = None,
    ) -> None:
        self.zh = zh
        self.shown = shown
        self.shown_examples = shown_examples

    def columns(self, name: str, annotation: Any) -> tuple[str, ...]:
        return (name,)

    def read_type(self, annotation: Any) -> Any:
        return annotation


class Plain(Kind):
    """One column of the field's name; ``show`` converts it for the answer when needed."""

    def __init__(
        self,
        zh: str | None = None,
        *,
        shown: str | None = None,
        shown_examples: list[Any] | None = None,
        show: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(zh, shown=shown, shown_examples=shown_examples)
        self.show = show


class Amount(Kind):
    """Money: exact in one column, a decimal string with two places in the answer."""

    def read_type(self, annotation: Any) -> Any:
        return MoneyText


class Mask(Kind):
    """A list of codes stored as one bit mask of ``flags`` in the column ``<name>_mask``."""

    def __init__(self, zh: str, flags: FlagSet, *, shown: str | None = None) -> None:
        super().__init__(zh, shown=shown)
        self.flags = flags

    def columns(self, name: str, annotation: Any) -> tuple[str, ...]:
        return (f"{name}_mask",)


class Records(Kind):
    """A list of small models in one JSON column of the field's name; in a spreadsheet, one
    ``list`` cell whose items the model reads from text."""

    def read_type(self, annotation: Any) -> Any:
        return list[read_model(model_of(annotation))]  # type: ignore[misc]


class Nested(Kind):
    """A small model stored as one column per part, ``<name>_<part>``."""

    def __init__(self, *, shown: str | None = None, private: bool = False) -> None:
        super().__init__(shown=shown)
        self.private = private

    def columns(self, name: str, annotation: Any) -> tuple[str, ...]:
        return tuple(f"{name}_{part}" for part in model_of(annotation).model_fields)

    def read_type(self, annotation: Any) -> Any:
        shown = read_model(model_of(annotation))
        return shown | None if accepts_none(annotation) else shown


class Screened(Kind):
    """The stored 两高 screening: the sector flag, the outcome, and its rule and reasons."""

    COLUMNS = ("is_two_high", "two_high_outcome", "screening")

    def columns(self, name: str, annotation: Any) -> tuple[str, ...]:
        return self.COLUMNS


class Results(Kind):
    """The verified results (MRV) the library keeps with every project (answer only): the sums
    of its verified monitoring reports, one column each."""

    COLUMNS = (
        "verified_emission_reduction_tco2e",
        "verified_carbon_sink_tco2e",
        "verified_energy_saving_tce",
        "verified_credited_tco2e",
        "verified_adaptation_beneficiaries",
        "verified_reports",
        "verified_days",
    )

    def columns(self, name: str, annotation: Any) -> tuple[str, ...]:
        return self.COLUMNS


@dataclass(frozen=True)
class SheetColumn:
    """One spreadsheet column: its name, its Chinese header, where its value sits in the JSON,
    and how its cell reads (``list``: codes split on ``;``; ``bool``: yes/no words; ``text``)."""

    name: str
    zh: str
    path: tuple[str, ...]
    cell: Literal["text", "list", "bool"] = "text"


@dataclass(frozen=True)
class FieldSpec:
    """One field of the table, as the layers below read it."""

    name: str
    kind: Kind
    annotation: Any
    columns: tuple[str, ...]
    parts: tuple["FieldSpec", ...]
    optional: bool

    @property
    def cell(self) -> Literal["text", "list", "bool"]:
        if isinstance(self.kind, Mask | Records):
            return "list"
        return "bool" if self.annotation is bool else "text"

    @property
    def sheet(self) -> tuple[SheetColumn, ...]:
        """The field's spreadsheet columns: one, one per part of a nested model, or none."""
        if self.parts:
            return tuple(
                SheetColumn(column, part.kind.zh, (self.name, part.name), part.cell)
                for column, part in zip(self.columns, self.parts, strict=True)
                if part.kind.zh is not None
            )
        if self.kind.zh is None:
            return ()
        return (SheetColumn(self.name, self.kind.zh, (self.name,), self.cell),)


def accepts_none(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, UnionType) and NoneType in get_args(annotation)


def model_of(annotation: Any) -> type[BaseModel]:
    """The model inside ``Model``, ``Model | None`` or ``list[Model]``."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    raise TypeError(f"{annotation!r} holds no model")


def kind_of(info: FieldInfo) -> Kind:
    return next((m for m in info.metadata if isinstance(m, Kind)), Plain())


def spec_of(name: str, info: FieldInfo) -> FieldSpec:
    kind = kind_of(info)
    parts = field_table(model_of(info.annotation)) if isinstance(kind, Nested) else ()
    return FieldSpec(
        name=name,
        kind=kind,
        annotation=info.annotation,
        columns=kind.columns(name, info.annotation),
        parts=parts,
        optional=accepts_none(info.annotation),
    )


def field_table(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The model's fields with their kinds, in declaration order."""
    return tuple(spec_of(name, info) for name, info in model.model_fields.items())


def optional_model(model: type[BaseModel], name: str, base: type[BaseModel], doc: str) -> Any:
    """The all-optional twin of an input model: each field may be left out or sent as null.

    Same constraints and descriptions; no defaults or examples (a PATCH changes only what it sends).
    """
    fields: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        annotation = info.rebuild_annotation()
        nullable = annotation if accepts_none(info.annotation) else annotation | None
        fields[field] = (nullable, Field(default=None, description=info.description))
    return create_model(name, __base__=base, __module__=model.__module__, __doc__=doc, **fields)


def shown_fields(model: type[BaseModel]) -> dict[str, Any]:
    """The answer's twin of each field of an input model: the type and description it is shown
    with, every field present (null when empty), no input constraints; the kind rides along."""
    fields: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        kind = kind_of(info)
        described = Field(description=kind.shown or info.description, examples=kind.shown_examples)
        fields[field] = (Annotated[kind.read_type(info.annotation), kind], described)
    return fields


@cache
def read_model(model: type[BaseModel]) -> Any:
    """``<Model>Read``: how the answer shows a nested input model (made once per model)."""
    return create_model(
        f"{model.__name__}Read",
        __base__=OutputModel,
        __module__=model.__module__,
        **shown_fields(model),
    )
