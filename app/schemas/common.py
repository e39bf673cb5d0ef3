"""Shapes shared by every endpoint: the page of a list, the base of input models."""

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

T = TypeVar("T")


def _has_nul(value: Any) -> bool:
    # Strings and lists of strings only: a nested model checks its own fields, and a raw item of
    # a batch is validated (and refused alone) by the batch itself.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused, not ignored (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refusing it here keeps both databases equal.
        if _has_nul(value):
            raise PydanticCustomError("nul_character", "Text must not contain NUL characters.")
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list: follow ``next_cursor`` until it is null."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Opaque cursor for the next page; null on the last page."
    )
