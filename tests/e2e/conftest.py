"""The e2e harness: the real PTB Application, polling the fake Bot API over HTTP, with a real database.

`make_bot(**settings)` starts the bot the way `python -m bot run` does (post_init migrates the
database, starts the embedded render worker and sets the command menus) and stops it at the end
of the test. One render process pool serves the whole session, so each test does not pay for
importing MediaPipe again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_application, running
from bot.runtime import Runtime, make_pool
from bot.settings import Settings
from playground.botapi import FakeBotApi

ADMIN_ID = 4242

BotFactory = Callable[..., Awaitable[Runtime]]
Settle = Callable[[], Awaitable[None]]


@pytest.fixture(scope="session")
def render_pool() -> Iterator[ProcessPoolExecutor]:
    """The render process shared by every e2e test."""
    pool = make_pool(1)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def analysis_pool() -> Iterator[ProcessPoolExecutor]:
    """The photo-analysis process shared by every e2e test."""
    pool = make_pool(1)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    """The fake Telegram Bot API, serving on a free local port."""
    async with FakeBotApi() as api:
        yield api


def e2e_settings(fake: FakeBotApi, tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test bot: the fake's URL, a temporary data dir, small fast renders."""
    values: dict[str, Any] = {
        "telegram_bot_token": fake.token,
        "telegram_api_base_url": fake.url,
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "output_max_side": 480,
        "render_workers": 1,
        "admin_ids": [ADMIN_ID],
        "daily_quota": 5,
        "quota_timezone": "UTC",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def applications() -> list[App]:
    """The bots make_bot started in this test."""
    return []


@pytest.fixture
def settle(fake: FakeBotApi, applications: list[App]) -> Settle:
    """Waits until every started bot has fetched and finished handling every update sent so far.

    For asserting that something did NOT happen (an ignored edit, a refused button): once the
    bots are idle with nothing left to fetch, no late reply can still come.
    """

    def idle() -> bool:
        return not fake.pending_updates and all(
            app.update_queue.empty() and app.update_processor.current_concurrent_updates == 0
            for app in applications
        )

    async def wait() -> None:
        async with asyncio.timeout(60):
            # Twice in a row: a fetched update is queued, then handed to a task one loop turn later.
            quiet = 0
            while quiet < 2:
                quiet = quiet + 1 if idle() else 0
                await asyncio.sleep(0.05)

    return wait


@pytest.fixture
async def make_bot(
    fake: FakeBotApi,
    tmp_path: Path,
    sqlite_url: str,
    render_pool: ProcessPoolExecutor,
    analysis_pool: ProcessPoolExecutor,
    applications: list[App],
) -> AsyncIterator[BotFactory]:
    """Starts the bot against the fake (SQLite unless `database_url` is given); returns its runtime."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Runtime:
            database_url = overrides.pop("database_url", sqlite_url)
            settings = e2e_settings(fake, tmp_path, database_url, **overrides)
            application = build_application(settings)
            application.bot_data["pool"] = render_pool
            application.bot_data["analysis_pool"] = analysis_pool
            await stack.enter_async_context(running(application, polling=True))
            applications.append(application)
            return application.bot_data["runtime"]

        yield start
