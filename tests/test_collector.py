"""The garbage collector while the app serves (app/collector.py): long-lived objects frozen out
of the scans and young collections rare, from start-up to shutdown, and as found after it."""

import gc

from fastapi import FastAPI

from app import collector
from app.config import Settings
from app.main import create_app


async def test_the_collector_is_settled_while_serving_and_restored_after(
    settings: Settings,
) -> None:
    before = (gc.get_threshold(), gc.get_freeze_count())
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_threshold()[0] == collector.YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[0][1:]
        assert gc.get_freeze_count() > before[1]
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before[0], 0)


def test_frozen_objects_are_still_freed_by_reference_counting() -> None:
    class Held:
        pass

    held = [Held()]
    with collector.settled():
        assert gc.get_freeze_count() > 0
        counted = gc.get_freeze_count()
        del held[0]
        assert gc.get_freeze_count() < counted
    assert gc.get_freeze_count() == 0
