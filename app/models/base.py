"""Declarative base with the constraint naming convention and the shared column types."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from sqlalchemy import DateTime, Index, MetaData, Numeric, String, TypeDecorator, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def only_on(dialect: str, index: Index) -> Index:
    """An index that only one kind of database has (``ddl_if``), marked so that comparing the
    models with the migrated schema of the other kind leaves it out (``app.migrate``)."""
    index.info["dialect"] = dialect
    return index.ddl_if(dialect=dialect)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class db_now(FunctionElement[datetime]):
    """The database's clock at the moment a row is written, for stamps a change feed reads
    (``updated_since``, docs/architecture.md *Change feeds*): no application host's clock, so a
    host whose clock runs behind cannot stamp a change below what readers have already passed.

    PostgreSQL: ``clock_timestamp()`` read after the transaction has its id, so a transaction
    that stamps a row is already listed with its ``xact_start`` in ``pg_stat_activity`` when
    it reads the clock (a reader's watermark counts it). SQLite: ``'now'`` (millisecond
    resolution) inside the writing statement, i.e. under the database's write lock, stored in
    the text form SQLAlchemy stores (microseconds), so that text comparisons stay exact.
    """

    type = UTCDateTime()
    inherit_cache = True


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: SQLCompiler, **kw: object) -> str:
    # CASE evaluates its condition first: the id is assigned before the clock is read.
    return "(CASE WHEN pg_current_xact_id() IS NOT NULL THEN clock_timestamp() END)"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: SQLCompiler, **kw: object) -> str:
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


Money = Annotated[Decimal, mapped_column(Numeric(18, 2))]
UUIDPk = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=new_id)]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, str: String}
