"""RETENTION_DAYS and /privacy's "for up to N days": the running bot purges old rows, round after round."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import app
from bot.runtime import utcnow
from storage import Media, media
from tests.e2e.conftest import BotFactory


async def test_the_running_bot_purges_photos_older_than_the_retention_days_every_round(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert app.PURGE_EVERY == 3600  # hourly in production; a fraction of a second here
    monkeypatch.setattr(app, "PURGE_EVERY", 0.2)
    rt = await make_bot(retention_days=3)
    await asyncio.sleep(0.5)  # the first round has run; these rows come after it
    now = utcnow()
    async with rt.db.session() as s, s.begin():
        for n, age in enumerate([timedelta(days=4), timedelta(days=2)]):
            await media.save_photo(
                s,
                chat_id=1001,
                user_id=1001,
                message_id=n,
                file_id=f"file-{n}",
                file_unique_id=f"unique-{n}",
                path=None,
                analysis={"faces": []},
                expires_at=now - age + timedelta(minutes=30),
                now=now - age,
            )
    deadline = time.monotonic() + 10
    while True:
        async with rt.db.read_session() as s:
            kept = list(await s.scalars(select(Media.file_id)))
        if kept == ["file-1"]:
            break
        assert time.monotonic() < deadline, f"still stored after several purge rounds: {kept}"
        await asyncio.sleep(0.1)
