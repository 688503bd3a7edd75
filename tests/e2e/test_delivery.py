"""Delivery over a flaky network: a video is sent at most once, and the user hears what happened."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot.runtime import Runtime
from bot.texts import t
from playground.botapi import Call, FakeBotApi
from storage import Job, JobSpec, Status
from tests.e2e.conftest import BotFactory
from tests.e2e.media import astronaut_portrait, voice_note

pytestmark = pytest.mark.slow

RENDER_TIMEOUT = 180.0


async def reply(fake: FakeBotApi, chat_id: int) -> Call:
    return await fake.wait_for("sendMessage", lambda c: c.ok and c.params.get("chat_id") == chat_id)


async def said(fake: FakeBotApi, chat_id: int, text: str) -> Call:
    return await fake.wait_for(
        "sendMessage",
        lambda c: c.ok and c.params.get("chat_id") == chat_id and c.params["text"] == text,
        timeout=RENDER_TIMEOUT,
    )


async def finished_job(rt: Runtime) -> Job:
    """The only job, once the worker has recorded its outcome."""
    async with asyncio.timeout(60):
        while True:
            jobs = await rt.queue.pending_for_user(1001)
            if not jobs:
                break
            await asyncio.sleep(0.1)
    stats = await rt.queue.stats()
    finished = [status for status in (Status.DONE, Status.FAILED) if stats[str(status)]]
    assert len(finished) == 1, stats
    job = await rt.queue.get(1)
    assert job is not None
    return job


async def request_a_video(fake: FakeBotApi) -> None:
    alice = fake.user(1001, "Alice", "en")
    fake.send_photo(alice, None, astronaut_portrait())
    assert (await reply(fake, 1001)).params["text"] == t("one_face", "en")
    fake.send_voice(alice, None, voice_note(), duration=2)
    assert (await reply(fake, 1001)).params["text"] == t("queued_next", "en")


async def test_an_upload_whose_answer_timed_out_is_not_sent_again(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(daily_quota=3)
    # Telegram takes the video, but its answer comes after the bot's read timeout (5 s).
    fake.delay_next("sendVideo", 8.0)
    await request_a_video(fake)
    await said(fake, 1001, t("upload_unsure", "en"))
    job = await finished_job(rt)
    assert job.status == Status.DONE and job.delivered
    sends = fake.calls_to("sendVideo")
    assert len(sends) == 1 and sends[0].ok  # the one the user got; no re-render, no second copy
    fake.send_command(fake.user(1001, "Alice", "en"), None, "quota")
    assert "1 of 3 videos used, 2 left" in (await reply(fake, 1001)).params["text"]
    assert len(fake.calls_to("sendVideo")) == 1


@pytest.mark.parametrize(
    ("code", "description", "told", "status", "used"),
    [
        # A stated refusal: Telegram has no video, so the job fails and the quota comes back.
        pytest.param(
            400, "Bad Request: VIDEO_CONTENT_TYPE_INVALID", "upload_failed", Status.FAILED, 0, id="4xx"
        ),
        # A gateway error: Telegram (behind it) may have taken the video, so it is never sent again.
        pytest.param(502, "Bad Gateway", "upload_unsure", Status.DONE, 1, id="5xx"),
    ],
)
async def test_a_failed_upload_is_not_rendered_or_sent_again_and_only_a_refusal_is_refunded(
    fake: FakeBotApi, make_bot: BotFactory, code: int, description: str, told: str, status: Status, used: int
) -> None:
    rt = await make_bot(daily_quota=3)
    fake.fail_next("sendVideo", error_code=code, description=description)
    await request_a_video(fake)
    await said(fake, 1001, t(told, "en"))
    job = await finished_job(rt)
    assert job.status == status and job.delivered == (status == Status.DONE)
    assert [c.status for c in fake.calls_to("sendVideo")] == [code]
    fake.send_command(fake.user(1001, "Alice", "en"), None, "quota")
    assert f"{used} of 3 videos used, {3 - used} left" in (await reply(fake, 1001)).params["text"]


async def test_a_429_on_the_upload_is_waited_out_and_the_video_arrives_once(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(daily_quota=3)
    fake.fail_next("sendVideo", times=1, retry_after=1)
    await request_a_video(fake)
    await fake.wait_for("sendVideo", lambda c: c.ok, timeout=RENDER_TIMEOUT)
    job = await finished_job(rt)
    assert job.status == Status.DONE and job.delivered
    assert [c.status for c in fake.calls_to("sendVideo")] == [429, 200]


async def test_a_job_whose_worker_died_during_the_upload_is_not_rendered_again(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    replica = await make_bot(daily_quota=3, embedded_worker=False)
    await request_a_video(fake)
    # A worker claims the job, begins the upload and dies before Telegram answers.
    job = None
    for _ in range(200):  # the acknowledgement is sent before the job is inserted
        job = await replica.queue.claim("dead-worker", 1)
        if job is not None:
            break
        await asyncio.sleep(0.05)
    assert job is not None
    assert await replica.queue.begin_delivery(job.id, "dead-worker")

    fetched = len(fake.calls_to("getFile"))  # the photo, at intake
    await make_bot(daily_quota=3, job_lease_seconds=1)  # a live worker reclaims the job
    await said(fake, 1001, t("upload_unsure", "en"))
    # Nothing fetched, rendered or sent again.
    assert not fake.calls_to("sendVideo") and len(fake.calls_to("getFile")) == fetched


async def test_job_folders_left_by_a_crashed_worker_are_swept_at_start(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    jobs = tmp_path / "data" / "jobs"
    orphan, live = jobs / "77", jobs / "78"
    for folder in (orphan, live):
        folder.mkdir(parents=True)
        (folder / "photo.jpg").write_bytes(b"someone's face")
    past = time.time() - 3600  # an hour ago: far older than the 90 s lease
    for path in (orphan, orphan / "photo.jpg"):
        os.utime(path, (past, past))
    await make_bot()
    assert not orphan.exists()
    assert (live / "photo.jpg").exists()  # touched just now: its worker may still be rendering


async def test_cancel_during_a_render_stops_it_in_the_pool(
    fake: FakeBotApi, make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.delivery")
    rt = await make_bot(daily_quota=3, output_max_side=1280)
    alice = fake.user(1001, "Alice", "en")
    # A large photo and a long line: a render of many seconds, while a stop takes about one.
    small = cv2.imdecode(np.frombuffer(astronaut_portrait(), np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(small, (960, 1280))
    fake.send_document(alice, None, cv2.imencode(".jpg", big)[1].tobytes(), "big.jpg", "image/jpeg")
    await reply(fake, 1001)
    long_line = "This is a rather long line, so that the render takes a good while to finish. " * 3
    fake.send_voice(alice, None, voice_note(long_line), duration=14)
    ack = await reply(fake, 1001)
    # The render is handed to the pool (the status says "Making your video…") when Alice changes
    # her mind: whether it has begun or not, it must end long before its last frame.
    await fake.wait_for(
        "editMessageText",
        lambda c: (
            c.params.get("message_id") == ack.result["message_id"]
            and c.params["text"].startswith("Making your video")
        ),
        timeout=RENDER_TIMEOUT,
    )
    fake.send_command(alice, None, "cancel")
    assert (await reply(fake, 1001)).params["text"] == t("cancelled", "en")
    for _ in range(1800):  # 180 s: a loaded machine renders slowly, and stops slowly too
        if any("its render stopped in the pool" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the cancelled render kept running in the pool")
    assert await rt.wait_for(rt.submit(os.getpid))  # the pool takes the next call
    assert not fake.calls_to("sendVideo")
    fake.send_command(alice, None, "quota")
    assert "0 of 3 videos used, 3 left" in (await reply(fake, 1001)).params["text"]


async def test_a_job_from_an_older_version_fails_with_a_refund_and_a_clear_reply(
    fake: FakeBotApi, make_bot: BotFactory
) -> None:
    rt = await make_bot(daily_quota=3)
    fake.user(1001, "Alice", "en")
    old = {"kind": "solo", "language": "en", "photo": {"file_id": "x"}, "tracks": [{"source": "voice"}]}
    spec = JobSpec(user_id=1001, chat_id=1001, idempotency_key="1001:1", payload=old)
    await rt.queue.enqueue(spec, rt.policy)
    assert rt.worker is not None
    rt.worker.notify()
    await said(fake, 1001, t("request_unreadable", "en"))
    job = await finished_job(rt)
    assert job.status == Status.FAILED
    fake.send_command(fake.user(1001, "Alice", "en"), None, "quota")
    assert "0 of 3 videos used, 3 left" in (await reply(fake, 1001)).params["text"]


async def test_the_worker_renders_from_the_analysis_made_when_the_photo_arrived(
    fake: FakeBotApi, make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.delivery")
    rt = await make_bot(daily_quota=3)
    await request_a_video(fake)
    await fake.wait_for("sendVideo", lambda c: c.ok, timeout=RENDER_TIMEOUT)
    job = await finished_job(rt)

    assert job.status == Status.DONE and job.delivered
    rendered = [r.getMessage() for r in caplog.records if "rendered from" in r.getMessage()]
    assert rendered == [f"job {job.id}: rendered from the photo's stored analysis"]  # no second face search
