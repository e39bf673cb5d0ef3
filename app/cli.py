"""The ``climatelib`` command: serve, migrate, keys, audit, documents, openapi, push, demo."""

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from app.config import get_settings

T = TypeVar("T")
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"

Command = Callable[[argparse.Namespace], int]


def _migrate(_args: argparse.Namespace) -> int:
    from app.migrate import upgrade

    upgrade(get_settings().database_url)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy import make_url
    from sqlalchemy.exc import DBAPIError

    from app import __version__
    from app.errors import is_unavailable
    from app.migrate import upgrade
    from app.server import uvicorn_options

    settings = get_settings()
    try:
        upgrade(settings.database_url)
    except (OSError, DBAPIError) as exc:
        # A database that is down must not keep the service from starting: it answers 503 (and
        # /readyz 503, which also checks the schema is at the newest migration) until the
        # database is back and migrated. Anything else a migration raises is a real failure.
        if isinstance(exc, DBAPIError) and not is_unavailable(exc):
            raise
        print(  # noqa: T201 - a command-line message, before logging is set up
            f"climatelib: the database does not answer ({type(exc).__name__}); serving without "
            "migrating: /readyz answers 503 until it is back and 'climatelib migrate' has run",
            file=sys.stderr,
        )
    # The workers read it: without Redis each one enforces its share of every rate limit.
    workers = args.workers or settings.workers
    os.environ["CLIMATELIB_WORKERS"] = str(workers)
    if workers > 1:
        _share_metrics()
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    print(  # noqa: T201 - uvicorn's own start-up lines are below the log level
        f"climatelib {__version__} serving http://{args.host}:{args.port} "
        f"({workers} worker{'s' if workers > 1 else ''}, database {database}); "
        f"API documentation at http://{args.host}:{args.port}/docs",
        flush=True,
    )
    uvicorn.run(
        "app.asgi:app",
        host=args.host,
        port=args.port,
        workers=workers,
        **uvicorn_options(settings),
    )
    return 0


def _with_session(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one transaction on the configured database, migrated first (a
    first key is often made before the first `serve`)."""
    from app.db import create_engine, session_factory
    from app.migrate import upgrade

    upgrade(get_settings().database_url)

    async def run() -> T:
        engine = create_engine(get_settings())
        try:
            async with session_factory(engine).begin() as session:
                await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _share_metrics() -> None:
    """Several workers: each counts into files of one directory (Prometheus multiprocess mode),
    and a scrape of any worker sums them all, so /metrics counts every request once."""
    directory = os.environ.get(METRICS_DIR)
    if directory:  # the operator's: counts of an earlier run must not add up into this one
        for kind in ("counter", "gauge", "histogram", "summary"):
            for stale in Path(directory).glob(f"{kind}_*.db"):
                stale.unlink()
    else:
        os.environ[METRICS_DIR] = tempfile.mkdtemp(prefix="climatelib-metrics-")


def _keys_create(args: argparse.Namespace) -> int:
    from app.errors import AppError
    from app.models import Role
    from app.models.base import utcnow
    from app.services import api_keys

    expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None

    async def work(session: Any) -> str:
        _, secret = await api_keys.create(
            session, name=args.name, role=Role(args.role), scope=args.scope, expires_at=expires
        )
        return secret

    try:
        print(_with_session(work))  # noqa: T201 - the key alone on stdout is the interface
    except AppError as exc:
        print(f"climatelib: {exc.detail}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _keys_list(args: argparse.Namespace) -> int:
    from app.services import api_keys

    async def work(session: Any) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            page = await api_keys.list_keys(
                session, cursor=cursor, limit=500, include_revoked=args.all
            )
            items += page.items
            if (cursor := page.next_cursor) is None:
                return items

    rows = [("id", "role", "scope", "prefix", "expires", "last used", "revoked", "name")]
    rows += [
        (
            str(k.id),
            k.role.value,
            k.scope or "-",
            k.prefix,
            _stamp(k.expires_at),
            _stamp(k.last_used_at),
            _stamp(k.revoked_at),
            k.name,
        )
        for k in _with_session(work)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))  # noqa: T201
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from app.errors import AppError
    from app.services import api_keys

    try:
        key_id = uuid.UUID(args.id)
    except ValueError:
        print(f"climatelib: not a key id: {args.id}", file=sys.stderr)  # noqa: T201
        return 2

    async def work(session: Any) -> None:
        await api_keys.revoke(session, api_keys.CONSOLE, key_id)

    try:
        _with_session(work)
    except AppError as exc:
        print(f"climatelib: {exc.detail}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"revoked {key_id}")  # noqa: T201
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    """Recompute the audit chain over the configured database (read only: nothing is migrated
    or written); with ``--head``, also check the chain still holds a head recorded earlier."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import create_engine, session_factory
    from app.repositories import audit as audit_repo
    from app.services import audit_chain

    recorded: tuple[int, str] | None = None
    if args.head:
        event_id, _, digest = args.head.partition(":")
        if not event_id.isdigit() or not digest:
            print(f"climatelib: --head is EVENT_ID:HASH, not {args.head}", file=sys.stderr)  # noqa: T201
            return 2
        recorded = (int(event_id), digest.lower())

    async def run() -> tuple[audit_chain.Verdict, str | None]:
        engine = create_engine(get_settings())
        try:
            async with session_factory(engine)() as session:
                verdict = await audit_chain.verify(session)
                held = None
                if recorded is not None:
                    seal = await audit_repo.seal_of(session, recorded[0])
                    held = seal.hash if seal else "no link"
                return verdict, held
        finally:
            await engine.dispose()

    try:
        verdict, held = asyncio.run(run())
    except SQLAlchemyError as exc:
        print(  # noqa: T201
            f"climatelib: cannot read the audit trail ({type(exc).__name__}); is the database "
            "migrated (climatelib migrate)?",
            file=sys.stderr,
        )
        return 2
    if not verdict.ok:
        print(  # noqa: T201
            f"climatelib: audit chain broken at event {verdict.broken_id}: {verdict.problem} "
            f"({verdict.checked} earlier links intact)",
            file=sys.stderr,
        )
        return 1
    if recorded is not None and held != recorded[1]:
        print(  # noqa: T201
            f"climatelib: the chain no longer holds the recorded head: event {recorded[0]} has "
            f"{held} now, recorded {recorded[1]} (the chain was rewritten since)",
            file=sys.stderr,
        )
        return 1
    algorithms = "+".join(verdict.algorithms) or "-"
    print(  # noqa: T201
        f"audit chain intact: {verdict.checked} events checked up to event {verdict.head_id} "
        f"({algorithms}); {verdict.unsealed} newer not sealed yet"
    )
    return 0


def _documents_sweep(args: argparse.Namespace) -> int:
    from app.db import create_engine, session_factory
    from app.migrate import upgrade
    from app.services import documents
    from app.storage import store_from_settings

    settings = get_settings()
    upgrade(settings.database_url)

    async def run() -> documents.Swept:
        engine = create_engine(settings)
        try:
            return await documents.sweep(
                session_factory(engine),
                store_from_settings(settings),
                older_than=timedelta(minutes=args.older_than),
                dry_run=args.dry_run,
            )
        finally:
            await engine.dispose()

    swept = asyncio.run(run())
    for name in swept.objects + swept.partial_writes:
        print(name)  # noqa: T201 - one name a line is the interface
    verb = "would remove" if args.dry_run else "removed"
    summary = (
        f"climatelib: {verb} {len(swept.objects)} stored object(s) no document points to and "
        f"{len(swept.partial_writes)} partial write(s) a crash left"
    )
    print(summary, file=sys.stderr)  # noqa: T201
    return 0


def _minutes(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1 minute")
    return value


def _openapi(args: argparse.Namespace) -> int:
    from app.main import create_app
    from app.openapi import render

    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(create_app()), encoding="utf-8")
    print(path)  # noqa: T201
    return 0


def _push(args: argparse.Namespace) -> int:
    from app.push import PushError, format_summary, load_items, push

    try:
        items = load_items(Path(args.file))
        if not items:
            raise PushError(f"{args.file} holds no projects")
        summary = push(
            items,
            url=args.url,
            key=args.key,
            batch_size=args.batch_size,
            progress=False if args.quiet else None,
        )
    except PushError as exc:
        if exc.summary is not None:
            print(format_summary(exc.summary))  # noqa: T201
        unsent = (
            f" ({exc.unsent} project(s) not sent; run again to send them)" if exc.unsent else ""
        )
        print(f"climatelib push: {exc}{unsent}", file=sys.stderr)  # noqa: T201
        return 2
    except (OSError, ValueError) as exc:
        print(f"climatelib push: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(format_summary(summary))  # noqa: T201
    return 0 if summary.ok else 1


def _project_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 10000")
    return int(text)


def _demo(args: argparse.Namespace) -> int:
    from app.demo import DEFAULT_PROJECTS, DEFAULT_SEED, DemoAlreadyLoaded, DemoError, run_demo
    from app.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    # A thousand access-log lines would bury the summary; warnings and errors still show.
    quiet = settings.model_copy(update={"log_level": "WARNING"})
    try:
        result = asyncio.run(
            run_demo(
                quiet,
                projects=args.projects or DEFAULT_PROJECTS,
                seed=DEFAULT_SEED if args.seed is None else args.seed,
            )
        )
    except DemoAlreadyLoaded as exc:
        print(f"climatelib demo: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except DemoError as exc:
        # Records made before the failure stay: a new run needs a fresh database.
        print(f"climatelib demo: failed part-way: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(result.summary())  # noqa: T201
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Help that states an option's default where it has one worth stating."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from app import __version__

    parser = argparse.ArgumentParser(
        prog="climatelib",
        description=(
            "National climate investment and financing project library. The database is "
            "CLIMATELIB_DATABASE_URL (default: the SQLite file ./climatelib.db)."
        ),
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"climatelib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="apply pending migrations, then serve the API", formatter_class=_Help
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=None, help="server processes (default CLIMATELIB_WORKERS, 1)"
    )
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser(
        "migrate", help="apply pending database migrations", formatter_class=_Help
    )
    migrate.set_defaults(func=_migrate)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser(
        "create", help="issue a key and print it alone on stdout", formatter_class=_Help
    )
    create.add_argument(
        "--role",
        required=True,
        choices=["admin", "reviewer", "region", "institution"],
        help="what the key may do",
    )
    create.add_argument(
        "--scope",
        default=None,
        help=(
            "what the key acts for: none for admin; a 2-digit province code for a reviewer (44); "
            "a GB/T 2260 region code (440304) or pilot:<pilot id> for a region; the institution's "
            "id for an institution"
        ),
    )
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--expires-in-days", type=int, default=None, metavar="DAYS", help="expire the key then"
    )
    create.set_defaults(func=_keys_create)
    listing = keys.add_parser(
        "list", help="list the keys (never their secrets)", formatter_class=_Help
    )
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(func=_keys_list)
    revoke = keys.add_parser(
        "revoke", help="revoke a key by its id (not the last admin key)", formatter_class=_Help
    )
    revoke.add_argument("id", help="the key's id, as `keys list` shows it")
    revoke.set_defaults(func=_keys_revoke)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="recompute the audit chain; name the first broken event (exit 1) or count the "
        "events checked (exit 0)",
        formatter_class=_Help,
    )
    verify.add_argument(
        "--head",
        metavar="EVENT_ID:HASH",
        help="a head recorded earlier from GET /api/v1/audit/head: check the chain still holds it",
    )
    verify.set_defaults(func=_audit_verify)

    docs = sub.add_parser("documents", help="the document store").add_subparsers(
        dest="documents", required=True
    )
    sweep = docs.add_parser(
        "sweep",
        help="remove stored objects that no document row points to (left by a process that died "
        "between storing an upload and committing its row) and partial writes (temporary "
        "upload files, unfinished S3 multipart uploads) a crash left; print their names",
        formatter_class=_Help,
    )
    sweep.add_argument(
        "--older-than",
        type=_minutes,
        default=60,
        metavar="MINUTES",
        help="only what was written at least this long ago (spares uploads under way)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="name them, remove nothing")
    sweep.set_defaults(func=_documents_sweep)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document", formatter_class=_Help)
    openapi.add_argument("--output", default="openapi/openapi.json", help="file to write")
    openapi.set_defaults(func=_openapi)

    push = sub.add_parser(
        "push",
        help="send a CSV/XLSX/JSON project file to a climatelib server",
        formatter_class=_Help,
    )
    push.add_argument("file", help="a .csv, .xlsx or .json file of projects")
    push.add_argument(
        "--url", required=True, help="the server, e.g. https://climatelib.example.org"
    )
    push.add_argument("--key", required=True, help="a region key of the server")
    push.add_argument(
        "--batch-size",
        type=int,
        default=500,
        choices=range(1, 1001),
        metavar="1..1000",
        help="projects per request",
    )
    push.add_argument("--quiet", action="store_true", help="no progress bar")
    push.set_defaults(func=_push)

    demo = sub.add_parser(
        "demo",
        help="load a realistic sample (institutions, products, projects, offers)",
        formatter_class=_Help,
    )
    demo.add_argument(
        "--projects",
        type=_project_count,
        default=None,
        metavar="1..10000",
        help="how many projects (default 300)",
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="the same seed gives the same sample (default fixed)"
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
