"""A project in its three shapes: validated input, stored columns, and the JSON answer.

Each conversion is derived once, at import, from the field table (``ProjectFields`` and
``ProjectRead``; the kinds are in schemas/project_fields.py). The two that run for every listed
row and every batch item are compiled into one dict display each.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any

from sqlalchemy import Numeric

from app.auth import Principal
from app.models import Project
from app.reference.taxonomy import taxonomy_version
from app.repositories import projects as repo
from app.repositories.sqlite_reads import Convert
from app.repositories.statements import DriverPlan
from app.schemas.common import money_str
from app.schemas.project import ANSWER_FIELDS, INPUT_FIELDS, ProjectFields
from app.schemas.project_fields import (
    Amount,
    FieldSpec,
    Mask,
    Nested,
    Plain,
    Records,
    Results,
    Screened,
)
from app.services import audit
from app.services.screening import screen_fields

Getter = Callable[[Any], Any]

# ---- the builders -------------------------------------------------------------------------------


def _dict_builder(
    name: str, args: str, items: Sequence[tuple[str, str]], env: dict[str, Any]
) -> Callable[..., dict[str, Any]]:
    """A function of ``args`` returning one dict display of ``items`` (key, Python expression).

    Compiled once from the field table, as dataclasses compile ``__init__``: the answer and the
    stored columns are built for every listed row and every batch item, and one dict display is
    about twice as fast as any loop over the table.
    """
    body = "".join(f"        {key!r}: {expression},\n" for key, expression in items)
    source = f"def {name}({args}):\n    return {{\n{body}    }}\n"
    exec(compile(source, f"<{name}>", "exec"), env)  # noqa: S102 - source made from the table
    builder: Callable[..., dict[str, Any]] = env[name]
    return builder


# ---- input → columns ---------------------------------------------------------------------------


def _stored(spec: FieldSpec, env: dict[str, Any]) -> list[tuple[str, str]]:
    """The field's columns and, for each, its value as an expression of the input ``d``."""
    kind, value = spec.kind, f"d.{spec.name}"
    if isinstance(kind, Mask):
        env[f"mask_{spec.name}"] = kind.flags.mask
        return [(spec.columns[0], f"mask_{spec.name}(c.value for c in {value})")]
    if isinstance(kind, Records):
        return [(spec.name, f"[item.model_dump() for item in {value}]")]
    if isinstance(kind, Nested):
        guard = f" if {value} is not None else None" if spec.optional else ""
        return [
            (column, f"{value}.{part.name}{guard}")
            for column, part in zip(spec.columns, spec.parts, strict=True)
        ]
    return [(spec.name, value)]


def _columns_builder() -> Callable[[ProjectFields], dict[str, Any]]:
    env: dict[str, Any] = {}
    items = [item for spec in INPUT_FIELDS for item in _stored(spec, env)]
    return _dict_builder("stored_columns", "d", items, env)


_stored_columns = _columns_builder()

STORED_COLUMNS: tuple[str, ...] = (
    *(column for spec in INPUT_FIELDS for column in spec.columns),
    *Screened.COLUMNS,
    "taxonomy_version",
)
"""Every column a write sets: the fields' own, the 两高 screening's and the taxonomy version the
categories were validated under (every write validates them against the current taxonomy)."""
PRIVATE_FIELDS = frozenset(
    spec.name for spec in INPUT_FIELDS if isinstance(spec.kind, Nested) and spec.kind.private
)
"""Fields whose values history never shows (the contact): only that they changed."""
FIELD_OF_COLUMN: dict[str, str] = {
    column: spec.name for spec in INPUT_FIELDS for column in spec.columns
}
"""The input field that each of its columns holds (the screening's columns hold none)."""


_MONEY_FIELDS = frozenset(spec.name for spec in INPUT_FIELDS if isinstance(spec.kind, Amount))


def _json_value(name: str, value: Any) -> Any:
    if name in _MONEY_FIELDS and value is not None:
        return money_str(value)
    return audit.json_safe(value)


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: Iterable[str]
) -> audit.Changes:
    """What changed among ``fields`` between two input-shaped records (``as_input`` or a model's
    dump), for the audit store: money as two-place strings, the contact only as changed."""
    names = list(fields)
    return audit.changes(
        {n: _json_value(n, before.get(n)) for n in names},
        {n: _json_value(n, after.get(n)) for n in names},
        names,
        private=PRIVATE_FIELDS,
    )


def column_values(data: ProjectFields) -> dict[str, Any]:
    """The project columns validated input sets, its 两高 screening included.

    Shared by single writes and the batch upsert, which compares them with the stored row to
    tell an unchanged item from an update and bulk-inserts them for new ones.
    """
    values = _stored_columns(data)
    result = screen_fields(data)
    values["is_two_high"] = result.is_two_high
    values["two_high_outcome"] = result.outcome.value
    values["screening"] = result.as_json()
    values["taxonomy_version"] = taxonomy_version()
    return values


# ---- columns → input ---------------------------------------------------------------------------


def _loader(spec: FieldSpec) -> Getter:
    """The stored project → the field's value as input."""
    kind = spec.kind
    if isinstance(kind, Mask):
        mask: Getter = attrgetter(spec.columns[0])
        return lambda project: kind.flags.decode(mask(project))
    if isinstance(kind, Nested):
        return _nested_loader(spec)
    return attrgetter(spec.name)


def _nested_loader(spec: FieldSpec) -> Getter:
    columns: Getter = attrgetter(*spec.columns)
    parts = [part.name for part in spec.parts]

    def load(project: Project) -> dict[str, Any] | None:
        values = columns(project)
        # An optional model with nothing stored is absent, as it was sent.
        if spec.optional and not any(values):
            return None
        return dict(zip(parts, values, strict=True))

    return load


_LOADERS = [(spec.name, _loader(spec)) for spec in INPUT_FIELDS]


def as_input(project: Any) -> dict[str, Any]:
    """The stored project (or a row of its columns as attributes) in the shape of its input
    model (the base a PATCH is merged onto)."""
    return {name: load(project) for name, load in _LOADERS}


# ---- columns → answer --------------------------------------------------------------------------


_TRANSITION = "two_high_transition"


def _screening(is_two_high: bool, outcome: str, stored: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "is_two_high": is_two_high,
        "flagged_for_review": outcome == _TRANSITION,
        "rule_id": stored["rule_id"],
        "rule_version": stored["rule_version"],
        "list_version": stored.get("list_version"),
        "reasons": stored["reasons"],
    }


def _verified(
    reduction: Any,
    sink: Any,
    saving: Any,
    credited: Any,
    beneficiaries: Any,
    reports: Any,
    days: Any,
) -> dict[str, Any]:
    return {
        "emission_reduction_tco2e": f"{reduction or 0:.3f}",
        "carbon_sink_tco2e": f"{sink or 0:.3f}",
        "energy_saving_tce": f"{saving or 0:.3f}",
        "credited_tco2e": f"{credited or 0:.3f}",
        "adaptation_beneficiaries": beneficiaries or 0,
        "reports": reports or 0,
        "days": days or 0,
    }


def _shown(
    spec: FieldSpec, value: Callable[[str], str], env: dict[str, Any], money: str | None = None
) -> str:
    """The field's answer as an expression of the list row (``value``: a column's value as an
    expression; and of ``private``: whether the caller sees the private fields). ``money``, if
    given, is the expression of an amount's answer, instead of formatting its Decimal."""
    kind = spec.kind
    at = [value(column) for column in spec.columns]
    if isinstance(kind, Amount):
        if money is not None:
            return money
        return "f'{" + at[0] + ":.2f}'"  # as schemas.common.money_str, inline
    if isinstance(kind, Mask):
        env[f"decode_{spec.name}"] = lru_cache(maxsize=None)(kind.flags.decode)
        return f"decode_{spec.name}({at[0]})"
    if isinstance(kind, Nested):
        parts = ", ".join(f"{p.name!r}: {v}" for p, v in zip(spec.parts, at, strict=True))
        if kind.private:
            return f"({{{parts}}} if private else None)"
        # An optional model stored without its first part was not stated: null, as sent.
        return (
            f"({{{parts}}} if {at[0]} is not None else None)" if spec.optional else f"{{{parts}}}"
        )
    if isinstance(kind, Screened):
        env["screening"] = _screening
        return f"screening({', '.join(at)})"
    if isinstance(kind, Results):
        env["verified"] = _verified
        return f"verified({', '.join(at)})"
    if isinstance(kind, Plain) and kind.show is not None:
        env[f"show_{spec.name}"] = kind.show
        return f"show_{spec.name}({at[0]})"
    return at[0]


_INDEX = {column.key: i for i, column in enumerate(repo.LIST_COLUMNS)}
_REGION_CODE, _PILOT, _STATUS = _INDEX["region_code"], _INDEX["pilot_id"], _INDEX["status"]


def _answer_builder() -> Callable[[Sequence[Any], bool], dict[str, Any]]:
    env: dict[str, Any] = {}
    items = [(spec.name, _shown(spec, lambda c: f"v[{_INDEX[c]}]", env)) for spec in ANSWER_FIELDS]
    return _dict_builder("answer", "v, private", items, env)


_answer = _answer_builder()


def _money_text(convert: Convert) -> Callable[[Any], str]:
    """A stored amount as its answer's text, straight from sqlite3's value: ``"%.2f" % x`` is
    the text SQLAlchemy's Numeric(…, 2) reads (``Decimal("%.2f" % x)``) and formats back, so the
    Decimal is skipped; anything else (a non-finite float, a text) goes the long way."""

    def text(value: Any) -> str:
        if value.__class__ is float or value.__class__ is int:
            shown = f"{value:.2f}"
            if shown[-1] in _DIGITS:
                return shown
        return f"{convert(value) if convert is not None else value:.2f}"

    return text


_DIGITS = frozenset("0123456789")


def _raw_answer_builder(converts: Sequence[Convert]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """The public answer (no private fields) straight from one of sqlite3's rows: ``_answer``
    with each column's conversion (``converts``, statements.DriverPlan) inlined, and amounts
    formatted from sqlite3's value without the Decimal SQLAlchemy would make of it."""
    env: dict[str, Any] = {"private": False}

    def value(column: str) -> str:
        i = _INDEX[column]
        if converts[i] is None:
            return f"r[{i}]"
        env[f"c{i}"] = converts[i]
        return f"c{i}(r[{i}])"

    items = []
    for spec in ANSWER_FIELDS:
        money = None
        if isinstance(spec.kind, Amount) and _is_money(repo.LIST_COLUMNS[_INDEX[spec.columns[0]]]):
            i = _INDEX[spec.columns[0]]
            env[f"m{i}"] = _money_text(converts[i])
            money = f"m{i}(r[{i}])"
        items.append((spec.name, _shown(spec, value, env, money)))
    return _dict_builder("public_answer", "r", items, env)


def _is_money(column: Any) -> bool:
    """A Numeric of two places read as Decimal: what ``_money_text`` stands in for."""
    kind = column.type
    return isinstance(kind, Numeric) and kind.asdecimal and kind.scale == 2


_RAW_BUILDERS: dict[int, tuple[DriverPlan, Callable[[Sequence[Any]], dict[str, Any]]]] = {}


def public_answers(rows: Sequence[Any], raw: DriverPlan | None) -> list[dict[str, Any]]:
    """The public's answers of a page of ``LIST_COLUMNS`` rows: ``to_json(row, ANONYMOUS)``
    each, also for the rows of ``statements.fetch_raw`` left unconverted (``raw`` their plan),
    whose answers are built from sqlite3's values in one step (a builder compiled once per
    plan)."""
    if raw is None or not raw.converts:
        return [_answer(r, False) for r in rows]  # the public never sees the contact
    held = _RAW_BUILDERS.get(id(raw))
    if held is None or held[0] is not raw:
        held = (raw, _raw_answer_builder(raw.converts))
        if len(_RAW_BUILDERS) >= 1024:
            _RAW_BUILDERS.clear()
        _RAW_BUILDERS[id(raw)] = held
    return list(map(held[1], rows))


def to_json(
    values: Sequence[Any], principal: Principal, *, granted: bool = False
) -> dict[str, Any]:
    """A project as its JSON answer, as this principal may see it.

    ``values`` are the columns of ``repo.LIST_COLUMNS`` in order: a list row, or
    ``columns_of(project)``.
    """
    region_code, pilot_id, status = values[_REGION_CODE], values[_PILOT], values[_STATUS]
    private = repo.can_see_contact(principal, region_code, pilot_id, status, granted=granted)
    return _answer(values, private)


def columns_of(project: Project) -> tuple[Any, ...]:
    """An ORM project's values in ``repo.LIST_COLUMNS`` order, for ``to_json``."""
    return tuple(getattr(project, column.key) for column in repo.LIST_COLUMNS)
