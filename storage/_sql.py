"""Small SQL helpers shared by the query modules (dialect-specific INSERT … ON CONFLICT)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, User


def insert_for(session: AsyncSession, model: type[Base]) -> Insert:
    """An INSERT for `model` in the session's dialect, so `on_conflict_do_*` is available."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(model)  # type: ignore[return-value]


async def ensure_user(session: AsyncSession, user_id: int, **values: Any) -> None:
    """Creates the user row if it is missing; a concurrent creator is not an error."""
    stmt = (
        insert_for(session, User)
        .values(id=user_id, **values)
        .on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=[User.id]
        )
    )
    await session.execute(stmt)
