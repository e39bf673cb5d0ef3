"""Loading the sample through the real API in-process (httpx against the ASGI app).

Each record is validated exactly as a user's would be, and each lifecycle or funnel step is taken
by the actor who may take it: the region, the provincial reviewer, the administrator, the
institution. Keys are issued straight through the key service, as `climatelib keys create` does.
"""

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.demo.catalogue import (
    DECLINE_REASONS,
    EXIT_REASONS,
    FUNNEL_STEPS,
    FUNNEL_WEIGHTS,
    INSTITUTIONS,
    NOT_FINANCED,
    PRODUCTS,
    REJECT_REASONS,
    RETURN_REASONS,
)
from app.demo.generator import (
    MARKER_USCC,
    build_project,
    institution_body,
    offer_body,
    partial_members,
    plan_projects,
    product_body,
    project_template,
    weighted_plan,
)
from app.main import create_app
from app.models import Role
from app.services import api_keys

DEFAULT_PROJECTS = 300
DEFAULT_SEED = 20221109  # 环气候函〔2022〕50号's month, any fixed number would do


class DemoError(Exception):
    """The demo could not load (or was already loaded)."""


class DemoAlreadyLoaded(DemoError):
    pass


@dataclass
class DemoResult:
    admin_key: str
    institutions: int
    products: int
    projects: Counter[str] = field(default_factory=Counter)
    offers: Counter[str] = field(default_factory=Counter)
    payments: Counter[str] = field(default_factory=Counter)  # disbursement, repayment
    pilots: int = 0
    documents: int = 0
    reports: Counter[str] = field(default_factory=Counter)  # submitted, verified
    seconds: float = 0.0

    def summary(self) -> str:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.projects.items()))
        funnel = ", ".join(f"{k} {v}" for k, v in sorted(self.offers.items()))
        return "\n".join(
            [
                f"climatelib demo loaded in {self.seconds:.1f} s:",
                f"  pilots        {self.pilots}",
                f"  institutions  {self.institutions}",
                f"  products      {self.products}",
                f"  projects      {sum(self.projects.values())} ({statuses})",
                f"  offers        {sum(self.offers.values())} ({funnel})",
                f"  payments      {self.payments['disbursement']} disbursements, "
                f"{self.payments['repayment']} repayments",
                f"  documents     {self.documents}",
                f"  MRV reports   {sum(self.reports.values())} ({self.reports['verified']} "
                "verified)",
                "",
                "An admin key, shown once. Paste this line into your shell, then try the API:",
                f"  export ADMIN={self.admin_key}",
                '  curl -H "Authorization: Bearer $ADMIN" http://127.0.0.1:8000/api/v1/projects',
            ]
        )


class Api:
    """The in-process HTTP client: every call must answer as expected or the demo stops."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        url: str,
        key: str | None,
        body: Any = None,
        *,
        version: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        response = await self.client.request(method, url, json=body, headers=headers, params=params)
        if response.status_code >= 400:
            raise DemoError(
                f"{method} {url} answered {response.status_code}: {response.text[:600]}"
            )
        return response.json()


@dataclass
class Keys:
    admin: str
    regions: dict[str, str] = field(default_factory=dict)  # province (2 digits) → key
    reviewers: dict[str, str] = field(default_factory=dict)
    institutions: dict[str, str] = field(default_factory=dict)  # institution id → key


async def issue(app: FastAPI, name: str, role: Role, scope: str | None) -> str:
    async with app.state.sessions.begin() as session:
        # SQLite: the write lock up front, so that a write landing after this read (the app's
        # own, say) makes it wait rather than fail
        await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        _, secret = await api_keys.create(session, name=name, role=role, scope=scope)
        return secret


async def already_loaded(api: Api) -> bool:
    """Whether the first demo institution is registered (institutions are public)."""
    name = INSTITUTIONS[0][0]
    page = await api.call("GET", "/api/v1/institutions", None, params={"q": name, "limit": 200})
    return any(item["uscc"] == MARKER_USCC for item in page["items"])


async def load_institutions(api: Api, app: FastAPI, keys: Keys) -> list[str]:
    ids = []
    for index, (name, *_) in enumerate(INSTITUTIONS):
        body = institution_body(index)
        created = await api.call("POST", "/api/v1/institutions", keys.admin, body)
        ids.append(created["id"])
        keys.institutions[created["id"]] = await issue(
            app, f"demo {name}", Role.institution, created["id"]
        )
    return ids


async def load_products(api: Api, keys: Keys, institutions: list[str]) -> list[dict[str, Any]]:
    products = []
    today = datetime.now(UTC).date()
    for template in PRODUCTS:
        key = keys.institutions[institutions[template.institution]]
        body = product_body(template, today)
        products.append(await api.call("POST", "/api/v1/products", key, body))
    return products


async def move(
    api: Api,
    project: dict[str, Any],
    key: str,
    action: str,
    reason: str | None = None,
    reason_code: str | None = None,
) -> dict[str, Any]:
    body = {"action": action} if reason is None else {"action": action, "reason": reason}
    if reason_code is not None:
        body["reason_code"] = reason_code
    result: dict[str, Any] = await api.call(
        "POST",
        f"/api/v1/projects/{project['id']}/transitions",
        key,
        body,
        version=project["version"],
    )
    return result


async def walk_lifecycle(
    api: Api, keys: Keys, project: dict[str, Any], target: str, rng: random.Random
) -> dict[str, Any]:
    """Take the project from draft to ``target``, each step by the actor who may take it."""
    province = project["region_code"][:2]
    region, reviewer = keys.regions[province], keys.reviewers[province]
    if target == "draft":
        return project
    if target == "withdrawn":
        if rng.random() < 0.5:
            project = await move(api, project, region, "submit")
            project = await move(api, project, reviewer, "return", rng.choice(RETURN_REASONS))
        return await move(api, project, region, "withdraw")
    project = await move(api, project, region, "submit")
    if target == "submitted":
        return project
    if target == "rejected":
        return await move(api, project, reviewer, "reject", rng.choice(REJECT_REASONS))
    if target == "returned" and rng.random() < 0.5:
        return await move(api, project, reviewer, "return", rng.choice(RETURN_REASONS))
    project = await move(api, project, reviewer, "recommend")
    if target == "recommended":
        return project
    if target == "returned":
        return await move(api, project, keys.admin, "return", rng.choice(RETURN_REASONS))
    project = await move(api, project, keys.admin, "approve")
    if target == "exited":
        code, words = rng.choice(EXIT_REASONS)
        return await move(api, project, region, "exit", words, code)
    return project


Offer = tuple[dict[str, Any], dict[str, Any], str]  # the offer, its project card, the bank's key


async def make_offers(
    api: Api, keys: Keys, products: list[dict[str, Any]], n_projects: int, rng: random.Random
) -> list[Offer]:
    """Each active product offers on a few of its best-ranked library projects."""
    per_product = 1 + n_projects // 60
    offers: list[Offer] = []
    for product in products:
        if product["status"] != "active":
            continue
        key = keys.institutions[product["institution_id"]]
        page = await api.call(
            "GET",
            f"/api/v1/products/{product['id']}/matches",
            key,
            params={"limit": 200, "explain": "false"},
        )
        # Ties in score fall back to random project ids; the library code keeps the seed's choice.
        ranked = sorted(page["items"], key=lambda m: (-m["score"], m["project"]["library_code"]))
        items = ranked[: 3 * per_product]
        for match in rng.sample(items, k=min(per_product, len(items))):
            card = match["project"]
            body = offer_body(product, card, rng)
            offer = await api.call("POST", "/api/v1/engagements", key, body)
            offers.append((offer, card, key))
    return offers


async def advance_offers(
    api: Api, keys: Keys, products: list[dict[str, Any]], offers: list[Offer], rng: random.Random
) -> Counter[str]:
    """Move each offer to its planned funnel status, the owner's region or the bank acting."""
    plan = weighted_plan(FUNNEL_WEIGHTS, len(offers), rng)
    need_left = {card["id"]: Decimal(card["remaining_need"]) for _, card, _ in offers}
    quota_left = {
        p["id"]: Decimal(p["quota_total"]) - Decimal(p["quota_used"])
        for p in products
        if p["quota_total"] is not None
    }
    counts: Counter[str] = Counter()
    for (offer, card, key), planned in zip(offers, plan, strict=True):
        target, reason = planned, rng.choice(NOT_FINANCED)
        amount = Decimal(offer["amount"])
        if target == "financed" and amount > need_left[card["id"]]:
            target = "not_financed"  # a competing offer financed the need first
        if target == "financed" and amount > quota_left.get(offer["product_id"], amount):
            target, reason = "not_financed", "quota_exhausted"
        region = keys.regions[card["region_code"][:2]]
        for action in FUNNEL_STEPS[target]:
            actor = region if action in ("accept", "decline") else key
            step: dict[str, Any] = {"action": action}
            if action == "decline":
                step["reason"] = rng.choice(DECLINE_REASONS)
            elif action == "financed":
                step |= {
                    "amount": offer["amount"],
                    "annual_rate": offer["annual_rate"],
                    "date": datetime.now(UTC).date().isoformat(),
                }
                need_left[card["id"]] -= amount
                if offer["product_id"] in quota_left:
                    quota_left[offer["product_id"]] -= amount
            elif action == "not_financed":
                step["reason_code"] = reason
            await api.call("POST", f"/api/v1/engagements/{offer['id']}/transitions", actor, step)
        counts[target] += 1
    return counts


_CENT = Decimal("0.01")
_FINAL = frozenset({"declined", "financed", "not_financed"})


async def pay_out(api: Api, offers: list[Offer], rng: random.Random) -> Counter[str]:
    """Money under each signed contract: all of it or a first tranche disbursed (放款), and a
    repayment on some, so that signed, disbursed and outstanding differ in the figures."""
    counts: Counter[str] = Counter()
    today = datetime.now(UTC).date().isoformat()
    for offer, _card, key in offers:
        current = await api.call("GET", f"/api/v1/engagements/{offer['id']}", key)
        if current["status"] != "financed":
            continue
        signed = Decimal(current["signed_amount"])
        paid = signed if rng.random() < 0.4 else (signed * Decimal("0.6")).quantize(_CENT)
        url = f"/api/v1/engagements/{offer['id']}/disbursements"
        await api.call("POST", url, key, {"amount": str(paid), "date": today})
        counts["disbursement"] += 1
        if rng.random() < 0.5:
            back = {"amount": str((paid / 10).quantize(_CENT)), "date": today, "kind": "repayment"}
            await api.call("POST", url, key, back)
            counts["repayment"] += 1
    return counts


# What a demo document holds: a one-page PDF and a small CSV, enough for the type checks.
DEMO_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# A report's figures and the stated annual figures they are made from.
_PRO_RATA = (
    ("emission_reduction_tco2e", "annual_emission_reduction_tco2e"),
    ("carbon_sink_tco2e", "annual_carbon_sink_tco2e"),
    ("energy_saving_tce", "annual_energy_saving_tce"),
)


async def report_results(
    api: Api, keys: Keys, library: list[dict[str, Any]], rng: random.Random
) -> tuple[int, Counter[str]]:
    """For every third library project under way for a month or more: a public
    feasibility study and a restricted verification report (documents), and a monitoring report
    of its first year (or less) citing it, verified by the province's reviewer four times in
    five. The figures are the stated annual ones, pro rata, within ±15 %."""
    documents, reports = 0, Counter[str]()
    today = datetime.now(UTC).date()
    under_way = [
        p for p in library if date.fromisoformat(p["start_date"]) <= today - timedelta(days=31)
    ]
    for project in under_way[::3]:
        start = date.fromisoformat(project["start_date"])
        end = min(start + timedelta(days=364), today - timedelta(days=1))
        province = project["region_code"][:2]
        region = keys.regions[province]
        cited = None
        for name, data, kind, visibility in (
            ("可行性研究报告.pdf", DEMO_PDF, "feasibility_study", "public"),
            ("减排量核查报告.pdf", DEMO_PDF, "verification_report", "restricted"),
        ):
            response = await api.client.post(
                f"/api/v1/projects/{project['id']}/documents",
                files={"file": (name, data)},
                data={"type": kind, "visibility": visibility},
                headers={"Authorization": f"Bearer {region}"},
            )
            if response.status_code != 201:
                raise DemoError(f"document upload answered {response.status_code}: {response.text}")
            documents += 1
            cited = response.json()["id"]
        share = Decimal((end - start).days + 1) / 365 * Decimal(str(rng.uniform(0.85, 1.15)))
        figures = {
            reported: Decimal(str(project.get(stated) or 0)) * share
            for reported, stated in _PRO_RATA
        }
        beneficiaries = int(project.get("adaptation_beneficiaries") or 0)
        if not beneficiaries and not any(round(value, 3) for value in figures.values()):
            continue  # a project stating no figure has nothing to report
        body = {
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            **{reported: f"{value:.3f}" for reported, value in figures.items()},
            "adaptation_beneficiaries": beneficiaries,
            "methodology": project.get("accounting_methodology") or "项目减排量核算方法",
            "verifier": project.get("verifier") or "第三方核查机构",
            "document_id": cited,
        }
        url = f"/api/v1/projects/{project['id']}/monitoring-reports"
        filed = await api.call("POST", url, region, body)
        if sum(reports.values()) % 5 != 4:  # four in five verified, the first one always
            await api.call(
                "POST",
                f"{url}/{filed['id']}/transitions",
                keys.reviewers[province],
                {"action": "verify", "reason": "核查报告与监测数据一致。"},
            )
            reports["verified"] += 1
        else:
            reports["submitted"] += 1
    return documents, reports


async def exit_financed(api: Api, keys: Keys, offers: list[Offer]) -> int:
    """One project whose signed contract met its need leaves the library as
    ``financing_fulfilled``, once every offer on it has its outcome: an exited project with its
    financing, in the public figures."""
    for _offer, card, _key in offers:
        engagements = await api.call(
            "GET", "/api/v1/engagements", keys.admin, params={"project_id": card["id"]}
        )
        statuses = {e["status"] for e in engagements["items"]}
        if "financed" not in statuses or not statuses <= _FINAL:
            continue
        project = await api.call("GET", f"/api/v1/projects/{card['id']}", keys.admin)
        region = keys.regions[card["region_code"][:2]]
        await move(api, project, region, "exit", "融资需求已满足。", "financing_fulfilled")
        return 1
    return 0


async def run_demo(
    settings: Settings, *, projects: int = DEFAULT_PROJECTS, seed: int = DEFAULT_SEED
) -> DemoResult:
    """Load the sample into the database of ``settings`` (already migrated)."""
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    # In process, as the loader and not as a caller: no rate limit applies to it.
    app = create_app(settings.model_copy(update={"rate_limits": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            api = Api(client)
            if await already_loaded(api):
                raise DemoAlreadyLoaded(
                    "This database already holds the demo (its institutions are there); "
                    "use a fresh database for another one."
                )
            keys = Keys(admin=await issue(app, "demo admin", Role.admin, None))
            pilots = (await api.call("GET", "/api/v1/pilots", None, params={"limit": 200}))["items"]
            institutions = await load_institutions(api, app, keys)
            products = await load_products(api, keys, institutions)

            plan = plan_projects(pilots, projects, rng)
            for province in sorted({code[:2] for code, _ in plan}):
                keys.regions[province] = await issue(
                    app, f"demo region {province}", Role.region, province + "0000"
                )
                keys.reviewers[province] = await issue(
                    app, f"demo reviewer {province}", Role.reviewer, province
                )
            statuses: Counter[str] = Counter()
            library: list[dict[str, Any]] = []
            members = partial_members(pilots)
            for i, (code, target) in enumerate(plan):
                body = build_project(i, project_template(i, rng), code, rng)
                if code in members:
                    body["pilot_id"] = members[code]
                created = await api.call("POST", "/api/v1/projects", keys.regions[code[:2]], body)
                final = await walk_lifecycle(api, keys, created, target, rng)
                statuses[final["status"]] += 1
                if final["status"] == "in_library":
                    library.append(final)
            documents, reports = await report_results(api, keys, library, rng)
            made = await make_offers(api, keys, products, projects, rng)
            offers = await advance_offers(api, keys, products, made, rng)
            payments = await pay_out(api, made, rng)
            exited = await exit_financed(api, keys, made)
            statuses["in_library"] -= exited
            statuses["exited"] += exited
    return DemoResult(
        admin_key=keys.admin,
        institutions=len(institutions),
        products=len(products),
        projects=statuses,
        offers=offers,
        payments=payments,
        pilots=len(pilots),
        documents=documents,
        reports=reports,
        seconds=time.perf_counter() - started,
    )
