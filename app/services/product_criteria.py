"""The rules on a product's criteria fields, shared by saved products and unsaved previews:
ranges ordered, known region codes and catalogue codes, no category beside its own parent, not
all weights zero, quota not below its use."""

from typing import Any

from app.errors import FieldError, RuleViolation, field_error
from app.reference.classifications import GFC_2025, scheme_codes
from app.reference.regions import region_table
from app.reference.taxonomy import redundant_categories
from app.schemas.product import CriteriaFields
from app.services.matching.criteria import DEFAULT_WEIGHTS

_ORDERED_PAIRS = (
    ("amount_min", "amount_max", "amount_range_order"),
    ("tenor_min_months", "tenor_max_months", "tenor_range_order"),
    ("rate_min", "rate_max", "rate_range_order"),
    ("valid_from", "valid_to", "validity_order"),
)


def check_criteria(values: dict[str, Any]) -> None:
    """Rules across fields (ranges ordered, known region codes, weights); 422 listing each."""
    errors: list[FieldError] = []
    for low, high, code in _ORDERED_PAIRS:
        lo, hi = values.get(low), values.get(high)
        if lo is not None and hi is not None and lo > hi:
            errors.append(field_error(["body", low], code, f"{low} must not exceed {high}."))
    table = region_table()
    for i, prefix in enumerate(values.get("region_prefixes") or ()):
        if table.get(prefix.ljust(6, "0")) is None:
            errors.append(
                field_error(
                    ["body", "region_prefixes", i],
                    "unknown_region",
                    f"{prefix} is not the prefix of a GB/T 2260 region.",
                )
            )
    for i, code, parent in redundant_categories(list(values.get("categories") or ())):
        message = f"{code} is accepted with {parent} already: list one of them."
        errors.append(field_error(["body", "categories", i], "redundant_category", message))
    known = scheme_codes(GFC_2025)
    for i, code in enumerate(values.get("gfc_codes") or ()):
        if code not in known:
            message = f"{code!r} is not a code of {GFC_2025} (as shipped)."
            errors.append(
                field_error(["body", "gfc_codes", i], "unknown_classification_code", message)
            )
    weights = values.get("weights")
    # Weights left out keep their default points, so only the merged set can be all zero.
    if weights is not None and sum({**DEFAULT_WEIGHTS, **weights}.values()) <= 0:
        errors.append(
            field_error(["body", "weights"], "weights_all_zero", "At least one weight must be > 0.")
        )
    quota, used = values.get("quota_total"), values.get("quota_used")
    if quota is not None and used is not None and quota < used:
        errors.append(
            field_error(
                ["body", "quota_total"], "quota_below_used", "quota_total is below quota_used."
            )
        )
    if errors:
        raise RuleViolation(
            "; ".join(e.message for e in errors), code=errors[0].code, errors=errors
        )


def criteria_values(body: CriteriaFields, fields: set[str] | None = None) -> dict[str, Any]:
    """The body's values as model attributes: duplicates removed, defaults for cleared flags."""
    # The deprecated alias has been moved onto its new name by the schema.
    data = body.model_dump(include=fields, exclude={"accepts_two_high_retrofit"})
    for key in (
        "objectives",
        "categories",
        "gfc_codes",
        "region_prefixes",
        "construction_statuses",
    ):
        if data.get(key) is not None:
            data[key] = sorted({str(v) for v in data[key]})
    if "requires_verification" in data and data["requires_verification"] is None:
        data["requires_verification"] = False
    if "requires_verified_results" in data and data["requires_verified_results"] is None:
        data["requires_verified_results"] = False
    if "accepts_two_high_transition" in data and data["accepts_two_high_transition"] is None:
        data["accepts_two_high_transition"] = True
    return data
