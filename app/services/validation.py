"""The field rules of a project, callable without HTTP (the batch upsert reuses them).

``check`` returns every broken rule at once, each with its own code and the offending field's
location; ``ensure_valid`` raises them as one 422.
"""

from collections.abc import Iterator, Sequence
from datetime import date
from itertools import chain

from app.auth import Principal
from app.errors import FieldError, RuleViolation, field_error
from app.models.base import utcnow
from app.models.project import Objective
from app.reference import uscc
from app.reference.classifications import scheme_codes, schemes
from app.reference.industries import industry_code_problem
from app.reference.regions import region_table
from app.reference.taxonomy import category_objective, redundant_categories
from app.schemas.project import ProjectFields
from app.services import pilot_membership, places
from app.services.pilot_membership import Pilots
from app.services.screening import fuel_required

Loc = Sequence[str | int]


Broken = tuple[Sequence[str | int], str, str]
"""A broken rule: the offending field's path, the rule's code, why."""


def check(
    data: ProjectFields,
    principal: Principal | None,
    *,
    loc: Loc = ("body",),
    new_region: bool = True,
    new_pilot: bool = True,
    pilots: Pilots | None = None,
    created_on: date | None = None,
) -> list[FieldError]:
    """Every rule ``data`` breaks. ``new_region``: the region code must also be current;
    ``new_pilot``: the stated pilot must take the project now (``pilots`` holds it, loaded by
    ``pilot_membership.load``); ``created_on``: the project's creation day (default today)."""
    pilots = pilots or {}
    on = created_on or utcnow().date()
    membership = (
        pilot_membership.check(data.pilot_id, data.region_code, principal, pilots, on)
        if new_pilot
        else iter(())
    )
    broken = chain(
        _owner(data),
        _region(data, principal, pilots, on, new_region=new_region),
        membership,
        _industry(data),
        _fuel(data),
        _amounts_and_dates(data),
        _categories(data),
        _classifications(data),
        _benefits(data),
        places.location_problems(data.location, data.region_code),
    )
    return [field_error([*loc, *path], code, message) for path, code, message in broken]


def _owner(data: ProjectFields) -> Iterator[Broken]:
    if not uscc.is_valid(data.owner.uscc):
        message = "Not a valid unified social credit code (GB 32100)."
        yield ["owner", "uscc"], "invalid_uscc", message


def _region(
    data: ProjectFields, principal: Principal | None, pilots: Pilots, on: date, *, new_region: bool
) -> Iterator[Broken]:
    code = data.region_code
    region = region_table().get(code)
    if region is None:
        yield ["region_code"], "unknown_region", f"{code} is not a GB/T 2260 code."
    elif new_region and not region.is_current:
        yield ["region_code"], "region_abolished", _abolished(code)
    elif (
        principal is not None
        and not principal.is_admin
        and not principal.covers_region(code)
        and not pilot_membership.places(principal, data.pilot_id, code, pilots, on)
    ):
        yield ["region_code"], "region_out_of_scope", "The region lies outside the key's scope."


def _abolished(code: str) -> str:
    """Why ``code`` is refused for a new project, naming the codes that took over its area."""
    table = region_table()
    region = table.by_code[code]
    abolition = table.abolished.get(code)
    if abolition is None:
        return f"{code} ({region.name}) was abolished in {region.valid_to}; use a current code."
    names = []
    for successor in abolition.successors:
        name = f"{successor.code} ({table.by_code[successor.code].name})"
        names.append(f"{name} for {successor.part}" if successor.part else name)
    return f"{code} ({region.name}) was abolished on {abolition.on}; use {' or '.join(names)}."


def _industry(data: ProjectFields) -> Iterator[Broken]:
    problem = industry_code_problem(data.industry_code)
    if problem is not None:
        message = (
            f"{data.industry_code!r} is not a GB/T 4754-2017 class (a section letter, 4 digits, "
            "of an existing division)."
        )
        yield ["industry_code"], problem.value, message


def _fuel(data: ProjectFields) -> Iterator[Broken]:
    if data.fuel is None and fuel_required(data.industry_code):
        message = (
            f"A {data.industry_code} plant states its fuel (coal, gas, oil, biomass, waste or "
            "other): only coal-fired plants are 煤电 (两高)."
        )
        yield ["fuel"], "fuel_required", message


def _amounts_and_dates(data: ProjectFields) -> Iterator[Broken]:
    if data.financing_need > data.total_investment:
        yield ["financing_need"], "need_exceeds_investment", "financing_need > total_investment."
    if data.financing_secured > data.financing_need:
        yield ["financing_secured"], "secured_exceeds_need", "financing_secured > financing_need."
    if data.start_date and data.end_date and data.end_date < data.start_date:
        yield ["end_date"], "end_before_start", "end_date is before start_date."


def _categories(data: ProjectFields) -> Iterator[Broken]:
    objectives = category_objective()
    objective = data.objective
    for i, category in enumerate(data.categories):
        served = objectives[category.value]
        if objective is not Objective.both and served != objective.value:
            message = (
                f"{category.value} is a {served} category; the objective is {objective.value}."
            )
            yield ["categories", i], "category_objective_mismatch", message
    served_all = {objectives[c.value] for c in data.categories}
    if objective is Objective.both and served_all != {"mitigation", "adaptation"}:
        message = "A project serving both objectives needs a mitigation and an adaptation category."
        yield ["categories"], "category_objective_mismatch", message
    if len(set(data.categories)) != len(data.categories):
        yield ["categories"], "duplicate_category", "A category is listed twice."
    for i, code, parent in redundant_categories([c.value for c in data.categories]):
        message = f"{code} already implies {parent}: list one of them."
        yield ["categories", i], "redundant_category", message
    primary = data.primary_category
    if primary is not None and primary not in data.categories:
        message = f"{primary.value} is not one of the project's categories."
        yield ["primary_category"], "primary_category_not_listed", message
    if len(set(data.financing_types)) != len(data.financing_types):
        yield ["financing_types"], "duplicate_financing_type", "A financing type is listed twice."


def _classifications(data: ProjectFields) -> Iterator[Broken]:
    known = schemes()
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(data.classifications):
        if item.scheme not in known:
            message = f"Unknown classification scheme {item.scheme!r}; known: {', '.join(known)}."
            yield ["classifications", i, "scheme"], "unknown_classification_scheme", message
        elif item.code not in scheme_codes(item.scheme):
            message = f"{item.code!r} is not a code of {item.scheme} (as shipped)."
            yield ["classifications", i, "code"], "unknown_classification_code", message
        elif (item.scheme, item.code) in seen:
            message = f"{item.scheme} {item.code} is listed twice."
            yield ["classifications", i], "duplicate_classification", message
        seen.add((item.scheme, item.code))


def _benefits(data: ProjectFields) -> Iterator[Broken]:
    mitigation = data.objective in (Objective.mitigation, Objective.both)
    adaptation = data.objective in (Objective.adaptation, Objective.both)
    reduces = (data.annual_emission_reduction_tco2e or 0) > 0
    sinks = (data.annual_carbon_sink_tco2e or 0) > 0
    if mitigation and not (reduces or sinks):
        message = "A mitigation project states an annual emission reduction or carbon sink > 0."
        yield ["annual_emission_reduction_tco2e"], "missing_mitigation_benefit", message
    if adaptation and not (data.adaptation_benefit and data.adaptation_benefit.strip()):
        message = "An adaptation project states its adaptation benefit."
        yield ["adaptation_benefit"], "missing_adaptation_benefit", message


def ensure_valid(
    data: ProjectFields,
    principal: Principal | None,
    *,
    new_region: bool = True,
    new_pilot: bool = True,
    pilots: Pilots | None = None,
    created_on: date | None = None,
) -> None:
    """Raise every broken rule as one 422 ``validation_error`` problem."""
    errors = check(
        data,
        principal,
        new_region=new_region,
        new_pilot=new_pilot,
        pilots=pilots,
        created_on=created_on,
    )
    if errors:
        raise RuleViolation(
            f"The project breaks {len(errors)} rule(s).", code="validation_error", errors=errors
        )
