"""Small SQL helpers shared by the query modules: the database's clock, dialect-specific INSERTs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from storage.models import Base, User, UTCDateTime

# SQLite's own clock with milliseconds, as UTC text ("now" is UTC in SQLite).
_SQLITE_NOW = text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")


async def db_now(session: AsyncSession) -> datetime:
    """The database's clock, read inside the session's transaction (timezone-aware, UTC).

    Leases are compared across machines, so they use this one clock rather than each machine's:
    a worker whose clock is minutes off then neither steals a live lease nor keeps a dead one.
    On PostgreSQL it is `now()`, the start of the transaction (stable within it); on SQLite the
    file lives on one machine, whose clock SQLite reads. Reading it starts the transaction, so on
    SQLite the time is taken once the write lock is held, not before a wait for it.
    """
    if dialect_of(session) == "postgresql":
        value = await session.scalar(select(func.now()))
        if not isinstance(value, datetime):
            raise TypeError(f"now() returned {value!r}")
        return value.astimezone(UTC)
    stamp = await session.scalar(_SQLITE_NOW)
    return datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC)


class DbClock(ColumnElement[datetime]):
    """The database's clock inside a statement (plus `offset` seconds): no round trip to read it.

    Same clock as `db_now`: `now()` on PostgreSQL; on SQLite its own "now", written in the text
    form `UTCDateTime` stores (microseconds, so comparisons with stored times stay correct).
    """

    inherit_cache = True
    type = UTCDateTime()
    _traverse_internals = [("offset", InternalTraversal.dp_clauseelement)]  # noqa: RUF012 - SQLAlchemy's

    def __init__(self, offset: ColumnElement[float] | None = None) -> None:
        self.offset = offset


@compiles(DbClock, "postgresql")
def _clock_postgresql(element: DbClock, compiler: SQLCompiler, **kw: Any) -> str:
    if element.offset is None:
        return "now()"
    return f"(now() + make_interval(secs => {compiler.process(element.offset, **kw)}))"


@compiles(DbClock, "sqlite")
def _clock_sqlite(element: DbClock, compiler: SQLCompiler, **kw: Any) -> str:
    shift = (
        "" if element.offset is None else f", '+' || ({compiler.process(element.offset, **kw)}) || ' seconds'"
    )
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now'{shift}) || '000')"


def dialect_of(session: AsyncSession) -> str:
    """The session's database: "postgresql" or "sqlite"."""
    bind = session.get_bind()
    return bind.dialect.name


def insert_for(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for `model` in the session's dialect, so `on_conflict_do_*` is available."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def ensure_user(session: AsyncSession, user_id: int, **values: Any) -> None:
    """Creates the user row if it is missing; a concurrent creator is not an error."""
    stmt = (
        insert_for(session, User)
        .values(id=user_id, **values)
        .on_conflict_do_nothing(index_elements=[User.id])
    )
    await session.execute(stmt)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (the async Result's type hides CursorResult.rowcount)."""
    return int(cast(CursorResult[Any], result).rowcount)
