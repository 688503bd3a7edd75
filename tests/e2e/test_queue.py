"""Queue answers without a render worker in the process (EMBEDDED_WORKER=false): positions, caps, /cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.texts import t
from playground.botapi import Call, FakeBotApi
from storage import Database, Job, QuotaEntry
from tests.e2e.conftest import BotFactory, Settle
from tests.e2e.media import astronaut_portrait
from tests.load.cluster import OwnPostgres


async def reply(fake: FakeBotApi, chat_id: int) -> Call:
    """The bot's next successful sendMessage to the chat."""
    return await fake.wait_for("sendMessage", lambda c: c.ok and c.params.get("chat_id") == chat_id)


async def edit(fake: FakeBotApi, chat_id: int) -> Call:
    """The bot's next successful editMessageText in the chat."""
    return await fake.wait_for("editMessageText", lambda c: c.ok and c.params.get("chat_id") == chat_id)


async def test_positions_caps_and_cancel(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot(embedded_worker=False, max_queued_per_user=2, daily_quota=5)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)

    fake.send_text(alice, None, "One")
    first = await reply(fake, 1001)
    assert first.params["text"] == t("queued_next", "en")
    fake.send_text(alice, None, "Two")
    second = await reply(fake, 1001)
    assert (await edit(fake, 1001)).params["text"] == t("queued", "en", position=2)
    fake.send_text(alice, None, "Three")
    await reply(fake, 1001)
    assert (await edit(fake, 1001)).params["text"] == t("too_many_queued", "en", limit=2)

    fake.send_command(alice, None, "quota")
    assert "2 of 5 videos used, 3 left" in (await reply(fake, 1001)).params["text"]
    fake.send_command(alice, None, "cancel")
    assert (await reply(fake, 1001)).params["text"] == t("cancelled", "en")
    await fake.wait_for("deleteMessage", lambda c: c.ok)
    assert fake.is_deleted(1001, second.result["message_id"])  # the newest waiting one went
    assert not fake.is_deleted(1001, first.result["message_id"])
    fake.send_command(alice, None, "quota")
    assert "1 of 5 videos used, 4 left" in (await reply(fake, 1001)).params["text"]
    assert (await rt.queue.stats())["queued"] == 1


async def test_a_full_queue_answers_busy(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(embedded_worker=False, max_queue=1)
    alice = fake.user(1001, "Alice", "en")
    bob = fake.user(1002, "Bob", "en")
    for user in (alice, bob):
        fake.send_photo(user, None, astronaut_portrait())
        await reply(fake, user["id"])
    fake.send_text(alice, None, "First in line")
    assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")
    fake.send_text(bob, None, "Me too")
    await reply(fake, 1002)
    assert (await edit(fake, 1002)).params["text"] == t("queue_full", "en")


async def test_cancel_with_nothing_waiting(fake: FakeBotApi, make_bot: BotFactory) -> None:
    await make_bot(embedded_worker=False)
    alice = fake.user(1001, "Alice", "en")
    fake.send_command(alice, None, "cancel")
    assert (await reply(fake, 1001)).params["text"] == t("nothing_to_cancel", "en")


async def test_replying_to_an_earlier_photo_uses_that_photo(fake: FakeBotApi, make_bot: BotFactory) -> None:
    rt = await make_bot(embedded_worker=False)
    alice = fake.user(1001, "Alice", "en")
    first = fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_text(alice, None, "The newest photo says this")
    await reply(fake, 1001)
    fake.send_text(alice, None, "The first photo says this", reply_to=first)
    await reply(fake, 1001)
    assert (await edit(fake, 1001)).params["text"] == t("queued", "en", position=2)  # enqueued
    jobs = sorted(await rt.queue.pending_for_user(1001), key=lambda job: job.id)
    photos = [job.payload["photo"]["file_id"] for job in jobs]
    assert photos[1] == first["photo"][-1]["file_id"]
    assert photos[0] != photos[1]


async def test_the_last_photo_is_forgotten_after_the_configured_time(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    await make_bot(embedded_worker=False, photo_memory_minutes=0)
    alice = fake.user(1001, "Alice", "en")
    photo = fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_text(alice, None, "Anyone there?")
    assert (await reply(fake, 1001)).params["text"] == t("need_photo", "en")
    # Replying to the photo still works: the bot takes it in again from Telegram.
    fake.send_text(alice, None, "This one, please", reply_to=photo)
    assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")


async def test_a_failed_position_edit_leaves_the_request_queued_and_unapologetic(
    fake: FakeBotApi, make_bot: BotFactory, settle: Settle
) -> None:
    rt = await make_bot(embedded_worker=False)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    fake.send_text(alice, None, "One")
    assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")
    # Telegram refuses the "you are 2nd" edit (the user deleted the message, say).
    fake.fail_next("editMessageText", error_code=400, description="Bad Request: message to edit not found")
    fake.send_text(alice, None, "Two")
    assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")
    refused = await fake.wait_for("editMessageText", lambda c: c.params.get("chat_id") == 1001)
    assert refused.status == 400 and refused.params["text"] == t("queued", "en", position=2)
    await settle()
    said = [
        c.params["text"] for c in fake.calls_to("sendMessage", ok_only=True) if c.params["chat_id"] == 1001
    ]
    assert t("error", "en") not in said  # no "something went wrong" for a queued request
    assert (await rt.queue.stats())["queued"] == 2


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL of this test's own, which it may stop (set up before the bot, gone after it)."""
    with OwnPostgres() as server:
        yield server


async def rows(url: str) -> tuple[int, int]:
    """Jobs and quota ledger entries in the database, read on a connection of our own."""
    db = Database(url)
    try:
        async with db.read_session() as s:
            jobs = await s.scalar(select(func.count()).select_from(Job))
            entries = await s.scalar(select(func.count()).select_from(QuotaEntry))
            return int(jobs or 0), int(entries or 0)
    finally:
        await db.dispose()


async def test_a_request_that_meets_the_database_down_is_told_to_send_it_again(
    own_postgres: OwnPostgres, fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(embedded_worker=False, database_url=own_postgres.url)
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    await reply(fake, 1001)
    # Telegram shows "you're next" at once, but its answer reaches the bot 3 s later; meanwhile
    # the database goes down, so the enqueue that follows finds no database.
    fake.delay_next("sendMessage", 3.0)
    fake.send_text(alice, None, "One")
    acknowledged = await reply(fake, 1001)
    assert acknowledged.params["text"] == t("queued_next", "en")
    await asyncio.to_thread(own_postgres.stop, "fast")
    try:
        told = await edit(fake, 1001)
    finally:
        await asyncio.to_thread(own_postgres.start)
    # The acknowledgement now says the truth; nothing was queued or charged.
    assert told.params["message_id"] == acknowledged.result["message_id"]
    assert told.params["text"] == t("queue_unavailable", "en")
    assert await rows(own_postgres.url) == (0, 0)
    # Sent again once the database is back, it is queued (and charged once).
    fake.send_text(alice, None, "One")
    assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")  # sent before the enqueue
    for _ in range(300):  # the enqueue follows the acknowledgement: up to 30 s on a busy machine
        if await rows(own_postgres.url) == (1, 1):
            break
        await asyncio.sleep(0.1)
    assert await rows(own_postgres.url) == (1, 1)
    assert (await rt.queue.stats())["queued"] == 1
