"""The committed OpenAPI document is exactly what the app serves, and every operation is tidy."""

from pathlib import Path

from app.main import create_app
from app.openapi import render

SPEC = Path(__file__).parent.parent / "openapi" / "openapi.json"


def test_committed_spec_matches_app() -> None:
    assert SPEC.read_text(encoding="utf-8") == render(create_app()), (
        "openapi/openapi.json is stale: run `climatelib openapi` and commit the result"
    )


def test_every_operation_has_id_summary_and_tag() -> None:
    spec = create_app().openapi()
    seen = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("operationId"), where
            assert "__" not in op["operationId"], f"{where}: generated operationId"
            assert op.get("summary"), where
            assert op.get("tags"), where
            assert op["operationId"] not in seen, where
            seen.add(op["operationId"])
