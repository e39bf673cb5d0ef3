"""Document queries. Which documents a caller may see is decided here and nowhere else.

``readable_clause(principal)``: a document is seen by whoever may read its project when it is
``public``; a ``restricted`` one only by the project's region (the key's reach), its province's
reviewer, the administrator, and institutions whose offer on the project the owner accepted
(accepted or any later step: the same offers that show them the contact).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import Document, DocumentVisibility, Engagement, Project, Role
from app.repositories import projects
from app.repositories.engagements import CONTACT_STATUSES
from app.repositories.pagination import SortKey, next_cursor, paginate
from app.repositories.reach import reach_clause

SORT = [SortKey(Document.created_at, kind=datetime), SortKey(Document.id, kind=uuid.UUID)]


def restricted_clause(principal: Principal) -> ColumnElement[bool]:
    """Who, besides the readers of the project, sees its restricted documents."""
    if principal.role is Role.admin:
        return true()
    if principal.role in (Role.region, Role.reviewer):
        return reach_clause(principal)
    institution = principal.institution_id
    if institution is not None:
        return exists().where(
            Engagement.project_id == Project.id,
            Engagement.institution_id == institution,
            Engagement.status.in_(CONTACT_STATUSES),
        )
    return false()


def readable_clause(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause (over documents joined to their project) of what the caller may see."""
    return projects.readable_clause(principal) & or_(
        Document.visibility == DocumentVisibility.public, restricted_clause(principal)
    )


def readable(principal: Principal) -> Select[Any]:
    return (
        select(Document)
        .join(Project, Project.id == Document.project_id)
        .where(readable_clause(principal))
    )


async def get_readable(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Document | None:
    document: Document | None = await session.scalar(
        readable(principal).where(Document.id == document_id)
    )
    return document


async def get_of_project(
    session: AsyncSession, project_id: uuid.UUID, document_id: uuid.UUID
) -> Document | None:
    """A document of this project, whoever may see it (for a report citing it)."""
    return await session.scalar(
        select(Document).where(Document.id == document_id, Document.project_id == project_id)
    )


async def list_readable(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[Document], str | None]:
    stmt = readable(principal).where(Document.project_id == project_id)
    rows = list((await session.scalars(paginate(stmt, SORT, cursor, limit, "documents"))).all())
    return rows[:limit], next_cursor(rows, SORT, limit, "documents", lambda d: (d.created_at, d.id))


async def add(session: AsyncSession, document: Document) -> None:
    session.add(document)
    await session.flush()


async def recorded_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these storage keys a document row points to."""
    if not keys:
        return set()
    found = await session.scalars(
        select(Document.storage_key).where(Document.storage_key.in_(keys))
    )
    return set(found.all())
