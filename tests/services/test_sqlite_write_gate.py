"""SQLite's writers take the write lock in the order they asked for it (app.db.SqliteWriteGate):
a run of back-to-back bulk transactions, like an import job's chunks, lets a writer that asked
meanwhile in at the next boundary, whether it is of the same process (the same engine) or of
another one (a second engine on the same file: its own gate, its own connections)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import BULK_WRITE, WRITE, create_engine, session_factory

CHUNKS = 8
CHUNK_S = 0.1


@pytest.fixture
async def engines(db_kind: str, database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    if db_kind != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database: the gate is SQLite's alone")
    made = [create_engine(Settings(database_url=database_url)) for _ in range(2)]
    yield made
    for engine in made:
        await engine.dispose()


async def write(
    engine: AsyncEngine,
    name: str,
    seen: list[str],
    hold_s: float,
    entered: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """One write transaction that holds the lock ``hold_s``; ``seen`` gets ``name`` once in."""
    async with session_factory(engine)() as session:
        await session.connection(execution_options=options)
        seen.append(name)
        if entered is not None:
            entered.set()
        await asyncio.sleep(hold_s)
        await session.commit()


async def chunks_and_writers(job: AsyncEngine, writers: AsyncEngine) -> list[str]:
    """A job of CHUNKS back-to-back bulk transactions on ``job``; three writers on ``writers``
    ask for the lock one after another while its second chunk runs."""
    seen: list[str] = []
    second = asyncio.Event()

    async def run_job() -> None:
        for n in range(CHUNKS):
            await write(job, f"chunk{n}", seen, CHUNK_S, second if n == 1 else None, **BULK_WRITE)

    task = asyncio.create_task(run_job())
    await second.wait()
    others = []
    for n in range(3):
        others.append(asyncio.create_task(write(writers, f"writer{n}", seen, 0.0, **WRITE)))
        await asyncio.sleep(0.01)
    await asyncio.gather(task, *others)
    return seen


async def test_writers_of_the_same_process_go_in_order_at_the_next_chunk(
    engines: list[AsyncEngine],
) -> None:
    seen = await chunks_and_writers(engines[0], engines[0])
    assert seen[:5] == ["chunk0", "chunk1", "writer0", "writer1", "writer2"]
    assert seen[5:] == [f"chunk{n}" for n in range(2, CHUNKS)]


async def test_a_writer_of_another_process_gets_in_within_a_chunk_or_two(
    engines: list[AsyncEngine],
) -> None:
    seen = await chunks_and_writers(engines[0], engines[1])
    # The other engine's writers try every 2 ms and the job leaves the lock free for 10 ms
    # between chunks, so they go between chunks and do not wait for the job to end.
    for n in range(3):
        assert seen.index(f"writer{n}") < seen.index("chunk4"), seen
