"""An export that fails after its answer has started never ends like a whole file.

A real uvicorn server (in this process, so that the database can be made to fail) streams the
export; the list query fails once the 200 is on its way. The client must be able to tell: the
connection closes without the chunked body's end (httpx raises), or, had the failure come before
the first byte, a 5xx problem. The failure is logged.
"""

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.api.bulk.helpers import EXPORT
from tests.test_push import server_url  # noqa: F401 (the fixture: uvicorn in a thread)


@contextmanager
def failing_project_reads() -> Iterator[None]:
    """Every statement that reads the projects table fails, as a database gone mid-answer."""

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM projects" in statement:
            raise RuntimeError("the database went away (injected)")

    event.listen(Engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", fail)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# An abandoned XLSX export leaves openpyxl's write-only sheet writer (and its temporary file) to
# the garbage collector, which then reports the writer's failure to close: collected and ignored
# here, until the export closes the workbook it gives up on.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_an_export_failing_midway_is_an_incomplete_transfer(
    server_url: str,  # noqa: F811
    format: str,
) -> None:
    records = Records()
    logging.getLogger("climatelib.export").addHandler(records)
    try:
        with failing_project_reads():
            with httpx.Client(base_url=server_url, timeout=30) as http:
                with http.stream("GET", EXPORT, params={"format": format}) as response:
                    if response.status_code >= 500:
                        assert response.headers["content-type"] == "application/problem+json"
                        return
                    assert response.status_code == 200
                    with pytest.raises(httpx.RemoteProtocolError):
                        response.read()
    finally:
        logging.getLogger("climatelib.export").removeHandler(records)
        gc.collect()
    assert any("export aborted" in message for message in records.messages)
