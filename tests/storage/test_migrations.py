"""Migrations: up to head on an empty database, no drift from the models, down to base."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from storage import Base, Database


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_matches_models_and_downgrade_empties(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await db.migrate()  # every start-up calls it: the second run must be a no-op
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(_tables)
            drift = await connection.run_sync(_drift)
        assert set(Base.metadata.tables) <= tables
        assert drift == []

        await db.downgrade("base")
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_tables) == {"alembic_version"}
        await db.migrate()  # and back up again from base
        async with db.engine.connect() as connection:
            assert set(Base.metadata.tables) <= await connection.run_sync(_tables)
    finally:
        await db.dispose()


def test_command_line_migrates_from_any_directory(sqlite_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "storage", "migrate", sqlite_url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    db_file = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    import sqlite3

    with sqlite3.connect(db_file) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "jobs", "quota_ledger", "scenes"} <= names


async def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    replicas = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.migrate() for replica in replicas))
        async with replicas[0].engine.connect() as connection:
            assert await connection.run_sync(_drift) == []
    finally:
        for replica in replicas:
            await replica.dispose()
