"""Fixtures for storage tests: a migrated database on SQLite and PostgreSQL, its queue, a policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage import Database, JobQueue, QuotaPolicy


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A freshly migrated database, once on SQLite and once on PostgreSQL."""
    database = Database(database_url)
    await database.migrate()
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
