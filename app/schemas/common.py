"""Shapes shared by every endpoint: the page of a list, the base of input models."""

import functools
import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

T = TypeVar("T")

# Page sizes of every list: what a caller may ask for, and what it gets without asking.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def json_default(value: Any) -> str:
    """orjson's ``default`` for the rows a hot path encodes itself."""
    # asyncpg hands back its own UUID subclass, which orjson does not take for a uuid.UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def money_str(value: Decimal) -> str:
    return f"{value:.2f}"


# How the document declares the decimal strings answers carry, so that clients generated from it
# keep money exact instead of offering floats (app/openapi.py declares decimal inputs likewise).
MONEY_TEXT_SCHEMA = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["12500000.00"]}
RATE_TEXT_SCHEMA = {"type": "string", "pattern": r"^\d+\.\d{3}$", "examples": ["3.450"]}

MoneyText = Annotated[str, WithJsonSchema(MONEY_TEXT_SCHEMA)]
"""CNY already written as a decimal string with two places."""
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(money_str, return_type=str, when_used="json"),
    WithJsonSchema(MONEY_TEXT_SCHEMA),
]
"""CNY as a decimal string with two places ("12500000.00"), however it was written."""
RateOut = Annotated[
    Decimal,
    PlainSerializer(lambda v: f"{v:.3f}", return_type=str, when_used="json"),
    WithJsonSchema(RATE_TEXT_SCHEMA),
]
"""An annual rate in percent as a decimal string with three places ("3.450")."""


class DecimalText:
    """A decimal a request sends as a string of exactly the declared form, never a JSON number.

    ``Annotated[Decimal, Field(...constraints), DecimalText(...)]``: the field's own constraints
    refuse first, with their own codes (``decimal_max_places``, ``greater_than``, ...); then a
    string of another form than the pattern (``"1e3"``, ``".5"``, ``"1.500"``) is
    ``invalid_decimal``, and a JSON number is ``decimal_not_string`` (a float may already have lost
    digits before the service sees it). The document declares the same pattern, so what it calls
    valid the service takes and what it calls invalid the service refuses.
    """

    def __init__(
        self,
        whole: int,
        places: int,
        *,
        positive: bool = False,
        at_most_100: bool = False,
        signed: bool = False,
    ) -> None:
        number = rf"[0-9]{{1,{whole}}}(?:\.[0-9]{{1,{places}}})?"
        if at_most_100:  # rates: 0–100 percent
            number = rf"(?:100(?:\.0{{1,{places}}})?|[0-9]{{1,2}}(?:\.[0-9]{{1,{places}}})?)"
        nonzero = r"(?!0*(?:\.0*)?$)" if positive else ""
        # signed: a minus is of the form, and the service refuses the value with its own code.
        sign = "-?" if signed else ""
        self.pattern = f"^{nonzero}{sign}{number}$"
        self._form = re.compile(self.pattern)
        self.example = "3.450" if at_most_100 else "12500000.00"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": self.pattern, "examples": [self.example]}

    def _validate(self, value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise PydanticCustomError(
                "decimal_not_string",
                'Send the amount as a decimal string (e.g. "{example}"), not a JSON number.',
                {"example": self.example},
            )
        result = handler(value)
        if isinstance(value, str) and not self._form.fullmatch(value):
            raise PydanticCustomError(
                "invalid_decimal",
                "Write the decimal as digits with an optional fraction: {pattern}",
                {"pattern": self.pattern},
            )
        return result


def _has_nul(value: Any) -> bool:
    # Strings and lists of strings only: a nested model checks its own fields, and a raw item of
    # a batch is validated (and refused alone) by the batch itself.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


@functools.cache
def _kinds(model: type[BaseModel], name: str) -> frozenset[Any]:
    """The types a field takes besides null (the members of an optional or union type).

    Cached: the answer is fixed once the model is built, and every scalar field of every input
    asks (an import of 100,000 rows asked about 3 million times, a fifth of its parsing CPU)."""
    field = model.model_fields.get(name)
    if field is None:
        return frozenset()
    kinds = set(get_args(field.annotation)) if get_origin(field.annotation) else {field.annotation}
    kinds.discard(type(None))
    return frozenset(kinds)


@functools.cache
def _lax_guards(model: type[BaseModel], name: str) -> tuple[bool, bool, bool]:
    """Whether the field takes only booleans, only integers, or dates (see ``_refuse_nul``)."""
    kinds = _kinds(model, name)
    return kinds == {bool}, kinds == {int}, bool(kinds & {date, datetime})


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused, not ignored (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None  # every field of every input runs this: the common case first
        # PostgreSQL text cannot hold NUL; refusing it here keeps both databases equal.
        if _has_nul(value):
            raise PydanticCustomError("nul_character", "Text must not contain NUL characters.")
        # pydantic's lax mode reads true/false as 1/0, 1/"yes" as true and a number as Unix
        # seconds; the document's integer is no boolean, its boolean is true or false, and its
        # dates are ISO 8601 strings.
        if isinstance(value, int | float | str) and info.field_name:
            only_bool, only_int, dated = _lax_guards(cls, info.field_name)
            is_bool = isinstance(value, bool)
            if only_bool and not is_bool:
                raise PydanticCustomError("bool_type", "Input should be true or false.")
            if not isinstance(value, str):
                if is_bool and only_int:
                    raise PydanticCustomError("int_type", "Input should be a valid integer.")
                if not is_bool and dated:
                    raise PydanticCustomError(
                        "date_type", "Write the date in ISO 8601 (2026-12-04)."
                    )
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list: follow ``next_cursor`` until it is null."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Opaque cursor for the next page; null on the last page."
    )
