"""Turning the catalogue and a seeded random generator into API request bodies.

Nothing here talks to the service: given the same draws, each function returns the same body.
The driver calls them in a fixed order, so one seed always gives one sample; a change that adds,
drops or reorders a draw changes every sample after it.
"""

import math
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from stdnum.cn import uscc

from app.demo.catalogue import (
    BRANDS,
    CAPITALS,
    GIVEN,
    INSTITUTIONS,
    METHODOLOGY,
    OTHER_PLACES,
    STATUS_WEIGHTS,
    SURNAMES,
    TEMPLATES,
    VERIFIERS,
    WAN,
    ProductTemplate,
    ProjectTemplate,
)
from app.reference.classifications import GFC_2025, suggested
from app.reference.labels import category_label
from app.reference.provinces import province_of
from app.reference.regions import RegionLevel, region_table

# --- codes, money and dates -------------------------------------------------------------------


def org_code(stem: str) -> str:
    """A GB 11714 organisation code: 8 characters and their check character."""
    body = stem.rjust(8, "0")[:8]
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c, 36) * w for c, w in zip(body, weights, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(authority: str, region_code: str, stem: str) -> str:
    """A checksum-valid USCC: authority and kind (91 enterprise, 11 government, 12 institution,
    N2 village collective, 93 farmers' cooperative)."""
    base = authority + region_code + org_code(stem)
    return base + uscc.calc_check_digit(base)


def money(value: float) -> str:
    """Round to 万元 (at least one) and write as the API's decimal string."""
    return f"{max(1, round(value / WAN)) * WAN:.2f}"


def month_shift(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    return date(day.year + y, m + 1, min(day.day, 28))


def weighted_plan(weights: dict[str, int], n: int, rng: random.Random) -> list[str]:
    """n labels in proportion to weights, every label at least once when n allows, shuffled."""
    labels = list(weights)
    plan = labels[: min(n, len(labels))]
    rest = n - len(plan)
    total = sum(weights.values())
    quotas = {k: rest * w / total for k, w in weights.items()}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    for k in sorted(labels, key=lambda k: quotas[k] - counts[k], reverse=True)[
        : rest - sum(counts.values())
    ]:
        counts[k] += 1
    for k, c in counts.items():
        plan.extend([k] * c)
    rng.shuffle(plan)
    return plan


# --- places -----------------------------------------------------------------------------------


def place_name(code: str) -> str:
    region = region_table().get(code)
    return region.name if region is not None else ""


def city_of(code: str) -> str:
    """The prefecture's name, or the province's where the prefecture is a placeholder (市辖区)."""
    prefecture = place_name(code[:4] + "00")
    if prefecture and "直辖" not in prefecture and prefecture not in ("市辖区", "县"):
        return prefecture
    return place_name(code[:2] + "0000")


def short_place(name: str) -> str:
    for suffix in ("特别行政区", "自治州", "地区", "盟", "市", "区", "县", "省"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def counties_under(code: str) -> list[str]:
    """Current county-level codes at or below ``code`` (a county is its own single answer)."""
    table = region_table()
    region = table.get(code)
    if region is None or not region.is_current:
        return []
    if region.level is RegionLevel.county:
        return [code]
    out: list[str] = []
    for child in table.children.get(code, ()):
        out.extend(counties_under(child))
    return [c for c in out if place_name(c) != "市辖区"]


def place_pool(pilots: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """County codes inside pilots and elsewhere."""
    inside: set[str] = set()
    for pilot in pilots:
        for region in pilot["regions"]:
            if region.get("is_current", True):
                inside.update(counties_under(region["code"]))
    outside: set[str] = set()
    for code in OTHER_PLACES:
        outside.update(c for c in counties_under(code) if c not in inside)
    return sorted(inside), sorted(outside)


def partial_members(pilots: list[dict[str, Any]]) -> dict[str, str]:
    """County → pilot id, for the counties a pilot covers only in part (current codes): a demo
    project there says it is the pilot's, as a new area's projects would (a project belongs to a
    pilot by its pilot_id alone)."""
    out: dict[str, str] = {}
    for pilot in pilots:
        for region in pilot["regions"]:
            if region["coverage"] == "partial" and region.get("is_current", True):
                for county in counties_under(region["code"]):
                    out.setdefault(county, pilot["id"])
    return out


def plan_projects(
    pilots: list[dict[str, Any]], n: int, rng: random.Random
) -> list[tuple[str, str]]:
    """Each project's county (about two in three inside a pilot) and the status it should reach."""
    inside, outside = place_pool(pilots)
    places = [
        rng.choice(inside) if rng.random() < 0.65 or not outside else rng.choice(outside)
        for _ in range(n)
    ]
    return list(zip(places, weighted_plan(STATUS_WEIGHTS, n, rng), strict=True))


# --- institutions and products ----------------------------------------------------------------


def institution_body(index: int) -> dict[str, Any]:
    name, kind, region, stem = INSTITUTIONS[index]
    # Every other institution agreed to be named in open data (the IATI export).
    return {
        "name": name,
        "uscc": make_uscc("91", region, stem),
        "type": kind,
        "open_data_consent": index % 2 == 0,
    }


MARKER_USCC = institution_body(0)["uscc"]


def product_body(template: ProductTemplate, today: date) -> dict[str, Any]:
    """A product as its institution publishes it, valid from this year's start for four years."""
    body: dict[str, Any] = {
        "name": template.name,
        "type": template.type,
        "status": template.status,
        **template.criteria,
    }
    for money_field in ("amount_min", "amount_max"):
        if money_field in body:
            body[money_field] = f"{body[money_field]:.2f}"
    if template.rate:
        body["rate_min"], body["rate_max"] = template.rate
    if template.quota_wan:
        body["quota_total"] = f"{template.quota_wan * WAN:.2f}"
    body["valid_from"] = date(today.year, 1, 1).isoformat()
    body["valid_to"] = date(today.year + 3, 12, 31).isoformat()
    body["description"] = (
        f"{INSTITUTIONS[template.institution][0]}面向气候投融资项目库入库项目的{template.name}。"
    )
    return body


# --- projects ---------------------------------------------------------------------------------


def project_template(i: int, rng: random.Random) -> ProjectTemplate:
    """Every template once in order first, so even a small sample covers every category."""
    return TEMPLATES[i % len(TEMPLATES)] if i < len(TEMPLATES) else rng.choice(TEMPLATES)


def build_project(
    i: int, template: ProjectTemplate, code: str, rng: random.Random
) -> dict[str, Any]:
    """The ``i``-th project's body: ``template`` filled in for the county ``code``."""
    county = place_name(code)
    city = city_of(code)
    firm = short_place(city) + rng.choice(BRANDS)
    owner = _owner(i, template, code, county, city, firm, rng)
    total, total_s, need_s, secured_s = _financing(template, rng)
    status, start, end = _schedule(rng)
    categories = list(template.categories)
    types = _financing_types(template, rng)
    body: dict[str, Any] = {
        "external_ref": f"DEMO-{code}-{i + 1:04d}",
        "name": template.name.format(county=county, city=city, firm=firm),
        "summary": template.summary,
        "region_code": code,
        "owner": owner,
        "objective": _objective(categories),
        "categories": categories,
        "industry_code": rng.choice(template.industries),
        "nature": rng.choice(template.natures),
        "construction_status": status,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "total_investment": total_s,
        "financing_need": need_s,
        "financing_secured": secured_s,
        "financing_types": types,
        "tenor_months": rng.choice([24, 36, 60, 84, 120, 180]),
        "third_party_verified": rng.random() < 0.35,
        "disclosure_commitment": rng.random() < 0.7,
        "contact": _contact(i, rng),
    }
    if template.fuel is not None:
        body["fuel"] = template.fuel
    # Most owners' banks have filed the project under the green finance catalogue: the first
    # entry the crosswalk suggests for its first category (no draw, so the rest stays the same).
    if i % 5:
        code = suggested(GFC_2025, categories[0])[0]
        body["classifications"] = [{"scheme": GFC_2025, "code": code}]
    if body["third_party_verified"]:
        body["verifier"] = rng.choice(VERIFIERS)
    body |= _climate_benefits(template, categories, total, rng)
    # Open data (no draw, so the rest of the sample stays the same): every other project has a
    # place on the map, every third an English name and summary.
    if i % 2 == 0:
        body["location"] = demo_location(i, body["region_code"])
    if i % 3 == 0:
        body |= english_text(i, categories, body["region_code"])
    return body


def demo_location(i: int, code: str) -> dict[str, float]:
    """A point near the province's capital, a little apart for each project."""
    lat, lon = CAPITALS[code[:2]]
    return {
        "lat": round(lat + ((i * 37) % 21 - 10) / 200, 4),
        "lon": round(lon + ((i * 53) % 21 - 10) / 200, 4),
    }


def english_text(i: int, categories: list[str], code: str) -> dict[str, str]:
    province = province_of(code)
    where = f" in {province.name_en}" if province else ""
    kind = category_label(categories[0], "en")
    return {
        "name_en": f"{kind[0].upper()}{kind[1:]} project{where} (demo {i + 1})",
        "summary_en": "A demonstration project: "
        + "; ".join(category_label(c, "en") for c in categories)
        + ".",
    }


def _owner(
    i: int,
    template: ProjectTemplate,
    code: str,
    county: str,
    city: str,
    firm: str,
    rng: random.Random,
) -> dict[str, str]:
    stem = f"{i + 1:07d}"
    if template.owner == "government":
        name = f"{county}{template.owner_suffix}"
        return {
            "name": name if city == county else city + name,
            "uscc": make_uscc("11", code, stem),
            "type": "government",
        }
    if template.owner == "public":
        return {
            "name": f"{city}{template.owner_suffix}",
            "uscc": make_uscc("12", code, stem),
            "type": "public_institution",
        }
    if template.owner == "collective":
        # A 村级 农村集体经济组织, registered by the agriculture authorities (N2).
        return {
            "name": f"{county}{template.owner_suffix}",
            "uscc": make_uscc("N2", code, stem),
            "type": "collective",
        }
    if template.owner == "cooperative":
        # A 农民专业合作社, registered by market regulation (93).
        return {
            "name": f"{county}{template.owner_suffix}",
            "uscc": make_uscc("93", code, stem),
            "type": "cooperative",
        }
    firm_owner = template.owner == "firm"
    prefix = firm if firm_owner else short_place(city) + "市" + rng.choice(BRANDS)
    return {
        "name": prefix + template.owner_suffix,
        "uscc": make_uscc("91", code, stem),
        "type": "private" if firm_owner else "state_owned",
    }


def _financing(template: ProjectTemplate, rng: random.Random) -> tuple[float, str, str, str]:
    """Total investment (as drawn, and as written), financing need and financing secured."""
    total = template.median_wan * WAN * rng.lognormvariate(0, 0.9)
    total = min(max(total, 50 * WAN), 2_000_000 * WAN)
    total_s = money(total)
    need = Decimal(total_s) * Decimal(str(round(rng.uniform(0.4, 0.85), 2)))
    need_s = money(float(need))
    secured_s = "0.00" if rng.random() < 0.65 else money(float(need) * rng.uniform(0.05, 0.4))
    if Decimal(secured_s) > Decimal(need_s):
        secured_s = "0.00"
    return total, total_s, need_s, secured_s


def _schedule(rng: random.Random) -> tuple[str, date, date]:
    """Construction status and the start and end dates that fit it, around today."""
    status = rng.choices(
        ["planning", "approved", "under_construction", "operational"], weights=[3, 4, 4, 2]
    )[0]
    today = datetime.now(UTC).date()
    # Every status's start is drawn, whichever is kept: the draws stay the same for a seed.
    start = {
        "planning": month_shift(today, rng.randint(6, 18)),
        "approved": month_shift(today, rng.randint(1, 6)),
        "under_construction": month_shift(today, -rng.randint(1, 18)),
        "operational": month_shift(today, -rng.randint(24, 48)),
    }[status]
    end = month_shift(start, rng.randint(12, 30) if status != "operational" else 18)
    return status, start, end


def _objective(categories: list[str]) -> str:
    mitigation = any(c.startswith("M") for c in categories)
    adaptation = any(c.startswith("A") for c in categories)
    if mitigation and adaptation:
        return "both"
    return "mitigation" if mitigation else "adaptation"


def _financing_types(template: ProjectTemplate, rng: random.Random) -> list[str]:
    types = rng.sample(list(template.financing), k=rng.randint(1, len(template.financing)))
    if "loan" in template.financing and "loan" not in types and rng.random() < 0.7:
        types.append("loan")
    return types


def _contact(i: int, rng: random.Random) -> dict[str, str]:
    return {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN]),
        "phone": f"1{rng.choice('3589')}{rng.randint(0, 999999999):09d}",
        "email": f"contact{i + 1:04d}@example.cn",
    }


def _climate_benefits(
    template: ProjectTemplate, categories: list[str], total: float, rng: random.Random
) -> dict[str, Any]:
    """Emission reduction (or sink) for mitigation, people served for adaptation."""
    fields: dict[str, Any] = {}
    if any(c.startswith("M") for c in categories):
        amount = round(total / WAN * template.tco2e_per_wan * rng.lognormvariate(0, 0.4), 1)
        amount = max(amount, 10.0)
        key = (
            "annual_carbon_sink_tco2e" if "M6" in categories else "annual_emission_reduction_tco2e"
        )
        fields[key] = amount
        if "M3" in categories:
            fields["annual_energy_saving_tce"] = round(amount / 2.6, 1)
        first_m = next(c for c in categories if c.startswith("M"))
        fields["accounting_methodology"] = METHODOLOGY[first_m.split(".")[0]]
    if any(c.startswith("A") for c in categories):
        people = int(rng.lognormvariate(math.log(30_000), 1.0))
        fields["adaptation_beneficiaries"] = people
        fields["adaptation_benefit"] = (template.benefit or "提升气候适应能力，惠及{n}人。").format(
            n=f"{people:,}"
        )
    return fields


# --- offers -----------------------------------------------------------------------------------


def offer_body(product: dict[str, Any], card: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """An indicative offer of ``product`` on the project ``card``: part of its remaining need, at
    a rate within the product's range."""
    remaining = Decimal(card["remaining_need"])
    share = Decimal(str(round(rng.uniform(0.3, 1.0), 2)))
    amount = max(Decimal(WAN), (remaining * share / WAN).quantize(Decimal(1)) * WAN)
    amount = min(amount, remaining)
    low = Decimal(product["rate_min"] or "3.0")
    high = Decimal(product["rate_max"] or "6.0")
    rate = low + (high - low) * Decimal(str(round(rng.random(), 2)))
    return {
        "project_id": card["id"],
        "product_id": product["id"],
        "amount": f"{amount:.2f}",
        "annual_rate": f"{rate:.3f}",
        "tenor_months": card["tenor_months"] or 36,
        "message": f"{product['name']}：指示性条款，可根据尽职调查结果调整。",
    }
