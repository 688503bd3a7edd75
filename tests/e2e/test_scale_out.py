"""Scale-out: bot replicas only queue; a standalone worker (`python -m bot worker`) renders and delivers."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from telegram import Bot

from bot.app import build_application, running
from bot.delivery import Delivery
from bot.texts import t
from playground.botapi import FakeBotApi
from storage import JobSpec
from tests.e2e.conftest import BotFactory, e2e_settings
from tests.e2e.media import astronaut_portrait, probe_mp4, voice_note

pytestmark = pytest.mark.slow


async def test_a_standalone_worker_delivers_what_the_bot_queued(
    fake: FakeBotApi,
    tmp_path: Path,
    sqlite_url: str,
    render_pool: ProcessPoolExecutor,
    analysis_pool: ProcessPoolExecutor,
) -> None:
    settings = e2e_settings(fake, tmp_path, sqlite_url, embedded_worker=False)
    front = build_application(settings)
    worker = build_application(settings, worker_only=True)
    for application in (front, worker):
        application.bot_data["pool"] = render_pool
    application.bot_data["analysis_pool"] = analysis_pool
    alice = fake.user(1001, "Alice", "en")
    async with running(front, polling=True):
        fake.send_photo(alice, None, astronaut_portrait())
        await fake.wait_for("sendMessage", lambda c: c.params.get("text") == t("one_face", "en"))
        voice = fake.send_voice(alice, None, voice_note(), duration=2)
        await fake.wait_for("sendMessage", lambda c: c.params.get("text") == t("queued_next", "en"))
        assert not fake.calls_to("sendVideo")  # the bot replica renders nothing itself
        async with running(worker):
            video = await fake.wait_for("sendVideo", lambda c: c.ok, timeout=180)
    assert video.result["reply_to_message"]["message_id"] == voice["message_id"]
    assert probe_mp4(fake.video_bytes(video.result))[3]
    # The bot set its menus (private, groups, the admin's chat × 2 languages); the worker set none.
    assert len(fake.calls_to("setMyCommands")) == 6


async def test_a_delivered_job_is_never_sent_twice(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot(embedded_worker=False)
    alice = fake.user(1001, "Alice", "en")
    fake.send_command(alice, None, "start")
    await fake.wait_for("sendMessage")
    job = await rt.queue.enqueue(
        JobSpec(user_id=1001, chat_id=1001, idempotency_key="1001:1", payload={"language": "en"}), rt.policy
    )
    await rt.queue.mark_delivered(job.id, "sent-before-a-restart")
    fresh = await rt.queue.get(job.id)
    assert fresh is not None
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as bot:
        assert await Delivery(bot, rt)(fresh) == "sent-before-a-restart"
    assert not fake.calls_to("sendVideo") and not fake.calls_to("getFile")
