"""The project rules of DESIGN §4, callable without HTTP (the batch upsert reuses them).

``check`` returns every broken rule at once, each with its own code and the offending field's
location; ``ensure_valid`` raises them as one 422.
"""

from collections.abc import Sequence

from stdnum.cn import uscc

from app.auth import Principal
from app.errors import FieldError, RuleViolation, field_error
from app.models.project import Objective
from app.reference.industries import industry_code_problem
from app.reference.regions import region_table
from app.reference.taxonomy import category_objective
from app.schemas.project import ProjectFields

Loc = Sequence[str | int]


def check(
    data: ProjectFields,
    principal: Principal | None,
    *,
    loc: Loc = ("body",),
    new_region: bool = True,
) -> list[FieldError]:
    """Every rule ``data`` breaks. ``new_region``: the region code must also be current."""
    base = list(loc)
    errors: list[FieldError] = []

    def err(path: Loc, code: str, message: str) -> None:
        errors.append(field_error([*base, *path], code, message))

    if not uscc.is_valid(data.owner.uscc):
        err(["owner", "uscc"], "invalid_uscc", "Not a valid unified social credit code (GB 32100).")

    region = region_table().get(data.region_code)
    if region is None:
        err(["region_code"], "unknown_region", f"{data.region_code} is not a GB/T 2260 code.")
    elif new_region and not region.is_current:
        err(
            ["region_code"],
            "retired_region",
            f"{data.region_code} ({region.name}) is no longer a current code.",
        )
    elif (
        principal is not None
        and not principal.is_admin
        and not principal.covers_region(data.region_code)
    ):
        err(["region_code"], "region_out_of_scope", "The region lies outside the key's scope.")

    problem = industry_code_problem(data.industry_code)
    if problem is not None:
        err(
            ["industry_code"],
            problem.value,
            f"{data.industry_code!r} is not a GB/T 4754-2017 class (a section letter, 4 digits, "
            "of an existing division).",
        )

    if data.financing_need > data.total_investment:
        err(["financing_need"], "need_exceeds_investment", "financing_need > total_investment.")
    if data.financing_secured > data.financing_need:
        err(["financing_secured"], "secured_exceeds_need", "financing_secured > financing_need.")
    if data.start_date and data.end_date and data.end_date < data.start_date:
        err(["end_date"], "end_before_start", "end_date is before start_date.")

    objectives = category_objective()
    mitigation = data.objective in (Objective.mitigation, Objective.both)
    adaptation = data.objective in (Objective.adaptation, Objective.both)
    for i, category in enumerate(data.categories):
        served = objectives[category.value]
        if data.objective is not Objective.both and served != data.objective.value:
            err(
                ["categories", i],
                "category_objective_mismatch",
                f"{category.value} is a {served} category; "
                f"the objective is {data.objective.value}.",
            )
    if data.objective is Objective.both:
        served_all = {objectives[c.value] for c in data.categories}
        if served_all != {"mitigation", "adaptation"}:
            err(
                ["categories"],
                "category_objective_mismatch",
                "A project serving both objectives needs a mitigation and an adaptation category.",
            )
    if len(set(data.categories)) != len(data.categories):
        err(["categories"], "duplicate_category", "A category is listed twice.")
    if len(set(data.financing_types)) != len(data.financing_types):
        err(["financing_types"], "duplicate_financing_type", "A financing type is listed twice.")

    if mitigation and not (
        (data.annual_emission_reduction_tco2e or 0) > 0 or (data.annual_carbon_sink_tco2e or 0) > 0
    ):
        err(
            ["annual_emission_reduction_tco2e"],
            "missing_mitigation_benefit",
            "A mitigation project states an annual emission reduction or carbon sink > 0.",
        )
    if adaptation and not (data.adaptation_benefit and data.adaptation_benefit.strip()):
        err(
            ["adaptation_benefit"],
            "missing_adaptation_benefit",
            "An adaptation project states its adaptation benefit.",
        )
    return errors


def ensure_valid(
    data: ProjectFields, principal: Principal | None, *, new_region: bool = True
) -> None:
    """Raise every broken rule as one 422 ``validation_error`` problem."""
    errors = check(data, principal, new_region=new_region)
    if errors:
        raise RuleViolation(
            f"The project breaks {len(errors)} rule(s).", code="validation_error", errors=errors
        )
