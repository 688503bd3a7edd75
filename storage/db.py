"""The database handle: engine, session factory, SQLite tuning and Alembic migrations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# How long an SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30.0
# An arbitrary constant: the PostgreSQL advisory lock that serialises concurrent start-up migrations.
MIGRATION_LOCK_KEY = 0x70686F74  # "phot"
# Execution option marking a read-only engine view (see Database.read_session).
READ_ONLY = "phototalk_read_only"


def migrations_dir() -> Path:
    """Where the Alembic scripts live, found through the installed `migrations` package."""
    import migrations

    # __path__ rather than __file__: an editable install made before migrations/ had an
    # __init__.py imports it as a namespace package, whose __file__ is None.
    for entry in migrations.__path__:
        if (Path(entry) / "env.py").is_file():
            return Path(entry).resolve()
    raise RuntimeError(f"Alembic scripts not found in {list(migrations.__path__)}")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at phototalk's migrations, from any working directory."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        # passed as an attribute, not an ini option, so a '%' in a password needs no escaping
        config.attributes["url"] = url
    return config


class Database:
    """One database: an async engine and a session factory; parameterised only by its URL.

    On SQLite every transaction starts with `BEGIN IMMEDIATE`: writers are serialised by SQLite's
    own file lock (waiting up to the busy timeout), so processes sharing one file never read a
    stale snapshot and then write over each other — that is the single-writer job claim.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5, **engine_kw: Any) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_dialect().name
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            # a fresh checkout has no data/ folder yet; SQLite would refuse to create the file
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kw: dict[str, Any] = {"echo": echo, **engine_kw}
        if self.is_sqlite:
            kw.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        else:
            kw.setdefault("pool_size", pool_size)
            # Pre-ping: without it, a connection killed by a database restart or failover fails
            # the next transaction on every process — a user's command right after a restart got
            # the generic apology (tests/load/test_faults.py). The ping costs a round trip per
            # checkout. Recycling keeps idle connections younger than typical firewall timeouts.
            kw.setdefault("pool_pre_ping", True)
            kw.setdefault("pool_recycle", 1800)
        self.engine: AsyncEngine = create_async_engine(url, **kw)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        # Reads need no write lock: on SQLite they begin DEFERRED and never block writers (WAL).
        self.read_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded SQLite default."""
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks with SKIP LOCKED are available)."""
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A new session; use as `async with db.session() as s, s.begin(): ...`.

        On SQLite its transaction holds the database's write lock until it ends: keep it short,
        and never open another session (or call JobQueue) inside it — that one would wait for this
        one's lock. Use `read_session()` for reads.
        """
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only; on SQLite it does not queue behind writers."""
        async with self.read_sessions() as session:
            yield session

    async def migrate(self, revision: str = "head") -> None:
        """Brings the schema up to `revision`; safe to call at every start-up, from many processes."""
        config = alembic_config()

        def upgrade(connection: Connection) -> None:
            if connection.dialect.name == "postgresql":
                # two replicas starting together: the second waits, then finds nothing to do
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        async with self.engine.begin() as connection:
            await connection.run_sync(upgrade)

    async def downgrade(self, revision: str = "base") -> None:
        """Takes the schema down to `revision` (tests and operators only)."""
        config = alembic_config()

        def run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

        async with self.engine.begin() as connection:
            await connection.run_sync(run)

    async def dispose(self) -> None:
        """Closes every pooled connection."""
        await self.engine.dispose()


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, foreign keys, and our own `BEGIN IMMEDIATE` on every connection."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control away from the sqlite3 module (see SQLAlchemy's SQLite notes)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction can then never
        # fail with SQLITE_BUSY half-way, and two processes can never claim the same job.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _enable_wal(cursor: Any) -> None:
    """Switches the file to WAL once (the mode persists in the file).

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once, without
    its busy handler, when several processes open a brand-new file together (replicas starting
    side by side): retry until the busy timeout instead of failing the start-up.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, as adapted by aiosqlite
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_migrations(url: str, revision: str = "head") -> None:
    """Synchronous helper for command lines: migrate the database at `url`."""

    async def go() -> None:
        db = Database(url)
        try:
            await db.migrate(revision)
        finally:
            await db.dispose()

    asyncio.run(go())
