"""Webhook delivery: latency from commit to receiver, and outbox throughput.

``python -m bench.webhooks --db postgresql`` (``--db sqlite`` for SQLite; ``--events`` for the
throughput run's size)

In-process: the app's own webhook worker (as ``serve`` runs it) on a throwaway migrated database,
one subscription, and a receiver on 127.0.0.1 (a threaded ``http.server``) that answers 204 and
notes when each message arrived. Events are written as the writers write them: outbox rows in a
transaction of their own, whose commit wakes the worker.

- **Latency**: one event per transaction, one at a time (each awaited at the receiver before the
  next), from the event's timestamp (stamped in the writing transaction, just before its commit)
  to its arrival: p50, p90, max. A worker in another process than the writer is woken by its poll
  instead (``CLIMATELIB_WEBHOOK_POLL_INTERVAL_S``, 1 s by default), which adds half of it on
  average.
- **Throughput**: ``--events`` events written in transactions of 100 as fast as they go, from the
  first commit to the last arrival: events delivered per second (fan-out, signing, POST, and the
  settle of each delivery with its attempt row).
"""

import argparse
import asyncio
import json
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.auth import Principal
from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from app.models import Role
from app.repositories import webhooks as repo
from app.schemas.webhook import WebhookCreate
from app.services import api_keys, webhooks
from bench.common import RESULTS, machine, throwaway_database


@dataclass
class Figure:
    db: str
    latency_events: int
    latency_p50_ms: float
    latency_p90_ms: float
    latency_max_ms: float
    throughput_events: int
    throughput_s: float
    events_per_s: float


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.stamped: dict[int, float] = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)


def receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            now = time.time()
            n = int(body["data"]["n"])
            stamped = datetime.fromisoformat(body["timestamp"]).timestamp()
            with arrivals.cond:
                arrivals.at.setdefault(n, now)
                arrivals.stamped.setdefault(n, stamped)
                arrivals.cond.notify_all()
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        request_queue_size = 256
        daemon_threads = True

    return Server(("127.0.0.1", 0), Handler)


async def wait_for(arrivals: Arrivals, count: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while len(arrivals.at) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(arrivals.at)} of {count} events arrived")
        await asyncio.sleep(0.001)


async def run(kind: str, url: str, latency_events: int, events: int) -> Figure:
    arrivals = Arrivals()
    server = receiver(arrivals)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = Settings(
        database_url=url,
        log_level="WARNING",
        rate_limits=False,
        import_worker=False,
        webhook_allow_private=True,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            sessions = app.state.sessions
            async with sessions.begin() as session:
                await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                key, _ = await api_keys.create(session, name="bench", role=Role.admin, scope=None)
            admin = Principal(role=Role.admin, key_id=key.id)
            hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
            body = WebhookCreate(url=hook_url, events=["project.approved"])
            vetted = await webhooks.vet(admin, body, allow_private=True)
            async with sessions.begin() as session:
                await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                await webhooks.create(session, admin, vetted)

            async def write(numbers: range) -> None:
                async with sessions.begin() as session:
                    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                    rows = [
                        webhooks.outbox_row(
                            "project.approved", {"n": n, "pad": uuid.uuid4().hex}, {}
                        )
                        for n in numbers
                    ]
                    await repo.enqueue(session, rows)
                    webhooks.wake_workers(session)

            for n in range(latency_events):
                await write(range(n, n + 1))
                await wait_for(arrivals, n + 1)
            waits = sorted(
                (arrivals.at[n] - arrivals.stamped[n]) * 1000 for n in range(latency_events)
            )
            start = latency_events
            began = time.time()
            for first in range(start, start + events, 100):
                await write(range(first, min(first + 100, start + events)))
            await wait_for(arrivals, start + events)
            took = max(arrivals.at[n] for n in range(start, start + events)) - began
    finally:
        server.shutdown()
        server.server_close()
    return Figure(
        db=kind,
        latency_events=latency_events,
        latency_p50_ms=round(statistics.median(waits), 1),
        latency_p90_ms=round(waits[int(len(waits) * 0.9) - 1], 1),
        latency_max_ms=round(waits[-1], 1),
        throughput_events=events,
        throughput_s=round(took, 2),
        events_per_s=round(events / took, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--latency-events", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with throwaway_database(args.db) as db:
        upgrade(db.url)
        figure = asyncio.run(run(args.db, db.url, args.latency_events, args.events))
    result = {"figure": asdict(figure), "machine": machine()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"webhooks-{args.db}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(asdict(figure), indent=2))


if __name__ == "__main__":
    main()
