"""Faults under a scaled-out deployment: 2 webhook replicas + 2 render workers (OS processes) on PostgreSQL.

One cluster serves the whole module, on a PostgreSQL cluster of its own (tests/load/cluster.py:
`OwnPostgres`) so the restart test can stop and start it without touching the shared server.
Each test has its own users, and its faults are scoped to their chats, so what the other tests
leave running cannot trip it. A test waits until its jobs have *ended* (done, failed or
cancelled), not merely until a first video arrived: a duplicate sent later must be seen.

The faults: Telegram's 429 RetryAfter and a TimedOut (answer lost before or after Telegram acted)
on sendVideo and editMessageText; a worker SIGKILLed (with its render processes) as it renders;
PostgreSQL restarted while jobs are queued and rendering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy import select

from storage import Database, Job, Status
from tests.e2e.media import astronaut_portrait, voice_note
from tests.load.cluster import Cluster, Edge, EdgeCall, FakeBotApi, OwnPostgres
from tests.load.traffic import Books, Outcome, Traffic, catalog_key, judge, noon_zone, read_books

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

ADMIN_ID = 4242
DAILY_QUOTA = 2
#: Short leases, so a killed worker's job is reclaimed within seconds (heartbeat every 3 s).
LEASE_SECONDS = 9
ENDED = (Status.DONE, Status.FAILED, Status.CANCELLED)
LONG_LINE = (
    "This is a longer voice note, so that the render takes a few seconds and a worker can be "
    "stopped in the middle of it. It goes on for a little while longer."
)


@dataclass
class Setup:
    fake: FakeBotApi
    edge: Edge
    cluster: Cluster
    traffic: Traffic
    database_url: str
    postgres: OwnPostgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    with OwnPostgres() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(postgres: OwnPostgres, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    settings = {
        "DAILY_QUOTA": str(DAILY_QUOTA),
        "QUOTA_TIMEZONE": noon_zone(),
        "MAX_QUEUE": "1000",
        "ADMIN_IDS": str(ADMIN_ID),
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    root = tmp_path_factory.mktemp("cluster")
    async with (
        FakeBotApi() as fake,
        Edge(fake.url) as edge,
        Cluster(fake, edge, postgres.url, root, settings=settings, stop_within=5) as cluster,
    ):
        traffic = Traffic(fake, astronaut_portrait(), voice_note("Hello there."))
        yield Setup(fake, edge, cluster, traffic, postgres.url, postgres)


async def jobs_of(database_url: str, user_id: int) -> list[Job]:
    db = Database(database_url)
    try:
        async with db.read_session() as s:
            return list(await s.scalars(select(Job).where(Job.user_id == user_id).order_by(Job.id)))
    finally:
        await db.dispose()


async def settle(setup: Setup, user_ids: list[int], within: float = 120.0) -> tuple[list[Outcome], Books]:
    """Waits until every request of `user_ids` is answered and every job of theirs has ended."""
    deadline = time.monotonic() + within
    while True:
        outcomes = setup.traffic.outcomes(user_ids)
        books = await read_books(setup.database_url, user_ids)
        ended = all(status in ENDED for status in books.jobs)
        if (all(o.answered for o in outcomes) and ended) or time.monotonic() > deadline:
            return outcomes, books
        await asyncio.sleep(0.3)


async def ask_once(setup: Setup, user_id: int, voice: bytes | None = None) -> Outcome:
    """A user sends a photo, gets its answer, sends one voice note; returns it once settled."""
    traffic = setup.traffic
    user = traffic.register(user_id, "en")
    photo = traffic.send(user, "photo")
    await traffic.wait_until(lambda: traffic.replies.outcome(photo).answered, 120, "photo answer")
    if voice is None:
        request = traffic.send(user, "voice")
    else:
        message = setup.fake.send_voice(user, None, voice, duration=8)
        request = traffic.register_request(user_id, "voice", message)
    outcomes, _ = await settle(setup, [user_id])
    return next(o for o in outcomes if o.request is request)


def sent_videos(setup: Setup, chat: int) -> list[EdgeCall]:
    """sendVideo calls about `chat` that reached Telegram (answered or not)."""
    return [c for c in setup.edge.calls_by("worker", "sendVideo", chat) if c.fault in ("", "after")]


def describe(setup: Setup, outcome: Outcome) -> str:
    calls = [
        f"{c.who}:{c.method}:{c.status}{c.fault}"
        for c in setup.edge.calls
        if c.chat() == outcome.request.user_id
    ]
    return f"texts {outcome.texts}; calls {calls}\n{setup.cluster.logs(lines=15)}"


async def test_429_on_send_video_is_waited_out_and_the_video_sent_once(setup: Setup) -> None:
    user = 2001
    setup.edge.fail("sendVideo", "worker", chat=user, retry_after=2)
    outcome = await ask_once(setup, user)
    assert len(outcome.videos) == 1, describe(setup, outcome)
    refused, accepted = setup.edge.calls_by("worker", "sendVideo", user)
    assert refused.status == 429 and accepted.status == 200
    assert accepted.time - refused.time >= 2  # the bot waited as long as Telegram asked
    (job,) = await jobs_of(setup.database_url, user)
    assert job.status == Status.DONE and job.attempts == 1  # waited, not re-rendered


async def test_429_on_status_edits_is_waited_out_and_the_video_sent_once(setup: Setup) -> None:
    user = 2002
    setup.edge.fail("editMessageText", "worker", chat=user, retry_after=1)
    outcome = await ask_once(setup, user)
    assert len(outcome.videos) == 1, describe(setup, outcome)
    edits = setup.edge.calls_by("worker", "editMessageText", user)
    assert edits[0].status == 429 and edits[1].status == 200
    assert edits[1].params["text"] == edits[0].params["text"]  # the same progress, shown after the wait
    (job,) = await jobs_of(setup.database_url, user)
    assert job.status == Status.DONE and job.attempts == 1
    assert job.status_message_id is not None
    assert setup.fake.is_deleted(user, job.status_message_id)  # the status message is cleaned up


async def test_timed_out_status_edit_does_not_stop_the_video(setup: Setup) -> None:
    user = 2003
    setup.edge.stall("editMessageText", "worker", after_forwarding=False, chat=user)
    outcome = await ask_once(setup, user)
    assert len(outcome.videos) == 1, describe(setup, outcome)
    assert all(catalog_key(text, "en") in ("queued_next", "rendering", "uploading") for text in outcome.texts)
    (job,) = await jobs_of(setup.database_url, user)
    assert job.status == Status.DONE and job.attempts == 1  # a cosmetic edit never costs a re-render


async def test_send_video_lost_before_telegram_saw_it_is_answered_once(setup: Setup) -> None:
    # Nothing reached Telegram, but the bot cannot tell this TimedOut from one after Telegram
    # sent the video (the next test). Whatever it does, the user gets an answer (a video or a
    # reply saying what happened), never two videos, and is never charged twice.
    user = 2004
    setup.edge.stall("sendVideo", "worker", after_forwarding=False, chat=user)
    outcome = await ask_once(setup, user)
    assert outcome.answered, describe(setup, outcome)
    assert len(outcome.videos) <= 1, describe(setup, outcome)
    (job,) = await jobs_of(setup.database_url, user)
    assert job.status in ENDED
    books = await read_books(setup.database_url, [user])
    assert books.debits[user] - books.refunds[user] <= 1


async def test_send_video_timed_out_after_telegram_sent_it_is_not_sent_again(setup: Setup) -> None:
    # Telegram accepted the upload and the user has the video; only the answer was lost.
    user = 2005
    setup.edge.stall("sendVideo", "worker", after_forwarding=True, chat=user)
    outcome = await ask_once(setup, user)
    assert len(outcome.videos) == 1, describe(setup, outcome)
    (job,) = await jobs_of(setup.database_url, user)
    assert job.status in ENDED
    books = await read_books(setup.database_url, [user])
    assert books.debits[user] - books.refunds[user] == 1  # one video, charged once


async def test_a_worker_killed_mid_render_is_finished_by_another_once(setup: Setup) -> None:
    user = 2006
    killed: list[str] = []

    def kill(call: EdgeCall) -> None:
        # The first "sending video…" chat action comes right after the worker handed the render
        # to its pool: the job is claimed, its media fetched, the render running.
        killed.append(call.who)
        setup.cluster.kill(call.who)
        setup.cluster.launch(f"{call.who}-again", "worker")  # back to two, for the tests after this

    hook = setup.edge.on_call("sendChatAction", "worker", kill, chats=[user])
    try:
        outcome = await ask_once(setup, user, voice=voice_note(LONG_LINE))
        assert hook.fired.is_set() and len(killed) == 1
        assert len(outcome.videos) == 1, describe(setup, outcome)
        (video,) = [c for c in sent_videos(setup, user) if c.status == 200]
        assert video.who != killed[0]  # another worker finished it
        (job,) = await jobs_of(setup.database_url, user)
        assert job.status == Status.DONE and job.attempts == 2 and job.delivered
        books = await read_books(setup.database_url, [user])
        assert (books.debits[user], books.refunds[user]) == (1, 0)  # charged once, not refunded
    finally:
        if killed:
            await setup.cluster.wait_ready([setup.cluster.processes[f"{killed[0]}-again"]], 120)


async def queued_keys(database_url: str, users: list[int]) -> set[str]:
    """Idempotency keys (chat:message) of every job the users have in the database."""
    db = Database(database_url)
    try:
        async with db.read_session() as s:
            return set(await s.scalars(select(Job.idempotency_key).where(Job.user_id.in_(users))))
    finally:
        await db.dispose()


async def restart_postgres(setup: Setup, outage: float = 2.0) -> None:
    """Stops PostgreSQL (every session ends, as in a restart or failover) and starts it again."""
    await asyncio.to_thread(setup.postgres.stop, "fast")
    await asyncio.sleep(outage)  # claims, heartbeats and deliveries fail meanwhile
    await asyncio.to_thread(setup.postgres.start)


async def test_postgres_restart_with_jobs_in_flight_loses_nothing(setup: Setup) -> None:
    users = list(range(3001, 3009))  # 8 users × 3 requests; every other one granted a third video
    granted = users[1::2]
    allowance = {u: DAILY_QUOTA + (u in granted) for u in users}
    traffic = setup.traffic
    await asyncio.gather(*(traffic.grant(ADMIN_ID, u, 1) for u in granted))
    await asyncio.gather(*(traffic.user(u, "en", ("voice", "text", "voice")) for u in users))
    # Every request in the database first (queued, or refused for the quota): one arriving
    # while the database is down is another matter (see the next test).
    deadline = time.monotonic() + 120
    while True:
        keys = await queued_keys(setup.database_url, users)
        outcomes = [o for o in traffic.outcomes(users) if o.request.kind != "photo"]
        waiting = [o for o in outcomes if f"{o.request.user_id}:{o.request.message_id}" not in keys]
        if all(o.final == "quota_exceeded" for o in waiting) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    # The database goes down just as a worker sends a video (Telegram gets it while the
    # worker cannot record it), and comes back two seconds later.
    restarted = asyncio.Event()

    async def outage(call: EdgeCall) -> None:
        await asyncio.to_thread(setup.postgres.stop, "fast")
        asyncio.get_running_loop().call_later(2.0, lambda: restarted.set())

    setup.edge.on_call("sendVideo", "worker", outage, chats=users)
    await asyncio.wait_for(restarted.wait(), 120)
    await asyncio.to_thread(setup.postgres.start)
    pending = sum(1 for o in traffic.outcomes(users) if not o.answered)
    assert pending > 0, "every request was answered before the restart; nothing was in flight"

    outcomes, books = await settle(setup, users, within=90)
    verdict = judge(outcomes, allowance, books, traffic.replies.loose)
    assert verdict.problems == [], "\n".join(verdict.problems) + "\n" + setup.cluster.logs(lines=10)
    assert setup.cluster.all_alive() == []


async def test_right_after_a_postgres_restart_8_users_x3_get_exactly_their_quota(setup: Setup) -> None:
    # Replicas and workers recover from the restart (their pooled connections all died), and a
    # burst right after it is served in full: every request answered, quotas exact, no duplicate.
    await restart_postgres(setup)
    users = list(range(3101, 3109))
    granted = users[::2]
    traffic = setup.traffic
    await asyncio.gather(*(traffic.grant(ADMIN_ID, u, 1) for u in granted))
    await asyncio.gather(*(traffic.user(u, "en", ("voice", "text", "voice")) for u in users))
    outcomes, books = await settle(setup, users, within=120)
    allowance = {u: DAILY_QUOTA + (u in granted) for u in users}
    verdict = judge(outcomes, allowance, books, traffic.replies.loose)
    assert verdict.problems == [], "\n".join(verdict.problems) + "\n" + setup.cluster.logs(lines=10)
    assert verdict.videos == 20 and verdict.refusals == {"quota_exceeded": 4}
