"""/forget on a scaled-out deployment: nothing of the user is left in PostgreSQL or on any machine.

Two webhook replicas and two render workers (OS processes with their own data folders,
tests/load/cluster.py) share one PostgreSQL. Bob sends a photo, a voice note and typed text in
his private chat (two renders, one per worker), and speaks a line in Alice's group scene, which
Alice renders (his line sits in her job's payload). Then Bob asks /forget and confirms.

The database is read generically: every row of every table in storage's metadata, serialised,
must not mention Bob's id, his file ids or his text — except what /privacy says is kept (a ban,
the last two days of quota counts, paid credits; payment records lose the user id). Every data
folder of every process is walked: no job folder is left, no file holds Bob's photo or voice.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.texts import t
from storage import Database, Job, Status, utcnow
from storage.models import Base
from storage.users import LEDGER_KEPT_AFTER_FORGET
from tests.e2e.media import astronaut_portrait, two_astronauts, voice_note
from tests.load.cluster import Cluster, Edge, FakeBotApi, fresh_database
from tests.load.traffic import noon_zone

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

BOB, ALICE = 918273645, 918273646  # long ids, so a match in serialised rows is never a coincidence
GROUP = -1005550001234
TYPED = "Forget me, phototalk, quickly please."
ENDED = (Status.DONE, Status.FAILED, Status.CANCELLED)


SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    settings = {"DAILY_QUOTA": "5", "QUOTA_TIMEZONE": noon_zone(), "MAX_QUEUE": "100"}
    root = tmp_path_factory.mktemp("forget")
    async with (
        fresh_database(SERVER_URL) as url,
        FakeBotApi() as fake,
        Edge(fake.url) as edge,
        Cluster(fake, edge, url, root, settings=settings, stop_within=5) as running,
    ):
        yield running


async def jobs(cluster: Cluster) -> list[Job]:
    db = Database(cluster.database_url)
    try:
        async with db.read_session() as s:
            return list(await s.scalars(select(Job).order_by(Job.id)))
    finally:
        await db.dispose()


async def until(what: str, condition: Any, within: float = 120.0) -> None:
    """Polls an async condition until it holds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.2)


def in_chat(chat: int) -> Any:
    return lambda c: c.ok and c.params.get("chat_id") == chat


async def mentions(cluster: Cluster, needles: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every row of every storage table whose serialised values contain one of `needles`."""
    found = []
    db = Database(cluster.database_url)
    try:
        async with db.read_session() as s:
            for table in Base.metadata.sorted_tables:
                for row in (await s.execute(select(table))).mappings():
                    values = dict(row)
                    text = json.dumps(values, default=str, ensure_ascii=False)
                    if any(needle in text for needle in needles):
                        found.append((table.name, values))
    finally:
        await db.dispose()
    return found


def where(row: dict[str, Any], needles: list[str]) -> dict[str, str]:
    """The columns of `row` that mention a needle, and their values (for assertion messages)."""
    texts = {column: json.dumps(value, default=str, ensure_ascii=False) for column, value in row.items()}
    return {column: text for column, text in texts.items() if any(n in text for n in needles)}


def kept_by_privacy(table: str, row: dict[str, Any]) -> bool:
    """What /privacy says /forget keeps: a ban, two days of quota counts (and paid credits)."""
    if table == "users":
        return (
            row["id"] == BOB and row["username"] is None and row["language"] is None and row["voice"] is None
        )
    if table == "quota_ledger":
        return row["user_id"] == BOB and row["counts_at"] >= utcnow() - LEDGER_KEPT_AFTER_FORGET - timedelta(
            minutes=5
        )
    return False


def files_under(folders: list[Path]) -> list[Path]:
    return [path for folder in folders if folder.exists() for path in folder.rglob("*") if path.is_file()]


async def test_forget_leaves_no_row_and_no_file_of_the_user_on_any_machine(cluster: Cluster) -> None:
    fake = cluster.fake
    fake.chat(GROUP, "supergroup", "Friends")
    bob, alice = fake.user(BOB, "Bob", "en"), fake.user(ALICE, "Alice", "en")
    photo_bytes, voice_bytes = astronaut_portrait(), voice_note("Hello there, I am Bob.")

    # Alice opens a scene in the group; Bob and Alice each take a face.
    fake.send_photo(alice, GROUP, two_astronauts(), caption="/scene")
    scene = (await fake.wait_for("sendPhoto", in_chat(GROUP), timeout=120)).result
    markup = scene["reply_markup"]["inline_keyboard"]
    claim = {b["text"]: b["callback_data"] for row in markup for b in row}
    for user, face in ((bob, "I'm 1"), (alice, "I'm 2")):
        query = fake.press_button(user, GROUP, scene["message_id"], claim[face])
        await fake.wait_for(
            "answerCallbackQuery", lambda c, q=query: c.params["callback_query_id"] == q["id"]
        )
    scene_voice = fake.send_voice(
        bob, GROUP, voice_note("Bob speaks in the scene."), duration=2, reply_to=scene
    )
    fake.send_voice(alice, GROUP, voice_note("And Alice answers."), duration=2, reply_to=scene)

    async def lines_recorded() -> bool:
        caption = fake.text_of(GROUP, scene["message_id"]) or ""
        return "Bob ✓" in caption and "Alice ✓" in caption

    await until("both scene lines", lines_recorded)

    # Bob, in private: a photo, then a voice note and typed text right away (two renders at once,
    # so each worker takes one: a worker renders one job at a time).
    photo = fake.send_photo(bob, None, photo_bytes)
    await fake.wait_for("sendMessage", in_chat(BOB), timeout=120)  # the photo's answer
    voice = fake.send_voice(bob, None, voice_bytes, duration=2)
    fake.send_text(bob, None, TYPED)
    fake.send_command(alice, GROUP, "render", reply_to=scene)

    async def all_rendered() -> bool:
        rows = await jobs(cluster)
        return len(rows) == 3 and all(job.status in ENDED for job in rows)

    await until("three renders", all_rendered, within=180)
    rows = await jobs(cluster)
    assert [job.status for job in rows] == [Status.DONE] * 3, cluster.logs(lines=20)
    videos = cluster.edge.calls_by("worker", "sendVideo")
    assert {c.chat() for c in videos} == {BOB, GROUP}
    assert {c.who for c in videos if c.status == 200} == {"worker0", "worker1"}  # both machines rendered
    (scene_job,) = [job for job in rows if job.user_id == ALICE]
    assert BOB in [track["user_id"] for track in scene_job.payload["tracks"]]  # Bob's line, in Alice's job

    needles = [str(BOB), TYPED, voice["voice"]["file_id"], voice["voice"]["file_unique_id"]]
    needles += [scene_voice["voice"]["file_id"], scene_voice["voice"]["file_unique_id"]]
    needles += [size[key] for size in photo["photo"] for key in ("file_id", "file_unique_id")]
    before = {table for table, _ in await mentions(cluster, needles)}
    # The scan sees Bob where he is: without this, an empty result below would prove nothing.
    assert {"users", "media", "jobs", "quota_ledger", "scene_claims", "scene_lines"} <= before

    # /forget, confirmed.
    fake.send_command(bob, None, "forget")
    asked = await fake.wait_for("sendMessage", lambda c: in_chat(BOB)(c) and "reply_markup" in c.params)
    fake.press_button(bob, None, asked.result["message_id"], "forget:yes")
    forgotten = t("forgotten", "en")
    await fake.wait_for("editMessageText", lambda c: in_chat(BOB)(c) and c.params["text"] == forgotten, 60)

    left = [
        (table, row) for table, row in await mentions(cluster, needles) if not kept_by_privacy(table, row)
    ]
    assert left == [], [(table, where(row, needles)) for table, row in left]
    (scene_job,) = [job for job in await jobs(cluster) if job.user_id == ALICE]
    assert [track["user_id"] for track in scene_job.payload["tracks"]] == [ALICE]

    # No machine holds Bob's media: no job folder is left, no file has his photo or voice.
    data = [process.folder / "data" for process in cluster.processes.values()]
    assert [p for folder in data if (folder / "jobs").exists() for p in (folder / "jobs").iterdir()] == []
    held = [f for f in files_under(data) if photo_bytes in f.read_bytes() or voice_bytes in f.read_bytes()]
    assert held == [], held
