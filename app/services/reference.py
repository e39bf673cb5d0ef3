"""Reference data as answers: the taxonomy, and searching the GB/T 2260 region table."""

from functools import cache
from typing import Any

from app.errors import NotFound, RuleViolation, field_error
from app.models.flags import CATEGORIES
from app.reference import classifications
from app.reference.provinces import provinces
from app.reference.regions import Region, RegionLevel, region_table
from app.reference.taxonomy import taxonomy as taxonomy_data
from app.repositories.pagination import SortKey, decode_cursor, encode_cursor
from app.schemas.reference import (
    ClassificationScheme,
    ClassificationSchemes,
    Crosswalk,
    CrosswalkItem,
    CrosswalkTarget,
    RegionDetail,
    RegionPage,
    RegionRead,
    RegionSuccessor,
    Taxonomy,
)

_CURSOR_KEYS = [SortKey(None, kind=str)]


@cache
def taxonomy() -> Taxonomy:
    """The shipped taxonomy, read once."""
    schemes = list(classifications.schemes())
    return Taxonomy.model_validate({**taxonomy_data(), "classification_schemes": schemes})


@cache
def classification_schemes() -> ClassificationSchemes:
    """The external classification schemes shipped, with their sources and entries."""
    return ClassificationSchemes(
        items=[ClassificationScheme.model_validate(s) for s in classifications.schemes().values()]
    )


def crosswalk(to: str) -> Crosswalk:
    """The suggested mapping from every taxonomy code to the entries of scheme ``to``."""
    known = classifications.schemes()
    if to not in known:
        message = f"Unknown classification scheme {to!r}; known: {', '.join(known)}."
        raise RuleViolation(
            message,
            code="unknown_classification_scheme",
            errors=[field_error(["query", "to"], "unknown_classification_scheme", message)],
        )
    return _crosswalk(to)


@cache
def _crosswalk(to: str) -> Crosswalk:
    entries = {e["code"]: e for e in classifications.schemes()[to]["entries"]}
    data = classifications.crosswalk(to)
    items = [
        CrosswalkItem(
            category=code,
            suggested=[
                CrosswalkTarget.model_validate(entries[target])
                for target in classifications.suggested(to, code)
            ],
        )
        for code in CATEGORIES.codes
    ]
    return Crosswalk(
        from_taxonomy_version=data["from_taxonomy_version"], to=to, note=data["note"], items=items
    )


def _read(region: Region) -> RegionRead:
    table = region_table()
    abolition = table.abolished.get(region.code)
    successors = [
        RegionSuccessor(code=s.code, name=table.by_code[s.code].name, part=s.part)
        for s in (abolition.successors if abolition else ())
    ]
    return RegionRead(
        code=region.code,
        name=region.name,
        level=region.level,
        parent=region.parent,
        is_current=region.is_current,
        valid_from=region.valid_from,
        valid_to=region.valid_to,
        established_on=table.established.get(region.code),
        abolished_on=abolition.on if abolition else None,
        successors=successors,
        **_province_fields(region),
    )


def _province_fields(region: Region) -> dict[str, Any]:
    province = provinces().get(region.code[:2]) if region.level is RegionLevel.province else None
    if province is None:
        return {}
    box = province.box
    return {
        "name_en": province.name_en,
        "bbox": [box.min_lon, box.min_lat, box.max_lon, box.max_lat],
    }


def search_regions(
    *,
    parent: str | None,
    q: str | None,
    level: str | None,
    include_retired: bool,
    cursor: str | None,
    limit: int,
) -> RegionPage:
    """Provinces by default, the children of ``parent``, or regions whose name holds ``q``."""
    table = region_table()
    if parent is not None:
        candidates = [table.by_code[c] for c in table.children.get(parent, ())]
    elif q is None and level is None:
        candidates = table.provinces()
    else:
        candidates = list(table.by_code.values())
    if q is not None:
        candidates = [r for r in candidates if q in r.name]
    if level is not None:
        candidates = [r for r in candidates if r.level is RegionLevel(level)]
    if not include_retired:
        candidates = [r for r in candidates if r.is_current]
    candidates.sort(key=lambda r: r.code)
    if cursor:
        (after,) = decode_cursor(cursor, "code", _CURSOR_KEYS)
        candidates = [r for r in candidates if r.code > after]
    page = candidates[:limit]
    next_cursor = encode_cursor("code", [page[-1].code]) if len(candidates) > limit else None
    return RegionPage(items=[_read(r) for r in page], next_cursor=next_cursor)


def get_region(code: str) -> RegionDetail:
    table = region_table()
    region = table.get(code)
    if region is None:
        raise NotFound(f"No GB/T 2260 region {code!r}.", code="region_not_found")
    children = [
        _read(table.by_code[c]) for c in table.children.get(code, ()) if table.by_code[c].is_current
    ]
    return RegionDetail(**_read(region).model_dump(), children=children)
