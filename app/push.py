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
    """The push cannot go on (bad key, bad URL, unreadable file, a batch refused as a whole).

    ``summary`` holds what the batches sent before the failure did; ``unsent`` counts the items
    that were not applied (a re-run sends them, and the rest comes back unchanged).
    """

    def __init__(self, message: str, summary: "PushSummary | None" = None, unsent: int = 0):
        super().__init__(message)
        self.summary = summary
        self.unsent = unsent


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


def load_items(path: Path) -> list[tuple[int, Any]]:
    """(row number, item) pairs from a .json, .csv or .xlsx file."""
    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        parsed = json.loads(data)
        items = parsed.get("items") if isinstance(parsed, dict) else parsed
        if not isinstance(items, list):
            raise PushError("A JSON file holds a list of projects or {'items': [...]}.")
        return list(enumerate(items, start=1))
    return list(read_table(data, path.name, None))


def _batches(items: Sequence[tuple[int, Any]], size: int) -> Iterator[Sequence[tuple[int, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _retry_delay(response: httpx.Response | None, attempt: int, backoff: float) -> float:
    """Exponential backoff, or the server's Retry-After (seconds) when it sends one."""
    delay = backoff * 2.0**attempt
    if response is not None:
        try:
            delay = max(delay, float(response.headers.get("retry-after", "")))
        except ValueError:
            pass
    return min(delay, 60.0)


def _refusal_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(body, dict):
        return response.text[:200]
    return f"{body.get('code', '')}: {body.get('detail', '')}".strip(": ")


def _post_with_retries(
    client: httpx.Client,
    body: dict[str, Any],
    idempotency_key: str,
    attempts: int,
    backoff: float,
) -> dict[str, Any]:
    """POST one batch; transport failures and 408/409/425/429/5xx are retried with the same key,
    so a batch whose answer was lost is replayed by the server, never applied twice."""
    last_error = ""
    for attempt in range(attempts):
        response: httpx.Response | None = None
        try:
            response = client.post(
                "/api/v1/projects/batch", json=body, headers={"Idempotency-Key": idempotency_key}
            )
        except httpx.TransportError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code not in RETRY_STATUSES:
                break
            last_error = f"HTTP {response.status_code} {_refusal_detail(response)}".strip()
        if attempt + 1 < attempts:
            time.sleep(_retry_delay(response, attempt, backoff))
    else:
        raise PushError(f"gave up after {attempts} attempts ({last_error})")
    assert response is not None  # noqa: S101 - the loop breaks only with an answer
    if response.status_code != 200:
        raise PushError(
            f"the server refused the batch: HTTP {response.status_code}: "
            f"{_refusal_detail(response)}"
        )
    try:
        result = response.json()
    except ValueError as exc:
        raise PushError("the server's answer is not JSON: is --url a climatelib?") from exc
    if not isinstance(result, dict) or not isinstance(result.get("results"), list):
        raise PushError("the server's answer has no 'results': is --url a climatelib?")
    if len(result["results"]) != len(body["items"]):
        raise PushError("the server answered a different number of results than items sent")
    return result


def push(
    items: Sequence[tuple[int, Any]],
    *,
    url: str,
    key: str,
    batch_size: int = 500,
    attempts: int = 5,
    backoff: float = 0.5,
    transport: httpx.BaseTransport | None = None,
    progress: bool | None = None,
) -> PushSummary:
    """Send the items in batches and add up what the server did with each.

    ``progress``: show a bar on stderr (None: only when stderr is a terminal).
    """
    summary = PushSummary()
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "climatelib-push"}
    sent = 0
    with (
        httpx.Client(base_url=url, headers=headers, timeout=120, transport=transport) as client,
        tqdm(
            total=len(items),
            unit="project",
            disable=None if progress is None else not progress,
            file=sys.stderr,
        ) as bar,
    ):
        for batch in _batches(items, max(1, min(batch_size, MAX_BATCH))):
            body = {"items": [item for _, item in batch]}
            try:
                answer = _post_with_retries(client, body, str(uuid.uuid4()), attempts, backoff)
            except PushError as exc:
                raise PushError(str(exc), summary, len(items) - sent) from exc
            for (row, item), result in zip(batch, answer["results"], strict=True):
                summary.counts[result["status"]] += 1
                if result["status"] == "error":
                    ref = item.get("external_ref") if isinstance(item, dict) else None
                    summary.refused.append(Refusal(row, ref, result.get("problem") or {}))
            sent += len(batch)
            bar.update(len(batch))
    return summary


def _where(loc: Sequence[Any]) -> str:
    """A problem location without the request's own prefix: owner.uscc, not body.items.3.…"""
    parts = list(loc)
    if parts[:2] == ["body", "items"] and len(parts) > 2:
        parts = parts[3:]
    elif parts[:1] == ["body"]:
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "item"


def format_summary(summary: PushSummary) -> str:
    """What the server did, one line, then one line per refused item with its reasons."""
    counts = summary.counts
    lines = [
        f"created {counts['created']}, updated {counts['updated']}, "
        f"unchanged {counts['unchanged']}, refused {counts['error']}"
    ]
    for refusal in summary.refused:
        errors = refusal.problem.get("errors") or []
        reasons = "; ".join(f"{_where(e.get('loc', []))}: {e.get('code')}" for e in errors) or (
            f"{refusal.problem.get('code')}: {refusal.problem.get('detail')}"
        )
        lines.append(
            f"  row {refusal.row} ({refusal.external_ref or 'no external_ref'}): {reasons}"
        )
    return "\n".join(lines)
