"""PostgreSQL test databases put back to the template's state after a test, for the next one.

Copying the template per test (CREATE DATABASE ... TEMPLATE) and dropping the copy after costs
over a second a test: PostgreSQL's DROP DATABASE forces an immediate checkpoint of the whole
cluster. Putting a used copy back is far cheaper, since a test touches few tables: the tables
whose size or (for the rows the migrations seed) content differs from the template's are
truncated and seeded again, the sequences set back, the statistics a test may have gathered
forgotten. A copy whose schema, privileges or database settings a test changed (a migration test,
a GRANT) is not put back: it is dropped, and the next test gets a fresh copy.
"""

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

# Everything about the database that a test could change other than the rows, in one text.
_SCHEMA = """
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'
), rel AS (
    SELECT c.* FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
)
SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
    SELECT format('ns %s %s %s', nspname, nspowner, nspacl) FROM pg_namespace
        WHERE oid IN (SELECT oid FROM ns)
    UNION ALL SELECT format('rel %s %s %s %s %s %s', oid::regclass, relkind, relowner, relacl,
        reloptions, relrowsecurity) FROM rel
    UNION ALL SELECT format('col %s %s %s %s %s %s', attrelid::regclass, attname, atttypid::regtype,
        attnotnull, pg_get_expr(d.adbin, d.adrelid), attacl)
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
        WHERE attrelid IN (SELECT oid FROM rel) AND attnum > 0 AND NOT attisdropped
    UNION ALL SELECT format('con %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT format('idx %s', pg_get_indexdef(indexrelid))
        FROM pg_index WHERE indrelid IN (SELECT oid FROM rel)
    UNION ALL SELECT format('trg %s %s', pg_get_triggerdef(oid), tgenabled)
        FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT format('view %s %s', oid::regclass, pg_get_viewdef(oid))
        FROM rel WHERE relkind IN ('v', 'm')
    UNION ALL SELECT format('pol %s %s', polrelid::regclass, polname) FROM pg_policy
    UNION ALL SELECT format('fn %s %s %s', p.oid::regprocedure, md5(prosrc), proacl)
        FROM pg_proc p WHERE pronamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT format('type %s %s', t.oid::regtype, t.typacl)
        FROM pg_type t WHERE typnamespace IN (SELECT oid FROM ns) AND typrelid = 0
    UNION ALL SELECT format('enum %s %s %s', enumtypid::regtype, enumlabel, enumsortorder)
        FROM pg_enum
    UNION ALL SELECT format('ext %s %s', extname, extversion) FROM pg_extension
    UNION ALL SELECT format('db %s %s %s', datacl, datallowconn, datconnlimit)
        FROM pg_database WHERE datname = current_database()
    UNION ALL SELECT format('set %s %s', setrole, setconfig) FROM pg_db_role_setting
        WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS lines(line)
"""

_TABLES = """
SELECT c.oid::regclass::text, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""


def _content(table: str) -> str:  # table: a name read from pg_class, as regclass quotes it
    rows = "coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')"
    return f"SELECT md5({rows}) FROM {table} r"  # noqa: S608


@dataclass(frozen=True)
class Template:
    """What a copy of the template holds before a test: its schema, its tables' sizes, the rows
    the migrations seeded and the sequences' positions."""

    schema: str
    sizes: dict[str, int]
    seeds: dict[str, tuple[str, bytes]]  # table: (its rows' digest, the rows as binary COPY)
    sequences: list[tuple[str, int, bool]]


async def read_template(url: str) -> Template:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        schema = await conn.fetchval(_SCHEMA)
        sizes = dict(await conn.fetch(_TABLES))
        seeds = {}
        for table, size in sizes.items():
            if size:
                data = bytearray()
                await conn.copy_from_table(table, output=_appender(data), format="binary")
                seeds[table] = (await conn.fetchval(_content(table)), bytes(data))
        sequences = [
            (row[0], row[1] if row[1] is not None else row[2], row[1] is not None)
            for row in await conn.fetch(
                "SELECT format('%I.%I', schemaname, sequencename), last_value, start_value "
                "FROM pg_sequences"
            )
        ]
    finally:
        await conn.close()
    return Template(schema, sizes, seeds, sequences)


def _appender(data: bytearray) -> Callable[[bytes], Awaitable[None]]:
    async def append(chunk: bytes) -> None:
        data.extend(chunk)

    return append


async def put_back(admin_url: str, url: str, database: str, template: Template) -> bool:
    """Puts a used copy back to the template's state; False when it cannot be (drop it then)."""
    try:
        return await _close_sessions(admin_url, database) and await _restore(url, template)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False


async def _close_sessions(admin_url: str, database: str) -> bool:
    admin = await asyncpg.connect(admin_url, timeout=5)
    try:
        # A test's leftover sessions (and autovacuum) would hold locks or show in pg_stat_activity.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        for _ in range(100):
            others = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND backend_type = 'client backend'",
                database,
            )
            if not others:
                break
            await admin.execute("SELECT pg_sleep(0.02)")
        else:
            return False
    finally:
        await admin.close()
    return True


async def _restore(url: str, template: Template) -> bool:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        if await conn.fetchval(_SCHEMA) != template.schema:
            return False
        sizes = dict(await conn.fetch(_TABLES))
        if sizes.keys() != template.sizes.keys():
            return False
        dirty = [table for table, size in sizes.items() if size != template.sizes[table]]
        for table, (digest, _) in template.seeds.items():
            if table not in dirty and await conn.fetchval(_content(table)) != digest:
                dirty.append(table)
        async with conn.transaction():
            # Nobody waits on this database's durability; the commit need not wait for the disk.
            await conn.execute("SET LOCAL synchronous_commit = off; SET LOCAL lock_timeout = '5s'")
            # The seeds go back as they were, without the triggers that log a change.
            await conn.execute("SET LOCAL session_replication_role = replica")
            if dirty:
                # CASCADE: truncating a referenced table truncates the tables referring to it.
                await conn.execute(f"TRUNCATE {', '.join(dirty)} CASCADE")
                for table, (_, data) in template.seeds.items():
                    empty = f"SELECT NOT EXISTS (SELECT FROM {table})"  # noqa: S608
                    if await conn.fetchval(empty):
                        await conn.copy_to_table(table, source=io.BytesIO(data), format="binary")
                await conn.execute(
                    "DELETE FROM pg_statistic WHERE starelid IN (SELECT c.oid FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')"
                )
            await conn.executemany("SELECT setval($1::regclass, $2, $3)", template.sequences)
        await conn.execute("SELECT pg_stat_reset()")
        # What the tables hold now must be what the template holds, to the page.
        if dict(await conn.fetch(_TABLES)) != template.sizes:
            return False
    finally:
        await conn.close()
    return True
