"""A large import against a real server on PostgreSQL does not hold up another region's writes:
no write path queues behind a row that every project write shares, and the import job's worker
(in the same process) leaves the event loop to other requests between its chunks."""

import threading
import time

import httpx
import pytest

from tests.api.bulk.helpers import IMPORT, wait_for_job
from tests.api.bulk.test_import import row, to_csv
from tests.conftest import Keys
from tests.factories import project_payload
from tests.uvicorn_server import uvicorn_server

ROWS = 20_000


class Prober(threading.Thread):
    """Single creates from another region, one after the other, until stopped (at most 300)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.stopped = threading.Event()
        self.answers: list[tuple[float, float, int]] = []  # (started, seconds, status)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as http:
            for n in range(300):
                if self.stopped.is_set():
                    return
                started = time.monotonic()
                answer = http.post(
                    "/api/v1/projects",
                    json=project_payload(region_code="110101", external_ref=f"B-{n}"),
                )
                self.answers.append((started, time.monotonic() - started, answer.status_code))
                self.stopped.wait(0.1)


async def test_another_regions_create_answers_within_a_second_during_a_20000_row_import(
    db_kind: str, database_url: str, keys: Keys
) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: an import holds the database's write lock")
    importing = await keys.region("440304")
    other = await keys.region("110101")
    data = to_csv([row(n) for n in range(ROWS)])
    with uvicorn_server(database_url, CLIMATELIB_RATE_LIMITS="false") as server:
        prober = Prober(server.url, other)
        prober.start()
        try:
            started = time.monotonic()
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
                answer = await http.post(
                    IMPORT, files={"file": ("projects.csv", data, "text/csv")}, headers=importing
                )
                assert answer.status_code == 202, answer.text[:500]
                job = await wait_for_job(http, importing, answer.headers["location"], seconds=120)
            finished = time.monotonic()
        finally:
            prober.stopped.set()
            prober.join(timeout=30)
    assert job["status"] == "succeeded", job
    assert job["summary"]["created"] == ROWS
    during = [a for a in prober.answers if started <= a[0] and a[0] + a[1] <= finished]
    assert len(during) >= 3, f"the import took {finished - started:.1f} s"
    assert [status for _, _, status in prober.answers] == [201] * len(prober.answers)
    slowest = max(seconds for _, seconds, _ in prober.answers)
    assert slowest < 1, f"a create took {slowest:.2f} s during the import"
