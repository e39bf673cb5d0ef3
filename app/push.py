"""``climatelib push``: send a region's project file to a remote climatelib in batches.

Each batch carries its own Idempotency-Key, kept across retries, so a retry after a lost answer
never applies a batch twice; the batch upsert by ``external_ref`` makes a whole re-run harmless.
"""

import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from app.services.tabular import read_table

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BATCH = 1000


class PushError(RuntimeError):
    """The push cannot go on (bad key, bad URL, unreadable file, a batch refused as a whole)."""


@dataclass
class Refusal:
    row: int
    external_ref: str | None
    problem: dict[str, Any]


@dataclass
class PushSummary:
    counts: Counter[str] = field(default_factory=Counter)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


def load_items(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number, item) pairs from a .json, .csv or .xlsx file."""
    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        parsed = json.loads(data)
        items = parsed["items"] if isinstance(parsed, dict) else parsed
        if not isinstance(items, list):
            raise PushError("A JSON file holds a list of projects or {'items': [...]}.")
        return list(enumerate(items, start=1))
    return list(read_table(data, path.name, None))


def _batches(
    items: Sequence[tuple[int, dict[str, Any]]], size: int
) -> Iterator[Sequence[tuple[int, dict[str, Any]]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _post_with_retries(
    client: httpx.Client, body: dict[str, Any], idempotency_key: str, attempts: int, backoff: float
) -> dict[str, Any]:
    last_error = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = client.post(
                "/api/v1/projects/batch", json=body, headers={"Idempotency-Key": idempotency_key}
            )
        except httpx.TransportError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code in RETRY_STATUSES:
            last_error = f"HTTP {response.status_code}"
            continue
        if response.status_code != 200:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise PushError(f"the server refused the batch: HTTP {response.status_code}: {detail}")
        result: dict[str, Any] = response.json()
        return result
    raise PushError(f"gave up after {attempts} attempts ({last_error})")


def push(
    items: Sequence[tuple[int, dict[str, Any]]],
    *,
    url: str,
    key: str,
    batch_size: int = 500,
    attempts: int = 5,
    backoff: float = 0.5,
    transport: httpx.BaseTransport | None = None,
    progress: bool = True,
) -> PushSummary:
    """Send the items in batches and add up what the server did with each."""
    summary = PushSummary()
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "climatelib-push"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=120, transport=transport) as client,
        tqdm(total=len(items), unit="project", disable=not progress, file=sys.stderr) as bar,
    ):
        for batch in _batches(items, min(batch_size, MAX_BATCH)):
            body = {"items": [item for _, item in batch]}
            answer = _post_with_retries(client, body, str(uuid.uuid4()), attempts, backoff)
            for (row, item), result in zip(batch, answer["results"], strict=True):
                summary.counts[result["status"]] += 1
                if result["status"] == "error":
                    summary.refused.append(
                        Refusal(row, item.get("external_ref"), result["problem"])
                    )
            bar.update(len(batch))
    return summary


def format_summary(summary: PushSummary) -> str:
    counts = summary.counts
    lines = [
        f"created {counts['created']}, updated {counts['updated']}, "
        f"unchanged {counts['unchanged']}, refused {counts['error']}"
    ]
    for refusal in summary.refused:
        errors = refusal.problem.get("errors") or []
        reasons = (
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['code']}" for e in errors
            )
            or f"{refusal.problem.get('code')}: {refusal.problem.get('detail')}"
        )
        lines.append(
            f"  row {refusal.row} ({refusal.external_ref or 'no external_ref'}): {reasons}"
        )
    return "\n".join(lines)
