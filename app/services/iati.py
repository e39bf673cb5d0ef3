"""The library as IATI 2.03 activities, for open data: ``GET /api/v1/export/iati``.

Every library and exited project, with the public fields only (the list as the public sees it),
becomes one ``iati-activity``; the XML is streamed in keyset pages of the public list, each read
in a session of its own, like the spreadsheet export (app/services/export.py). An
``updated_since`` read stops at the watermark named in ``X-Updated-Until``.

The mappings, each a table below:

- ``iati-identifier``: ``<reporting-org ref>-<library code>``; the reporting organisation is the
  platform, ``CLIMATELIB_IATI_REPORTING_ORG`` (default ``CN-USCI-000000000000000000``, a
  placeholder: a publishing deployment sets ``CN-USCI-<the operator's USCC>``), type 10
  (government), named by ``CLIMATELIB_IATI_REPORTING_ORG_NAME``.
- ``title`` / ``description`` (type 1, general): the name and summary with ``xml:lang="zh"``,
  and ``name_en`` / ``summary_en`` with ``xml:lang="en"`` where stated.
- the owner: ``participating-org`` role 4 (implementing) with ref ``CN-USCI-<uscc>`` and the
  OrganisationType of its kind (``OWNER_ORG_TYPE``), and ``other-identifier`` type B9 (other
  organisation identifier) with the same ref; the library code is ``other-identifier`` type A1
  (the reporting organisation's own activity identifier). An institution that financed the
  project and agreed to open publication (``open_data_consent``) is ``participating-org`` role 1
  (funding).
- ``activity-status`` (``activity_status``): planning or approved → 1 (pipeline), under
  construction or operational → 2 (implementation); exited ``completed`` → 4 (closed),
  ``cancelled`` → 5 (cancelled), ``financing_fulfilled`` → from the construction status (the
  project goes on; the library's part ended), ``non_compliant`` or no recorded reason → 4.
- ``activity-date``: ``start_date`` as 2 (actual start) once under construction or operational
  and not in the future, else 1 (planned start); ``end_date`` as 4 (actual end) for a completed
  exit not in the future, else 3 (planned end). A project stating neither gets the day it entered
  the library as its planned start, with a narrative saying so (the standard requires a date).
- ``recipient-country``: CN, HK for 81, MO for 82 (GB/T 2260's province codes), 100 %.
- ``location``: the project's point, ``<pos>lat lon</pos>`` in WGS 84 (srsName EPSG 4326),
  named by its region; none without a location.
- ``sector``: vocabulary 99 (the reporting organisation's own), the project's taxonomy codes
  (GET /api/v1/taxonomy) with their Chinese and English names, percentages shared equally and
  summing to 100. No OECD DAC 5-digit code is given: the taxonomy's categories do not map one to
  one onto DAC purpose codes, and a guessed mapping would mislead.
- ``policy-marker`` vocabulary 1 (OECD DAC CRS): 6 climate change mitigation, 7 adaptation;
  significance 2 (principal objective) for the project's objective, 1 (significant) for each
  of the two when the objective is ``both``.
- ``transaction`` seen from the project, in CNY (``default-currency``): type 11 (incoming
  commitment) for each financed engagement's signed amount on its signing day, type 1 (incoming
  funds) for each disbursement; ``provider-org`` with ref ``CN-USCI-<uscc>`` and the
  institution's name only when it has ``open_data_consent``; otherwise no provider at all.
- ``result`` type 2 (outcome), one indicator per stated figure in tCO2e (annual emission
  reduction, annual carbon sink; measure 1, unit): the stated annual figure as the ``target`` of
  a one-year period from the start (or the library entry), and the verified figures as
  ``actual`` values of their reporting periods (``verified_results``: each verified monitoring
  report's emission reduction and carbon sink over its own period).

An empty selection has no activity, and the standard's schema requires at least one
``iati-activity`` in a file: the route answers 204 then, with no document.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import ANONYMOUS
from app.models.project import ProjectStatus
from app.models.project_query import ProjectFilters
from app.reference.labels import category_label, region_label
from app.repositories import monitoring as monitoring_repo
from app.repositories import open_data
from app.repositories.open_data import Flow
from app.services import projects

VERSION = "2.03"
# RFC 7303 makes text/xml an alias of application/xml; generated clients read text/* as text.
MEDIA_TYPE = "text/xml; charset=utf-8"
PAGE_SIZE = 500
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"

# ---- the mapping tables ----------------------------------------------------------------------

# IATI ActivityStatus: 1 pipeline/identification, 2 implementation, 4 closed, 5 cancelled.
STATUS_BY_CONSTRUCTION = {
    "planning": "1",
    "approved": "1",
    "under_construction": "2",
    "operational": "2",
}
STATUS_BY_EXIT = {"completed": "4", "cancelled": "5", "non_compliant": "4"}

# IATI OrganisationType by the owner's kind: 10 government, 15 other public sector,
# 70 private sector, 90 other.
OWNER_ORG_TYPE = {
    "government": "10",
    "public_institution": "15",
    "state_owned": "15",
    "private": "70",
    "foreign": "70",
    "collective": "90",
    "cooperative": "90",
    "other": "90",
}

# IATI PolicyMarker (vocabulary 1, OECD DAC CRS) and PolicySignificance.
MITIGATION, ADAPTATION = "6", "7"
PRINCIPAL, SIGNIFICANT = "2", "1"
POLICY_MARKERS: dict[str, tuple[tuple[str, str], ...]] = {
    "mitigation": ((MITIGATION, PRINCIPAL),),
    "adaptation": ((ADAPTATION, PRINCIPAL),),
    "both": ((MITIGATION, SIGNIFICANT), (ADAPTATION, SIGNIFICANT)),
}

# IATI TransactionType, seen from the project: 11 incoming commitment, 1 incoming funds.
TRANSACTION_TYPE = {"commitment": "11", "disbursement": "1"}

# IATI Country by GB/T 2260 province code; every other code is CN.
COUNTRY_BY_PROVINCE = {"81": "HK", "82": "MO"}

# The results: (field, Chinese title, English title), each in tCO2e.
RESULT_FIGURES = (
    (
        "annual_emission_reduction_tco2e",
        "年减排量（吨二氧化碳当量）",
        "Annual emission reduction (tCO2e)",
    ),
    ("annual_carbon_sink_tco2e", "年碳汇量（吨二氧化碳当量）", "Annual carbon sink (tCO2e)"),
)


def activity_status(status: str, exit_reason: str | None, construction_status: str) -> str:
    """The IATI ActivityStatus code of a library or exited project."""
    by_construction = STATUS_BY_CONSTRUCTION[construction_status]
    if status != ProjectStatus.exited:
        return by_construction
    if exit_reason == "financing_fulfilled":
        return by_construction
    return STATUS_BY_EXIT.get(exit_reason or "", "4")


def sector_percentages(count: int) -> list[Decimal]:
    """``count`` shares with two places that add up to exactly 100."""
    if count == 0:
        return []
    share = (Decimal(100) / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    shares = [share] * count
    shares[0] += Decimal(100) - share * count
    return shares


# ---- verified results (the hook for monitoring reports) ---------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedFigure:
    """A verified figure of one reporting period (MRV), exported as a result's actual value."""

    field: str  # one of RESULT_FIGURES' fields
    period_start: date
    period_end: date
    value: float


async def verified_results(
    session: AsyncSession, project_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[VerifiedFigure]]:
    """The verified figures of these projects, by project: each verified monitoring report's
    emission reduction and carbon sink over its period (zero figures left out), in period
    order, read in one query (app/repositories/monitoring.py)."""
    out: dict[uuid.UUID, list[VerifiedFigure]] = {}
    if not project_ids:
        return out
    for report in await monitoring_repo.verified_of(session, project_ids):
        for field, value in (
            ("annual_emission_reduction_tco2e", report.emission_reduction_tco2e),
            ("annual_carbon_sink_tco2e", report.carbon_sink_tco2e),
        ):
            if value:
                out.setdefault(report.project_id, []).append(
                    VerifiedFigure(field, report.period_start, report.period_end, float(value))
                )
    return out


# ---- building the XML ------------------------------------------------------------------------


def _clean(text: str) -> str:
    # XML 1.0 cannot carry most control characters nor U+FFFE/U+FFFF; a stored name may hold one.
    return "".join(c for c in text if (c in "\t\n\r" or ord(c) >= 0x20) and c not in "\ufffe\uffff")


def _narrative(parent: Element, text: str | None, lang: str | None = None) -> None:
    cleaned = _clean(text or "")
    if not cleaned.strip():
        return
    element = SubElement(parent, "narrative", {_XML_LANG: lang} if lang else {})
    element.text = cleaned


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _instant(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _figure(value: float) -> str:
    return format(Decimal(repr(float(value))).normalize(), "f")


@dataclass(frozen=True)
class Publisher:
    """Who reports: the platform's organisation identifier and name."""

    ref: str
    name: str


def _org_ref(uscc: str) -> str:
    return f"CN-USCI-{uscc}"


def _dates(parent: Element, item: dict[str, Any], today: date) -> None:
    start, end = _day(item.get("start_date")), _day(item.get("end_date"))
    begun = item["construction_status"] in ("under_construction", "operational")
    if start is not None:
        SubElement(
            parent,
            "activity-date",
            {"iso-date": start.isoformat(), "type": "2" if begun and start <= today else "1"},
        )
    if end is not None:
        ended = item["status"] == ProjectStatus.exited and item.get("exit_reason") == "completed"
        SubElement(
            parent,
            "activity-date",
            {"iso-date": end.isoformat(), "type": "4" if ended and end <= today else "3"},
        )
    if start is None and end is None:
        entered = _day(item.get("approved_at")) or _day(item["created_at"]) or today
        element = SubElement(
            parent, "activity-date", {"iso-date": entered.isoformat(), "type": "1"}
        )
        _narrative(element, "无开工日期：此为入库日期", "zh")
        _narrative(element, "No start date stated: the day the project entered the library", "en")


def _year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return date(day.year + 1, 3, 1)


def _result_period_start(item: dict[str, Any]) -> date:
    start = _day(item.get("start_date")) or _day(item.get("approved_at"))
    return start or _day(item["created_at"]) or date.today()


def _results(parent: Element, item: dict[str, Any], verified: list[VerifiedFigure]) -> None:
    indicators = [
        (field, zh, en)
        for field, zh, en in RESULT_FIGURES
        if item.get(field) or any(v.field == field for v in verified)
    ]
    if not indicators:
        return
    result = SubElement(parent, "result", {"type": "2"})
    title = SubElement(result, "title")
    _narrative(title, "气候效益（减缓）", "zh")
    _narrative(title, "Climate benefits (mitigation)", "en")
    for field, zh, en in indicators:
        indicator = SubElement(result, "indicator", {"measure": "1", "ascending": "1"})
        heading = SubElement(indicator, "title")
        _narrative(heading, zh, "zh")
        _narrative(heading, en, "en")
        stated = item.get(field)
        if stated:
            start = _result_period_start(item)
            end = _year_after(start) - timedelta(days=1)
            period = SubElement(indicator, "period")
            SubElement(period, "period-start", {"iso-date": start.isoformat()})
            SubElement(period, "period-end", {"iso-date": end.isoformat()})
            target = SubElement(period, "target", {"value": _figure(stated)})
            comment = SubElement(target, "comment")
            _narrative(comment, "项目申报的年度预期值（事前）", "zh")
            _narrative(comment, "Annual figure stated by the project (ex ante)", "en")
        for figure in (v for v in verified if v.field == field):
            period = SubElement(indicator, "period")
            SubElement(period, "period-start", {"iso-date": figure.period_start.isoformat()})
            SubElement(period, "period-end", {"iso-date": figure.period_end.isoformat()})
            SubElement(period, "actual", {"value": _figure(figure.value)})


def _transaction(parent: Element, flow: Flow) -> None:
    transaction = SubElement(parent, "transaction")
    SubElement(transaction, "transaction-type", {"code": TRANSACTION_TYPE[flow.kind]})
    SubElement(transaction, "transaction-date", {"iso-date": flow.on.isoformat()})
    value = SubElement(transaction, "value", {"currency": "CNY", "value-date": flow.on.isoformat()})
    value.text = _money(flow.amount)
    if flow.open_data_consent:
        provider = SubElement(transaction, "provider-org", {"ref": _org_ref(flow.institution_uscc)})
        _narrative(provider, flow.institution_name, "zh")


def activity(
    item: dict[str, Any],
    flows: list[Flow],
    verified: list[VerifiedFigure],
    publisher: Publisher,
    today: date,
) -> Element:
    """One project (a public list item) as an ``iati-activity`` element, children in the order
    of the 2.03 schema."""
    code = item["library_code"] or str(item["id"])
    root = Element(
        "iati-activity",
        {
            "last-updated-datetime": _instant(item["updated_at"]),
            _XML_LANG: "zh",
            "default-currency": "CNY",
            "hierarchy": "1",
        },
    )
    SubElement(root, "iati-identifier").text = f"{publisher.ref}-{code}"
    reporting = SubElement(root, "reporting-org", {"ref": publisher.ref, "type": "10"})
    _narrative(reporting, publisher.name, "zh")
    title = SubElement(root, "title")
    _narrative(title, item["name"], "zh")
    _narrative(title, item.get("name_en"), "en")
    if (item.get("summary") or "").strip() or (item.get("summary_en") or "").strip():
        description = SubElement(root, "description", {"type": "1"})
        _narrative(description, item.get("summary"), "zh")
        _narrative(description, item.get("summary_en"), "en")
    owner = item["owner"]
    owner_ref = _org_ref(owner["uscc"])
    implementing = SubElement(
        root,
        "participating-org",
        {
            "ref": owner_ref,
            "type": OWNER_ORG_TYPE.get(owner.get("type") or "other", "90"),
            "role": "4",
        },
    )
    _narrative(implementing, owner["name"], "zh")
    funders: dict[str, str] = {}
    for flow in flows:
        if flow.open_data_consent:
            funders.setdefault(_org_ref(flow.institution_uscc), flow.institution_name)
    for ref, name in funders.items():
        funding = SubElement(root, "participating-org", {"ref": ref, "role": "1"})
        _narrative(funding, name, "zh")
    own = SubElement(root, "other-identifier", {"ref": code, "type": "A1"})
    _narrative(SubElement(own, "owner-org", {"ref": publisher.ref}), publisher.name, "zh")
    other = SubElement(root, "other-identifier", {"ref": owner_ref, "type": "B9"})
    _narrative(SubElement(other, "owner-org", {"ref": owner_ref}), owner["name"], "zh")
    SubElement(
        root,
        "activity-status",
        {
            "code": activity_status(
                item["status"], item.get("exit_reason"), item["construction_status"]
            )
        },
    )
    _dates(root, item, today)
    region_code = item["region_code"]
    country = COUNTRY_BY_PROVINCE.get(region_code[:2], "CN")
    SubElement(root, "recipient-country", {"code": country, "percentage": "100"})
    location = item.get("location")
    if location is not None:
        place = SubElement(root, "location", {"ref": f"{code}-1"})
        place_name = SubElement(place, "name")
        _narrative(place_name, region_label(region_code, "zh"), "zh")
        _narrative(place_name, region_label(region_code, "en"), "en")
        point = SubElement(place, "point", {"srsName": _EPSG_4326})
        SubElement(point, "pos").text = f"{location['lat']} {location['lon']}"
    categories = list(item["categories"])
    for category, share in zip(categories, sector_percentages(len(categories)), strict=True):
        sector = SubElement(
            root, "sector", {"vocabulary": "99", "code": category, "percentage": str(share)}
        )
        _narrative(sector, category_label(category, "zh"), "zh")
        _narrative(sector, category_label(category, "en"), "en")
    for marker, significance in POLICY_MARKERS[item["objective"]]:
        SubElement(
            root,
            "policy-marker",
            {"vocabulary": "1", "code": marker, "significance": significance},
        )
    for flow in flows:
        _transaction(root, flow)
    _results(root, item, verified)
    return root


def _header(generated: datetime) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<iati-activities version="{VERSION}" generated-datetime="{_instant(generated)}">\n'
    ).encode()


_FOOTER = b"</iati-activities>\n"


async def _page(
    session: AsyncSession, filters: ProjectFilters, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, dict[uuid.UUID, list[Flow]], dict[uuid.UUID, Any]]:
    page, _ = await projects.list_projects(
        session, ANONYMOUS, filters, sort="updated_at", cursor=cursor, limit=PAGE_SIZE
    )
    items: list[dict[str, Any]] = page["items"]
    ids = [uuid.UUID(str(item["id"])) for item in items]
    by_project: dict[uuid.UUID, list[Flow]] = {}
    for flow in await open_data.flows(session, ids):
        by_project.setdefault(flow.project_id, []).append(flow)
    verified = await verified_results(session, ids)
    return items, page["next_cursor"], by_project, verified


def _render(
    items: list[dict[str, Any]],
    flows: dict[uuid.UUID, list[Flow]],
    verified: dict[uuid.UUID, list[VerifiedFigure]],
    publisher: Publisher,
    today: date,
) -> bytes:
    keyed = [(uuid.UUID(str(item["id"])), item) for item in items]
    parts = [
        tostring(
            activity(item, flows.get(key, []), verified.get(key, []), publisher, today),
            encoding="unicode",
        )
        for key, item in keyed
    ]
    return ("\n".join(parts) + "\n").encode()


async def stream(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    updated_since: datetime | None,
) -> tuple[AsyncIterator[bytes] | None, datetime | None]:
    """The export's bytes (None when no project is selected: the route answers 204) and, with
    ``updated_since``, the read's watermark. The first page is read in the request's session;
    the others each in a session of their own, closed before their bytes go out."""
    filters = ProjectFilters(
        status=[ProjectStatus.in_library, ProjectStatus.exited],
        updated_since=updated_since,
    )
    filters = await projects.feed_bound(session, filters)
    first = await _page(session, filters, None)
    if not first[0]:
        return None, filters.updated_until
    today = datetime.now(UTC).date()
    generated = datetime.now(UTC)

    async def chunks() -> AsyncIterator[bytes]:
        yield _header(generated)
        items, cursor, flows, verified = first
        yield await asyncio.to_thread(_render, items, flows, verified, publisher, today)
        while cursor is not None:
            async with sessions() as own:
                items, cursor, flows, verified = await _page(own, filters, cursor)
            if items:
                yield await asyncio.to_thread(_render, items, flows, verified, publisher, today)
        yield _FOOTER

    return chunks(), filters.updated_until
