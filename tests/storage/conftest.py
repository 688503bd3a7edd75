"""Fixtures for storage tests: a migrated database on SQLite and PostgreSQL, its queue, a policy.

Running Alembic for every test's fresh database would cost most of the suite's time, so the
migrations run once per session: into a template file for SQLite (copied per test), and as the
migrations' own SQL script (Alembic's offline mode) replayed in one round trip on PostgreSQL.
test_migrations.py still migrates empty databases through Database.migrate() for real.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from storage import Database, JobQueue, QuotaPolicy, alembic_config


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per session."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    coro: Coroutine[Any, Any, None] = _migrate(f"sqlite+aiosqlite:///{path}")
    # a thread of its own: this may be requested from inside the test's running event loop
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()
    return path


@pytest.fixture(scope="session")
def postgres_schema_sql() -> str:
    """The migrations to head as one SQL script, rendered by Alembic's offline mode."""
    script = io.StringIO()
    config = alembic_config("postgresql+asyncpg://offline/render")
    config.output_buffer = script
    command.upgrade(config, "head", sql=True)
    return script.getvalue()


@pytest.fixture
async def db(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The test's fresh database with the schema at head, once on SQLite and once on PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), str(url.database))
    else:
        connection = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
        )
        try:
            await connection.execute(request.getfixturevalue("postgres_schema_sql"))
        finally:
            await connection.close()
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def queue(db: Database) -> JobQueue:
    """The job queue over `db`, three attempts per job."""
    return JobQueue(db, max_attempts=3)


@pytest.fixture
def policy() -> QuotaPolicy:
    """A roomy policy; tests that probe a limit build their own."""
    return QuotaPolicy(daily=50, timezone="Europe/Berlin", max_queued_per_user=10, max_queue=500)
