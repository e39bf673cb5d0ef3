"""The library as columns: one numpy array per matching attribute, position i one project.

The matcher never touches rows: eligibility, scoring and explanation read these arrays, so a
criterion over 100,000 projects is a handful of vectorised operations.
"""

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.models import Objective
from app.models.flags import CATEGORIES
from app.reference.classifications import GFC_2025, ancestors
from app.repositories.matching import ProjectColumns, ProjectRow
from app.services.matching.criteria import CONSTRUCTION_CODES, OBJECTIVE_CODES
from app.services.matching.positions import Ids, Positions

Index = NDArray[np.intp] | slice
Mask = NDArray[np.bool_]


def stated_categories(masks: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """Stored category masks without the parents their second-level codes imply."""
    out = masks.copy()
    for parent, children in CATEGORIES.children.items():
        out[(masks & children) != 0] &= ~np.uint32(parent)
    return out


_NO_CODES: frozenset[str] = frozenset()


def _gfc_codes(classifications: Any) -> frozenset[str]:
    """A project's gfc-2025 codes and every code they fall under (4.1 → 4.1, 4)."""
    if isinstance(classifications, str):
        classifications = json.loads(classifications) if classifications else None
    if not classifications:
        return _NO_CODES
    codes = {a for c in classifications if c["scheme"] == GFC_2025 for a in ancestors(c["code"])}
    return frozenset(codes) if codes else _NO_CODES


def _columns(projects: ProjectColumns) -> dict[str, Any]:
    n = len(projects)
    reductions, sinks = projects.emission_reduction_tco2e, projects.carbon_sink_tco2e
    verified_reports, verified_days = projects.verified_reports, projects.verified_days

    remaining = projects.remaining_cents
    # Verified monitoring results (MRV) take the place of the stated figures per project where
    # there are any: tonnes a year over the verified periods, the beneficiaries verified;
    # ``results`` says which basis each project's figures have.
    results = (verified_reports > 0) & (verified_days > 0)
    stated = reductions + sinks
    days = verified_days.astype(np.float64)
    yearly = np.divide(
        projects.verified_tco2e * 365.0,
        days,
        out=np.zeros(n, dtype=np.float64),
        where=days > 0,
    )
    benefit = np.where(results, yearly, stated)
    beneficiaries = np.where(
        results, projects.verified_beneficiaries, projects.adaptation_beneficiaries
    )
    objective = projects.objective.mapped(OBJECTIVE_CODES.__getitem__, np.int8)
    cstatus = projects.construction_status.mapped(CONSTRUCTION_CODES.__getitem__, np.int8)
    # per 10,000 CNY of remaining need = figure / (cents / 1,000,000); 0 without remaining need
    per_10k = np.zeros(n, dtype=np.float64)
    positive = remaining > 0
    per_10k[positive] = 1_000_000.0 / remaining[positive]
    # Each benefit counts only for the objectives that claim it (0 outside its group, which no
    # group maximum can notice since every figure is ≥ 0): tonnes for mitigation and both,
    # beneficiaries for adaptation and both.
    mitigates = objective != OBJECTIVE_CODES[Objective.adaptation]
    adapts = objective != OBJECTIVE_CODES[Objective.mitigation]
    # a UUID's order as text is its order as a 128-bit number: (high, low) big-endian halves
    halves = projects.id_halves
    tenor = projects.tenor_months
    return {
        "alive": np.ones(n, dtype=np.bool_),
        "id_hi": np.ascontiguousarray(halves[:, 0]),
        "id_lo": np.ascontiguousarray(halves[:, 1]),
        "region": projects.region_code,
        "objective": objective,
        # one bit per code: a set of accepted codes is then one AND, not a gather
        "objective_bit": np.left_shift(np.uint8(1), objective.astype(np.uint8)),
        "categories": projects.categories_mask,
        "ftypes": projects.financing_types_mask,
        "cstatus": cstatus,
        "cstatus_bit": np.left_shift(np.uint8(1), cstatus.astype(np.uint8)),
        "remaining": remaining,
        "tenor": np.minimum(tenor, 32_767).astype(np.int16),
        "benefit": benefit,
        "verified": projects.third_party_verified,
        "results": results,
        "two_high": projects.is_two_high,
        # each distinct classification list parsed once (most projects have none)
        "gfc": projects.classifications.mapped(_gfc_codes, np.object_),
        "mitigation_intensity": np.where(mitigates, benefit * per_10k, 0.0),
        "adaptation_intensity": np.where(adapts, beneficiaries * per_10k, 0.0),
    }


@dataclass
class Columns:
    """The matching attributes as columns, one row per project. The library's own columns are in
    position order; its region index (``RegionIndex``) holds the same columns in region order."""

    alive: Mask
    id_hi: NDArray[np.uint64]
    id_lo: NDArray[np.uint64]
    region: NDArray[np.int32]
    objective: NDArray[np.int8]
    objective_bit: NDArray[np.uint8]
    categories: NDArray[np.uint32]
    ftypes: NDArray[np.uint8]
    cstatus: NDArray[np.int8]
    cstatus_bit: NDArray[np.uint8]
    remaining: NDArray[np.int64]
    tenor: NDArray[np.int16]
    benefit: NDArray[np.float64]
    verified: Mask
    results: Mask
    """Per project: whether its figures are verified results (MRV) rather than stated ones."""
    two_high: Mask
    gfc: NDArray[np.object_]
    """Per project: its gfc-2025 codes and the codes they fall under (a frozenset)."""
    mitigation_intensity: NDArray[np.float64]
    """tCO2e a year (reduction + sink) per 10,000 CNY of remaining need; 0 for adaptation."""
    adaptation_intensity: NDArray[np.float64]
    """Adaptation beneficiaries per 10,000 CNY of remaining need; 0 for mitigation."""


COLUMN_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Columns))

_NO_IDS: NDArray[np.uint64] = np.empty(0, dtype=np.uint64)


@dataclass
class Library(Columns):
    """The library's projects as columns; position i is one project for the object's lifetime.

    Patches overwrite a changed project in place, append new ones and mark leavers not ``alive``,
    so positions held by a request in flight stay meaningful. The region index is kept with
    them: written through for a project that keeps its region, dropped (rebuilt on next use) when
    a project is appended or moves region.
    """

    position: Positions = field(default_factory=lambda: Positions(_NO_IDS, _NO_IDS))
    """Each id's position (see ``positions``): made from the id columns as built."""
    _index: "RegionIndex | None" = field(default=None, repr=False)

    @property
    def ids(self) -> Ids:
        """Position i's id (made on demand from ``id_hi``, ``id_lo``)."""
        return Ids(self.id_hi, self.id_lo)

    @property
    def size(self) -> int:
        return len(self.id_hi)

    @property
    def dead(self) -> int:
        return self.size - len(self.position)

    @classmethod
    def build(cls, rows: Sequence[ProjectRow]) -> "Library":
        return cls.of_columns(ProjectColumns.of_rows(rows))

    @classmethod
    def of_columns(cls, projects: ProjectColumns) -> "Library":
        columns = _columns(projects)
        return cls(position=Positions(columns["id_hi"], columns["id_lo"]), **columns)

    def apply(self, rows: Sequence[ProjectRow], gone: Sequence[uuid.UUID]) -> None:
        """Patch in place: ``rows`` are library projects (new or changed), ``gone`` left it."""
        index = self._index
        if index is not None:
            index.forget_masks()
        for pid in gone:
            i = self.position.pop(pid, None)
            if i is not None:
                self.alive[i] = False
                if index is not None:
                    index.columns.alive[index.rank[i]] = False
        known = [r for r in rows if r.id in self.position]
        fresh = [r for r in rows if r.id not in self.position]
        if known:
            at = np.array([self.position[r.id] for r in known], dtype=np.intp)
            columns = _columns(ProjectColumns.of_rows(known))
            if index is not None and not np.array_equal(self.region[at], columns["region"]):
                index = self._index = None  # a project moved region: its slot is elsewhere
            for name, values in columns.items():
                getattr(self, name)[at] = values
                if index is not None:
                    getattr(index.columns, name)[index.rank[at]] = values
        if fresh:
            self._index = None  # appended positions have no slot in the region order yet
            start = self.size
            for name, values in _columns(ProjectColumns.of_rows(fresh)).items():
                setattr(self, name, np.concatenate([getattr(self, name), values]))
            for k, r in enumerate(fresh):
                self.position[r.id] = start + k

    @property
    def index(self) -> "RegionIndex":
        """The library in region order (built on first use after a build or an append)."""
        if self._index is None:
            self._index = RegionIndex.build(self)
        return self._index


Words = NDArray[np.uint64]


def pack(mask: Mask) -> Words:
    """A boolean vector as bits, 64 to a word (bit j of word w is row 64·w + j); the tail of the
    last word is 0. ANDing two packed masks touches an eighth of the bytes of two bool ones."""
    padded = np.zeros(-(-len(mask) // 64) * 64, dtype=np.bool_)
    padded[: len(mask)] = mask
    return np.packbits(padded, bitorder="little").view(np.uint64)


def unpack(words: Words, lo: int, hi: int, base: int) -> NDArray[np.intp]:
    """The rows in ``lo``–``hi`` whose bit is set, where ``words`` starts at row ``base``."""
    if len(words) >= SPARSE_WORDS:
        # A wide run (a nationwide product at 10^6 projects: 12,500 words) with very few
        # survivors: only the set words are read, their bits peeled lowest first.
        if int(np.bitwise_count(words).sum()) * SPARSE_SHARE < len(words) * 64:
            at = np.flatnonzero(words != 0)  # (of a bool array, as below)
            return _set_bits(words[at], at * 64 + base, lo, hi)
    # as booleans: numpy finds the set entries of a bool array about 10× faster than of uint8
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").view(np.bool_)
    return (np.flatnonzero(bits[lo - base : hi - base]) + lo).astype(np.intp)


SPARSE_WORDS = 2048
SPARSE_SHARE = 250
"""``unpack`` peels the set bits of a run of at least ``SPARSE_WORDS`` words (131,072 rows) when
fewer than one row in ``SPARSE_SHARE`` is set; denser or shorter, unpacking every bit costs
less. Measured in CPU time with the unpacked bits read as booleans (read as bytes, finding the
set ones cost 10× more and peeling, or a table of each byte's bits, won from 2 · 10^4 rows up
to a quarter set): at 2 · 10^4 rows every bit 8–16 µs against 18–290 µs peeled; at 8 · 10^5
rows and 0.1 % set 134 against 59 µs, at 0.5 % 157 against 165 µs (``bench/README.md``)."""


def _set_bits(words: Words, first: NDArray[np.intp], lo: int, hi: int) -> NDArray[np.intp]:
    """The rows set in ``words`` (none 0; word k's bit 0 is row ``first[k]``) within ``lo``–``hi``,
    ascending: each round takes every word's lowest set bit (its trailing zeros are the bits
    set below it, ``w & -w`` less one) and clears it, so the rounds are the most bits a word
    has, not 64."""
    found = []
    one = np.uint64(1)
    while len(words):
        low = words & (~words + one)
        found.append(first + np.bitwise_count(low - one).astype(np.intp))
        words = words & (words - one)
        left = words != 0
        words, first = words[left], first[left]
    rows = np.sort(np.concatenate(found)) if found else np.empty(0, dtype=np.intp)
    out: NDArray[np.intp] = rows[(rows >= lo) & (rows < hi)].astype(np.intp)
    return out


@dataclass
class RegionIndex:
    """The library's columns sorted by region code (``order[s]`` is the position of slot ``s``,
    ``rank`` the inverse), so the projects under a region prefix are one contiguous run of
    slots, found by binary search. Shared criteria masks over the slots are memoised as packed
    bits until the next patch."""

    order: NDArray[np.intp]
    rank: NDArray[np.intp]
    columns: Columns
    """The library's columns in slot order; ``columns.region`` ascends (a patch that would
    change a region drops the index instead)."""
    masks: dict[tuple[Any, ...], Words | None] = field(default_factory=dict)
    _runs: dict[tuple[str, ...], list[tuple[int, int]]] = field(default_factory=dict)
    _descending: dict[str, NDArray[np.intp]] = field(default_factory=dict)

    @classmethod
    def build(cls, lib: Columns) -> "RegionIndex":
        order = np.argsort(lib.region, kind="stable").astype(np.intp)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order), dtype=np.intp)
        columns = Columns(**{name: getattr(lib, name)[order] for name in COLUMN_NAMES})
        return cls(order=order, rank=rank, columns=columns)

    @property
    def size(self) -> int:
        return len(self.order)

    def ranges(self, prefixes: Sequence[str]) -> list[tuple[int, int]]:
        """The runs of slots whose region starts with one of ``prefixes`` (all slots without),
        merged where prefixes nest or touch, in slot order."""
        key = tuple(prefixes)
        runs = self._runs.get(key)
        if runs is None:
            runs = self._runs[key] = self._find_runs(key)
        return runs

    def _find_runs(self, prefixes: tuple[str, ...]) -> list[tuple[int, int]]:
        if not prefixes:
            return [(0, self.size)] if self.size else []
        codes = self.columns.region
        runs: list[tuple[int, int]] = []
        for lo_code, hi_code in sorted(prefix_bounds(p) for p in prefixes):
            # bounds in the column's own dtype: a Python int would cast the whole column
            lo = int(np.searchsorted(codes, codes.dtype.type(lo_code)))
            hi = int(np.searchsorted(codes, codes.dtype.type(min(hi_code, 2**31 - 1))))
            if runs and lo <= runs[-1][1]:
                runs[-1] = (runs[-1][0], max(runs[-1][1], hi))
            elif hi > lo:
                runs.append((lo, hi))
        return runs

    def descending(self, name: str) -> NDArray[np.intp]:
        """The slots whose column ``name`` is > 0, largest value first (memoised until the next
        patch): the first of them a packed mask holds is the largest value among its rows."""
        found = self._descending.get(name)
        if found is None:
            values = getattr(self.columns, name)
            positive = np.flatnonzero(values > 0)
            found = positive[np.argsort(-values[positive], kind="stable")].astype(np.intp)
            self._descending[name] = found
        return found

    def packed(self, key: tuple[Any, ...], mask: Callable[[], Mask | None]) -> Words | None:
        """The memoised packed mask of ``key`` over every slot (None: the criterion is unset)."""
        if key not in self.masks:
            if len(self.masks) >= MAX_MASKS:
                self.masks.clear()  # bounded memory: a catalogue of unusual criteria starts over
            m = mask()
            self.masks[key] = None if m is None else pack(m)
        return self.masks[key]

    def forget_masks(self) -> None:
        """Values changed: the masks and orders of values no longer hold (regions did)."""
        self.masks.clear()
        self._descending.clear()

    def nbytes(self) -> int:
        arrays: list[NDArray[Any]] = [self.order, self.rank, *self._descending.values()]
        arrays += [getattr(self.columns, name) for name in COLUMN_NAMES]
        arrays += [m for m in self.masks.values() if m is not None]
        return sum(a.nbytes for a in arrays)


MAX_MASKS = 1024
"""Memoised packed masks per index, at most 125 MB at 1,000,000 projects; catalogues whose
products draw their criteria from a few hundred values stay well below it."""


def prefix_bounds(prefix: str) -> tuple[int, int]:
    """The region codes (six digits, as integers) that start with ``prefix``: [lo, hi)."""
    scale = 10 ** (6 - len(prefix))
    return int(prefix) * scale, (int(prefix) + 1) * scale
