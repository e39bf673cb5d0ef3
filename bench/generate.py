"""A realistic national library, written straight into a migrated database.

``python -m bench.generate --url postgresql://postgres@127.0.0.1/db --projects 100000``

- Projects spread over current GB/T 2260 codes, a third of them in the first-batch pilots and the
  rest weighted toward the large provinces; objective → categories consistent with the taxonomy;
  mostly ``in_library`` (the share is a parameter); sizes log-normal (many small, a few very large);
  money exact to the fen (Decimal, 2 places); a few 两高 retrofits under M3.
- Institutions (a few hundred) and products (2,000 active). The products table belongs to another
  issue: ``write_products`` fills whatever columns the model declares that it recognises by name,
  and skips cleanly (saying why) when the table or a required column is unknown to it.

Streaming, with bounded memory at any scale: PostgreSQL rows go in with asyncpg's binary COPY and
SQLite rows with executemany, ``CHUNK`` rows per COPY or transaction (see ``generate``).
The same rows can be rendered as API items (``api_item``) for the batch-import benchmark.
"""

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from stdnum.cn import uscc as uscc_module

from app.models import Base, Institution, LibrarySequence, Project
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.reference.regions import RegionLevel, region_table
from app.reference.taxonomy import taxonomy_version
from app.services.screening import fuel_required, screen

# The first batch of pilots (环气候函〔2022〕50号) by the codes they cover (REFERENCE.md).
PILOT_CODES: tuple[tuple[str, ...], ...] = (
    ("110118",),
    ("110112",),
    ("130600",),
    ("140100",),
    ("140400",),
    ("150200",),
    ("210900",),
    ("210213", "210214"),
    ("310115",),
    ("331100",),
    ("341100",),
    ("350400",),
    ("370211",),
    ("411500",),
    ("420106",),
    ("430300",),
    ("440115",),
    ("440304",),
    ("450200",),
    ("500105", "500112", "500109", "500157"),
    ("510116", "510112", "510118", "510185", "511403", "511421"),
    ("610402", "610404", "610423", "610481", "610112", "610116", "610118"),
    ("620100",),
)
# Relative weight of a province outside the pilots (large economies push more projects).
PROVINCE_WEIGHTS = {"44": 6, "32": 5, "33": 5, "37": 4, "51": 3, "41": 3, "42": 3, "35": 3}

EXIT_REASONS = ("completed", "financing_fulfilled", "cancelled", "non_compliant")
TAXONOMY_VERSION = taxonomy_version()
STATUS_WEIGHTS_REST = {
    "submitted": 25,
    "recommended": 15,
    "draft": 25,
    "returned": 10,
    "rejected": 8,
    "withdrawn": 5,
    "exited": 12,
}
MITIGATION = ("M1", "M2", "M3", "M4", "M5", "M6")
ADAPTATION = ("A1", "A2", "A3", "A4", "A5", "A6", "A7")
CATEGORY_WEIGHTS = {
    "M1": 10, "M2": 30, "M3": 25, "M4": 2, "M5": 8, "M6": 6,
    "A1": 5, "A2": 6, "A3": 5, "A4": 2, "A5": 1, "A6": 4, "A7": 4,
}  # fmt: skip
# GB/T 4754-2017 classes typical of each category.
INDUSTRIES = {
    "M1": ("C3841", "C3612", "C3825", "C3562"),
    "M2": ("D4415", "D4416", "D4413", "D4417", "D4414"),
    "M3": ("D4430", "E4710", "C3110", "C3011", "D4412"),
    "M4": ("D4411", "B0710", "C2511"),
    "M5": ("N7723", "N7820", "N7721", "A0311"),
    "M6": ("A0220", "A0230", "A0211"),
    "A1": ("A0111", "A0190", "A0511"),
    "A2": ("N7610", "D4610", "N7620"),
    "A3": ("A0230", "N7712", "N7711"),
    "A4": ("E4823", "N7712"),
    "A5": ("M7410",),
    "A6": ("N7610", "M7410", "E4852"),
    "A7": ("E4813", "M7320", "E4819"),
}
TWO_HIGH_RETROFIT_INDUSTRIES = ("C3110", "C3011", "D4411")
CATEGORY_WORDS = {
    "M1": "新能源装备制造", "M2": "光伏风电", "M3": "节能降碳改造", "M4": "碳捕集利用与封存",
    "M5": "废弃物资源化", "M6": "森林碳汇", "A1": "气候智慧农业", "A2": "水资源保障",
    "A3": "生态修复", "A4": "海岸带防护", "A5": "气象监测预警", "A6": "防灾减灾",
    "A7": "韧性基础设施",
}  # fmt: skip
OWNER_TYPES = ("state_owned", "private", "private", "private", "public_institution", "government")
NATURES = ("new_build", "new_build", "expansion", "retrofit", "operation", "other")
CONSTRUCTION = ("planning", "approved", "under_construction", "operational")
TENORS = (12, 24, 36, 60, 84, 120, 180, 240)
INSTITUTION_TYPES = ("bank",) * 6 + (
    "insurer",
    "fund",
    "guarantee",
    "leasing",
    "trust",
    "securities",
)
BANK_NAMES = ("工商银行", "农业银行", "中国银行", "建设银行", "交通银行", "兴业银行", "浦发银行",
              "招商银行", "民生银行", "国家开发银行", "农商银行", "城市商业银行")  # fmt: skip
PRODUCT_TYPES = {
    "green_loan": "loan", "carbon_pledge_loan": "carbon_pledge", "carbon_insurance": "insurance",
    "climate_insurance": "insurance", "carbon_fund": "fund", "green_bond": "bond",
    "sustainability_linked_loan": "loan", "transition_loan": "loan", "guarantee": "guarantee",
    "leasing": "leasing", "equity": "equity",
}  # fmt: skip
PROJECTS = cast(sa.Table, Project.__table__)
INSTITUTIONS = cast(sa.Table, Institution.__table__)
LIBRARY_SEQUENCES = cast(sa.Table, LibrarySequence.__table__)
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    projects: int = 100_000
    institutions: int = 300
    products: int = 2_000
    in_library_share: float = 0.8
    seed: int = 2026


def cents(value: float) -> Decimal:
    return Decimal(round(value * 100)).scaleb(-2)


_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def v7_id(created: datetime, bits: int) -> uuid.UUID:
    """The id the service would have minted (``app.ids.new_id``, UUIDv7) for a row made at
    ``created``: its millisecond leads, 74 of ``bits`` (the seed's draw) fill the rest, so ids
    are time-ordered like the service's and the same per seed."""
    ms = (created - _UNIX_EPOCH) // _MS
    rand_a = (bits >> 62) & 0xFFF
    rand_b = bits & ((1 << 62) - 1)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def make_uscc(rng: random.Random, region_code: str) -> str:
    body = "91" + region_code + "".join(rng.choice(USCC_CHARS[:10] + "ABCDEFGH") for _ in range(9))
    return body + str(uscc_module.calc_check_digit(body))


class RegionPicker:
    """Current region codes, a third of the draws in pilots, the rest weighted by province."""

    def __init__(self, rng: random.Random) -> None:
        table = region_table()
        self.rng = rng
        self.names = {code: r.name for code, r in table.by_code.items()}
        current = [r for r in table.by_code.values() if r.is_current]
        counties: dict[str, list[str]] = {}
        for r in current:
            if r.level is RegionLevel.county:
                counties.setdefault(r.code[:2], []).append(r.code)
        self.by_province = {p: sorted(codes) for p, codes in counties.items() if codes}
        self.provinces = sorted(self.by_province)
        self.province_weights = [PROVINCE_WEIGHTS.get(p, 1) for p in self.provinces]
        self.pilots: list[list[str]] = []
        for codes in PILOT_CODES:
            expanded: list[str] = []
            for code in codes:
                if not table.is_current(code):
                    continue
                children = [c for c in table.children.get(code, ()) if table.is_current(c)]
                expanded.extend(children or [code])
            if expanded:
                self.pilots.append(expanded)

    def pick(self) -> str:
        if self.rng.random() < 1 / 3:
            return self.rng.choice(self.rng.choice(self.pilots))
        province = self.rng.choices(self.provinces, self.province_weights)[0]
        return self.rng.choice(self.by_province[province])

    def name(self, code: str) -> str:
        province = self.names.get(code[:2] + "0000", "")
        own = self.names.get(code, "")
        return own if own.startswith(province) else province + own


def _status(rng: random.Random, in_library_share: float) -> str:
    if rng.random() < in_library_share:
        return "in_library"
    return rng.choices(list(STATUS_WEIGHTS_REST), list(STATUS_WEIGHTS_REST.values()))[0]


def _categories(rng: random.Random) -> tuple[str, list[str]]:
    first = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
    pool = MITIGATION if first in MITIGATION else ADAPTATION
    objective = "mitigation" if first in MITIGATION else "adaptation"
    codes = {first}
    roll = rng.random()
    if roll < 0.15:
        other = ADAPTATION if first in MITIGATION else MITIGATION
        codes.add(rng.choice(other))
        objective = "both"
    elif roll < 0.35:
        codes.add(rng.choice(pool))
    return objective, [c for c in CATEGORIES.codes if c in codes]


def project_rows(spec: Spec, rng: random.Random | None = None) -> Iterator[dict[str, Any]]:
    """Rows of the ``projects`` table (column name → Python value), deterministic per seed."""
    rng = rng or random.Random(spec.seed)
    regions = RegionPicker(rng)
    span = (NOW - EPOCH).total_seconds()
    for i in range(spec.projects):
        region_code = regions.pick()
        objective, categories = _categories(rng)
        first = categories[0]
        industry = rng.choice(INDUSTRIES[first])
        nature = rng.choice(NATURES)
        two_high_retrofit = first == "M3" and rng.random() < 0.06
        if two_high_retrofit:
            industry = rng.choice(TWO_HIGH_RETROFIT_INDUSTRIES)
            nature = "retrofit"
        # Thermal plants state their fuel; the generated ones burn coal.
        fuel = "coal" if fuel_required(industry) else None
        screening = screen(industry, nature, categories, fuel)
        # Log-normal: median about 60 million CNY, a long tail of multi-billion projects.
        total = min(max(rng.lognormvariate(17.9, 1.5), 500_000.0), 80_000_000_000.0)
        need = total * rng.uniform(0.2, 0.85)
        secured = 0.0 if rng.random() < 0.6 else need * rng.uniform(0.0, 0.7)
        total_d, need_d = cents(total), cents(need)
        need_d = min(need_d, total_d)
        secured_d = min(cents(secured), need_d)
        mitigating = objective in ("mitigation", "both")
        adapting = objective in ("adaptation", "both")
        reduction = sink = None
        if mitigating:
            if "M6" in categories:
                sink = round(total / 10_000 * rng.uniform(0.05, 0.6), 1)
            else:
                reduction = round(total / 10_000 * rng.uniform(0.02, 1.2), 1)
        status = _status(rng, spec.in_library_share)
        created = EPOCH + timedelta(seconds=rng.random() * span * 0.97)
        approved = None
        if status in ("in_library", "exited"):
            approved = min(created + timedelta(days=rng.uniform(10, 90)), NOW)
        updated = min((approved or created) + timedelta(days=rng.expovariate(1 / 30)), NOW)
        start = (created + timedelta(days=rng.randint(0, 365))).date()
        types = {"loan"} if rng.random() < 0.8 else set()
        types.update(rng.sample(FINANCING_TYPES.codes, rng.choice((0, 1, 1, 2))))
        if not types:
            types = {"loan"}
        place = regions.name(region_code)
        word = CATEGORY_WORDS[first]
        benefit = "减排" if mitigating else "适应"
        yield {
            "id": v7_id(created, rng.getrandbits(128)),
            "external_ref": f"BENCH-{i:07d}",
            "source_scope": region_code[:4] + "00" if region_code[4:] != "00" else region_code,
            "name": f"{place}{word}项目（第{i % 97 + 1}期）",
            "summary": f"{place}{word}：总投资{total_d}元，{benefit}效益显著。",
            "region_code": region_code,
            "owner_name": f"{place}{word}投资有限公司",
            "owner_uscc": make_uscc(rng, region_code),
            "owner_type": rng.choice(OWNER_TYPES),
            "objective": objective,
            "categories_mask": CATEGORIES.mask(categories),
            "industry_code": industry,
            "nature": nature,
            "construction_status": rng.choice(CONSTRUCTION),
            "start_date": start,
            "end_date": start + timedelta(days=rng.randint(180, 3650)),
            "total_investment": total_d,
            "financing_need": need_d,
            "financing_secured": secured_d,
            "financing_types_mask": FINANCING_TYPES.mask(types),
            "tenor_months": rng.choice(TENORS),
            "annual_emission_reduction_tco2e": reduction,
            "annual_energy_saving_tce": round(reduction * 0.4, 1) if reduction else None,
            "annual_carbon_sink_tco2e": sink,
            "adaptation_beneficiaries": rng.randint(500, 500_000) if adapting else None,
            "adaptation_benefit": "降低极端天气损失，提升区域气候韧性。" if adapting else None,
            "accounting_methodology": "CCER 方法学" if mitigating else None,
            "baseline": "现行能源结构基准线" if mitigating else None,
            "third_party_verified": rng.random() < 0.35,
            "verifier": "第三方核查机构" if rng.random() < 0.35 else None,
            "disclosure_commitment": rng.random() < 0.7,
            "contact_name": "张工",
            "contact_phone": f"138{rng.randint(0, 99_999_999):08d}",
            "contact_email": f"contact{i}@example.cn",
            "status": status,
            # Exits spread over the reasons, so the figures' benefit rule (cancelled and
            # non-compliant exits count no benefit) has something to leave out.
            "exit_reason": EXIT_REASONS[i % len(EXIT_REASONS)] if status == "exited" else None,
            "pilot_id": None,
            "primary_category": first,
            "classifications": [],
            "taxonomy_version": TAXONOMY_VERSION,
            # The service's own screening, so stored reasons have the shape the API reads.
            "fuel": fuel,
            "capacity_replacement": False,
            "is_two_high": screening.is_two_high,
            "two_high_outcome": screening.outcome.value,
            "screening": screening.as_json(),
            "library_code": None,  # assigned per region and year below
            "approved_at": approved,
            # Columns of the open-data and results (MRV) revisions, as a new project has them.
            "name_en": None,
            "summary_en": None,
            "location_lat": None,
            "location_lon": None,
            "verified_emission_reduction_tco2e": Decimal(0),
            "verified_carbon_sink_tco2e": Decimal(0),
            "verified_energy_saving_tce": Decimal(0),
            "verified_credited_tco2e": Decimal(0),
            "verified_adaptation_beneficiaries": 0,
            "verified_reports": 0,
            "verified_days": 0,
            "version": 1,
            "created_by": None,
            "created_at": created,
            "updated_at": updated,
        }


def api_item(row: dict[str, Any], external_ref: str | None = None) -> dict[str, Any]:
    """The same project as a region pushes it through the API."""

    def money(value: Decimal) -> str:
        return f"{value:.2f}"

    item = {
        "external_ref": external_ref or row["external_ref"],
        "name": row["name"],
        "summary": row["summary"],
        "region_code": row["region_code"],
        "owner": {"name": row["owner_name"], "uscc": row["owner_uscc"], "type": row["owner_type"]},
        "objective": row["objective"],
        "categories": CATEGORIES.decode(row["categories_mask"]),
        "industry_code": row["industry_code"],
        "fuel": row["fuel"],
        "nature": row["nature"],
        "construction_status": row["construction_status"],
        "start_date": row["start_date"].isoformat(),
        "end_date": row["end_date"].isoformat(),
        "total_investment": money(row["total_investment"]),
        "financing_need": money(row["financing_need"]),
        "financing_secured": money(row["financing_secured"]),
        "financing_types": FINANCING_TYPES.decode(row["financing_types_mask"]),
        "tenor_months": row["tenor_months"],
        "annual_emission_reduction_tco2e": row["annual_emission_reduction_tco2e"],
        "annual_energy_saving_tce": row["annual_energy_saving_tce"],
        "annual_carbon_sink_tco2e": row["annual_carbon_sink_tco2e"],
        "adaptation_beneficiaries": row["adaptation_beneficiaries"],
        "adaptation_benefit": row["adaptation_benefit"],
        "accounting_methodology": row["accounting_methodology"],
        "baseline": row["baseline"],
        "third_party_verified": row["third_party_verified"],
        "verifier": row["verifier"],
        "disclosure_commitment": row["disclosure_commitment"],
        "contact": {
            "name": row["contact_name"],
            "phone": row["contact_phone"],
            "email": row["contact_email"],
        },
    }
    return {k: v for k, v in item.items() if v is not None}


def institution_rows(spec: Spec, rng: random.Random) -> list[dict[str, Any]]:
    regions = RegionPicker(rng)
    rows = []
    seen: set[str] = set()
    for i in range(spec.institutions):
        kind = rng.choice(INSTITUTION_TYPES)
        code = regions.pick()
        place = regions.name(code[:4] + "00") or regions.name(code)
        brand = rng.choice(BANK_NAMES) if kind == "bank" else f"绿色{kind}"
        uscc = make_uscc(rng, code)
        while uscc in seen:
            uscc = make_uscc(rng, code)
        seen.add(uscc)
        # The id's bits are drawn where a UUID4's were, so every other field is as before.
        bits = rng.getrandbits(128)
        created = EPOCH + timedelta(days=rng.randint(0, 300))
        rows.append(
            {
                "id": v7_id(created, bits),
                "name": f"{brand}{place}分支机构{i + 1}",
                "uscc": uscc,
                "type": kind,
                "created_at": created,
            }
        )
    return rows


# --- products (pluggable: the table belongs to issue 4) ------------------------------------------


class ProductsSkipped(Exception):
    """The products table is absent or has a required column this generator does not know."""


def _product_values(
    rng: random.Random, institution_id: uuid.UUID, regions: RegionPicker, i: int
) -> dict[str, Any]:
    """Logical product fields, before they are fitted to the actual columns."""
    ptype = rng.choice(list(PRODUCT_TYPES))
    amount_min = cents(rng.choice((0, 1e6, 5e6, 1e7, 5e7)))
    amount_max = cents(float(amount_min) * rng.choice((10, 50, 200, 1000)) + 1e7)
    objective_roll = rng.random()
    # A product for one objective also takes "both" projects; an empty list takes every project.
    objectives = (
        ["mitigation"] if objective_roll < 0.5 else ["adaptation"] if objective_roll < 0.65 else []
    )
    pool = MITIGATION if objectives[:1] == ["mitigation"] else ADAPTATION
    categories = sorted(rng.sample(pool, rng.randint(1, 3))) if objectives else []
    prefixes: list[str] = []
    if rng.random() < 0.7:
        prefixes = [regions.pick()[: rng.choice((2, 2, 4))]]
    tenor_min = rng.choice((0, 12, 12, 24))
    rate_min = round(rng.uniform(2.2, 3.6), 2)
    bits = rng.getrandbits(128)  # the id's, drawn where a UUID4's were: other fields as before
    values: dict[str, Any] = {
        "id": None,  # minted from created_at below
        "institution_id": institution_id,
        "name": f"{CATEGORY_WORDS[categories[0]] if categories else '绿色'}{ptype}产品{i + 1}",
        "description": "面向入库气候项目的金融产品。",
        "type": ptype,
        "status": "active",
        "valid_from": date(2025, 1, 1),
        "valid_to": date(2028, 12, 31),
        "quota_total": cents(rng.choice((1e8, 5e8, 1e9, 5e9))),
        "quota_used": Decimal("0.00"),
        "objectives": objectives,
        "categories": categories,
        "region_prefixes": prefixes,
        "amount_min": amount_min,
        "amount_max": amount_max,
        "tenor_min_months": tenor_min,
        "tenor_max_months": tenor_min + rng.choice((36, 60, 120, 240)),
        "construction_statuses": sorted(rng.sample(CONSTRUCTION, rng.randint(2, 4))),
        "min_emission_reduction_tco2e": rng.choice((None, None, 100.0, 1000.0)),
        "requires_verification": rng.random() < 0.2,
        "accepts_two_high_transition": rng.random() < 0.3,
        "rate_min": Decimal(str(rate_min)),
        "rate_max": Decimal(str(round(rate_min + rng.uniform(0.3, 2.0), 2))),
        "weights": None,
        "version": 1,
        "created_at": NOW - timedelta(days=rng.randint(1, 600)),
        "updated_at": NOW - timedelta(days=rng.randint(0, 30)),
    }
    values["id"] = v7_id(values["created_at"], bits)
    return values


def _fit(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """Map logical product fields onto the table's columns (masks, JSON lists, plain values)."""
    from app.models import flags

    row: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        base = name.removesuffix("_mask")
        if base in values and isinstance(values[base], list):
            if name.endswith("_mask") or isinstance(column.type, sa.Integer):
                flagset = getattr(flags, base.upper(), None)
                if flagset is None:
                    raise ProductsSkipped(f"products.{name}: no FlagSet {base.upper()} in flags.py")
                row[name] = flagset.mask(values[base])
            else:
                row[name] = values[base]
            continue
        if name in values:
            if values[name] is None and not column.nullable and column.default is None:
                continue
            row[name] = values[name]
            continue
        required = not column.nullable and column.default is None and column.server_default is None
        if required:
            raise ProductsSkipped(f"products.{name} is required and unknown to bench/generate.py")
    return row


def product_rows(
    table: sa.Table, spec: Spec, institution_ids: Sequence[uuid.UUID], rng: random.Random
) -> list[dict[str, Any]]:
    regions = RegionPicker(rng)
    owners = itertools.cycle(institution_ids)
    return [
        _fit(table, _product_values(rng, next(owners), regions, i)) for i in range(spec.products)
    ]


def products_table(connection: sa.Connection) -> sa.Table:
    """The app's products table, if both the model and the migrated table exist."""
    import app.models  # noqa: F401 - registers every model's table

    table = Base.metadata.tables.get("products")
    if table is None:
        raise ProductsSkipped("no products model in app.models yet")
    if not sa.inspect(connection).has_table("products"):
        raise ProductsSkipped("no products table in the database yet")
    return table


# Writes the products and returns their ids; raises ProductsSkipped to skip them cleanly.
ProductWriter = Callable[[sa.Connection, Spec, Sequence[uuid.UUID], random.Random], list[uuid.UUID]]


def write_products(
    connection: sa.Connection, spec: Spec, institution_ids: Sequence[uuid.UUID], rng: random.Random
) -> list[uuid.UUID]:
    table = products_table(connection)
    if not institution_ids or spec.products == 0:
        raise ProductsSkipped("no institutions or no products asked for")
    rows = product_rows(table, spec, institution_ids, rng)
    try:
        with connection.begin_nested():
            connection.execute(table.insert(), rows)
    except sa.exc.DBAPIError as exc:
        # The table's shape moved on from what this generator knows: say so, keep the run going.
        raise ProductsSkipped(f"insert refused: {str(exc.orig).splitlines()[0]}") from exc
    return [row["id"] for row in rows]


# --- writing -------------------------------------------------------------------------------------


def sync_url(url: str) -> str:
    """A synchronous driver URL for the small tables (psycopg 3 / sqlite3)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return parsed.set(drivername="sqlite").render_as_string(hide_password=False)


# Rows go to the database in chunks of this many, so that memory stays bounded at any scale.
CHUNK = 20_000


def library_codes(spec: Spec) -> tuple[dict[int, str], dict[tuple[str, int], int]]:
    """The library code of each approved project (by its index) and the last value per region
    and year: a first pass over ``project_rows`` that keeps only the approval keys, so that the
    second pass can write each row with its code (codes follow approval order, not row order)."""
    approved: list[tuple[datetime, int, str]] = []
    for i, row in enumerate(project_rows(spec)):
        if row["approved_at"] is not None:
            approved.append((row["approved_at"], i, row["region_code"]))
    # Stable on ties, as the former in-memory sort: equal times keep generation order.
    approved.sort(key=lambda a: a[0])
    counters: dict[tuple[str, int], int] = {}
    codes: dict[int, str] = {}
    for at, i, region in approved:
        key = (region, at.year)
        counters[key] = counters.get(key, 0) + 1
        codes[i] = f"CIF-{key[0]}-{key[1]}-{counters[key]:05d}"
    return codes, counters


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


async def _copy_projects_pg(url: str, chunks: Iterator[list[dict[str, Any]]]) -> None:
    """One connection, one binary COPY per chunk (asyncpg)."""
    import asyncpg

    table = PROJECTS
    columns = [c.name for c in table.columns]
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for rows in chunks:
            records = [
                tuple(json.dumps(r[c]) if c in json_columns else r[c] for c in columns)
                for r in rows
            ]
            await conn.copy_records_to_table("projects", records=records, columns=columns)
    finally:
        await conn.close()


@dataclass
class Generated:
    projects: int
    institutions: int
    products: int
    products_note: str
    seconds: float
    project_ids_in_library: list[uuid.UUID]
    product_ids: list[uuid.UUID]
    peak_rss_mb: float = 0.0


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux ru_maxrss is in KB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(url: str, spec: Spec, product_writer: ProductWriter = write_products) -> Generated:
    """Fill a migrated database with the national library ``spec`` describes.

    Streams: the rows are generated twice (the first pass only for the library codes, which
    follow approval order) and written ``CHUNK`` at a time, so memory stays bounded (the codes
    and the library ids: a peak RSS of about 0.5 GB at 1,000,000 projects, measured) and the rows
    are the same as when they were all built in memory first.
    """
    started = time.perf_counter()
    codes, counters = library_codes(spec)
    rng = random.Random(spec.seed)
    in_library: list[uuid.UUID] = []
    written = 0

    def coded() -> Iterator[dict[str, Any]]:
        nonlocal written
        for i, row in enumerate(project_rows(spec, rng)):
            row["library_code"] = codes.get(i)
            if row["status"] == "in_library":
                in_library.append(row["id"])
            written += 1
            yield row

    # After this generator is drained, ``rng`` is where the institutions and products start,
    # exactly as before.
    chunks = _chunks(coded(), CHUNK)
    engine = sa.create_engine(sync_url(url))
    is_pg = engine.dialect.name == "postgresql"
    try:
        if is_pg:
            asyncio.run(_copy_projects_pg(url, chunks))
        else:
            for chunk in chunks:
                with engine.begin() as conn:
                    conn.execute(PROJECTS.insert(), chunk)
        codes.clear()  # ~0.1 GB at a million projects, no longer needed
        institutions = institution_rows(spec, rng)
        with engine.begin() as conn:
            sequences = [
                {"region_code": k[0], "year": k[1], "last_value": v} for k, v in counters.items()
            ]
            # An empty parameter list would insert one row of defaults: skip empty tables.
            for table, table_rows in ((INSTITUTIONS, institutions), (LIBRARY_SEQUENCES, sequences)):
                if table_rows:
                    conn.execute(table.insert(), table_rows)
        note = ""
        product_ids: list[uuid.UUID] = []
        try:
            with engine.begin() as conn:
                product_ids = product_writer(conn, spec, [i["id"] for i in institutions], rng)
        except ProductsSkipped as exc:
            note = f"products skipped: {exc}"
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE" if is_pg else "ANALYZE"
            )
    finally:
        engine.dispose()
    return Generated(
        projects=written,
        institutions=len(institutions),
        products=len(product_ids),
        products_note=note,
        seconds=time.perf_counter() - started,
        project_ids_in_library=in_library,
        product_ids=product_ids,
        peak_rss_mb=round(_peak_rss_mb(), 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="plain database URL (SQLite or PostgreSQL)")
    parser.add_argument("--projects", type=int, default=Spec.projects)
    parser.add_argument("--institutions", type=int, default=Spec.institutions)
    parser.add_argument("--products", type=int, default=Spec.products)
    parser.add_argument("--in-library-share", type=float, default=Spec.in_library_share)
    parser.add_argument("--seed", type=int, default=Spec.seed)
    parser.add_argument("--migrate", action="store_true", help="apply migrations first")
    args = parser.parse_args()
    if args.migrate:
        from app.migrate import upgrade

        upgrade(args.url)
    spec = Spec(args.projects, args.institutions, args.products, args.in_library_share, args.seed)
    result = generate(args.url, spec)
    print(
        f"{result.projects} projects, {result.institutions} institutions, "
        f"{result.products} products in {result.seconds:.1f} s, peak RSS {result.peak_rss_mb} MB"
        + (f" ({result.products_note})" if result.products_note else ""),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()


# --- the national scale, in process (no database) ----------------------------------------------


def matching_rows(spec: Spec) -> Iterator[Any]:
    """The matcher's columns (``ProjectRow``) of the library projects ``project_rows`` would write,
    one at a time: a million projects without a million dicts alive at once."""
    from app.repositories.matching import ProjectRow

    for r in project_rows(spec):
        if r["status"] != "in_library":
            continue
        remaining = r["financing_need"] - r["financing_secured"]
        yield ProjectRow(
            id=r["id"],
            region_code=r["region_code"],
            objective=r["objective"],
            categories_mask=r["categories_mask"],
            financing_types_mask=r["financing_types_mask"],
            construction_status=r["construction_status"],
            remaining_cents=int(remaining * 100),
            tenor_months=r["tenor_months"],
            emission_reduction_tco2e=r["annual_emission_reduction_tco2e"],
            carbon_sink_tco2e=r["annual_carbon_sink_tco2e"],
            adaptation_beneficiaries=r["adaptation_beneficiaries"],
            third_party_verified=r["third_party_verified"],
            is_two_high=r["is_two_high"],
            classifications=json.dumps(r["classifications"]),
        )


def product_entries(spec: Spec) -> list[Any]:
    """The matcher's entries of ``spec.products`` active products (as ``write_products`` would
    write them), without a database."""
    from types import SimpleNamespace

    from app.services.matching.criteria import criteria_of
    from app.services.matching.store import ProductEntry

    rng = random.Random(spec.seed + 1)
    regions = RegionPicker(rng)
    # Stand-ins for institution ids, v7 like every id the service mints (no creation time here).
    owners = [v7_id(EPOCH, rng.getrandbits(128)) for _ in range(spec.institutions)]
    out = []
    for i in range(spec.products):
        values = _product_values(rng, owners[i % len(owners)], regions, i)
        out.append(
            ProductEntry(
                id=values["id"],
                institution_id=values["institution_id"],
                name=values["name"],
                type=values["type"],
                rate_min=values["rate_min"],
                rate_max=values["rate_max"],
                criteria=criteria_of(SimpleNamespace(gfc_codes=None, **values)),
            )
        )
    return out
