"""The render job handler the storage `Worker` runs: fetch, synthesise, render, deliver.

Everything a job needs travels in its payload as Telegram file ids, so a worker on another machine
(`python -m bot worker`) fetches the photo and recordings through the Bot API just as the embedded
worker does. The render itself runs in the process pool; its progress crosses the process
boundary through a small file the render process rewrites and the event loop polls.

Sending is at most once per job. The Bot API has no idempotent upload: an answer that never came
(a read timeout after the upload, a dropped connection, a 5xx from a gateway) may mean Telegram
has the video. So the upload is retried, from the file of this attempt, only after errors that
prove it never got there (`never_arrived`); after any other error the job ends as delivered and the
user is told that the upload timed out and to send the request again if no video arrived. A
render is never repeated once its upload began: the job is marked (`begin_delivery`) before the
first byte goes out, and a worker that takes over such a job after a crash says the same instead
of rendering again. A refusal Telegram states (a 4xx) fails the job with a refund.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path

import httpx
from telegram import Bot, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import tts
from bot.cosmetic import quietly
from bot.request import RenderJob, UnreadableRequest
from bot.runtime import Runtime
from bot.texts import t
from generator import (
    AudioTrack,
    ErrorCode,
    GeneratorError,
    ImageAnalysis,
    RenderRequest,
    RenderResult,
    render,
)
from generator.engine import EngineName
from storage import Job, Status, media
from storage.errors import JobRejected

log = logging.getLogger(__name__)

#: Seconds between status message edits (Telegram allows about one edit per second per chat).
EDIT_EVERY = 3.0
#: Seconds between "sending video" chat actions; Telegram shows one for about five seconds.
ACTION_EVERY = 4.0
#: Seconds between looks at the render's progress file.
POLL_EVERY = 0.5
#: Seconds between looks at the job's row during a render (was it cancelled, is the lease ours?).
CHECK_EVERY = 2.0
#: The file whose presence tells a render in the pool to stop.
STOP_FLAG = "stop"
#: Uploads of one rendered video, when the earlier ones provably never reached Telegram.
UPLOAD_ATTEMPTS = 3
#: Seconds before the second upload; doubled before each later one.
UPLOAD_BACKOFF = 1.0


def never_arrived(exc: TelegramError) -> bool:
    """Whether a failed upload provably never reached Telegram, so sending again cannot duplicate.

    True for a 429 (Telegram refused it unread), a connection that never opened, a request that
    waited for a free connection, and a body whose writing timed out (a partial request is never
    processed). False for a read timeout, a dropped connection and 5xx answers: Telegram (or the
    gateway in front of it) may have taken the video.
    """
    if isinstance(exc, RetryAfter):
        return True
    cause = exc.__cause__
    if isinstance(exc, TimedOut):
        return isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.WriteTimeout)
    return isinstance(exc, NetworkError) and isinstance(cause, httpx.ConnectError)


def refused(exc: TelegramError) -> bool:
    """Whether Telegram answered the upload with a refusal (4xx): it has no video, and will not."""
    return isinstance(exc, BadRequest) or not isinstance(exc, NetworkError | RetryAfter)


def sweep_orphaned_workdirs(jobs_dir: Path, older_than: float, now: float | None = None) -> list[Path]:
    """Deletes job folders nobody has touched for `older_than` seconds; returns them.

    A job's folder lives as long as its attempt (deleted in `Delivery.__call__`'s finally) and is
    touched at every progress poll, so one left this long belongs to a worker that crashed: its
    job has been reclaimed, and the photo and recordings in it must not stay on disk.
    """
    now = time.time() if now is None else now
    swept = []
    for folder in jobs_dir.glob("*"):
        try:
            newest = max(p.stat().st_mtime for p in (folder, *folder.rglob("*")))
        except OSError:  # removed meanwhile by its own worker
            continue
        if folder.is_dir() and now - newest > older_than:
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


def still_ours(job: Job, row: Job) -> bool:
    """Whether the job still runs under the worker that claimed it (not cancelled, not taken over)."""
    return row.status == Status.RUNNING and row.worker_id == job.worker_id


class JobStopped(Exception):
    """The job was cancelled or taken over by another worker while this one rendered it."""


def _log_stopped(job_id: int, future: Future[RenderResult]) -> None:
    """Logs how a render in the pool ended once its job had stopped waiting for it."""
    if future.cancelled():
        log.info("job %s: its render stopped in the pool before it began", job_id)
    elif isinstance(future.exception(), RenderStopped):
        log.info("job %s: its render stopped in the pool", job_id)
    else:
        log.debug("job %s: its render ended: %r", job_id, future.exception())


class UploadUnsure(Exception):
    """The upload may or may not have reached Telegram; the job must not send again."""


class RenderStopped(Exception):
    """The job ended (cancelled, lease lost, shut down) while its render still ran in the pool."""


def render_in_process(
    request: RenderRequest, output: Path, progress_file: Path, engine: EngineName = "auto"
) -> RenderResult:
    """Renders in a pool process with the ENGINE named, writing the fraction done to `progress_file`.

    Stops (RenderStopped) at its next progress step once the job's side wrote the stop flag next
    to `progress_file` or removed the job's folder, so a cancelled render frees its process.
    """
    last = -1.0
    stop_flag = progress_file.with_name(STOP_FLAG)
    stopped = False

    def report(fraction: float) -> None:
        nonlocal last, stopped
        if stop_flag.exists() or not progress_file.parent.is_dir():
            stopped = True
            raise RenderStopped(str(progress_file.parent))
        if fraction - last < 0.01 and fraction < 1.0:
            return
        last = fraction
        partial = progress_file.with_suffix(".part")
        partial.write_text(f"{fraction:.3f}")
        os.replace(partial, progress_file)  # atomic: the reader never sees half a number

    try:
        return render(request, output, progress=report, engine=engine)
    except Exception as exc:
        if stopped:  # closing the half-written video may raise an error of its own: say why it ended
            raise RenderStopped(str(progress_file.parent)) from exc
        raise


def read_progress(progress_file: Path) -> float:
    """The fraction a render reported so far (0 before its first report)."""
    try:
        return float(progress_file.read_text())
    except (OSError, ValueError):
        return 0.0


def _language(job: Job) -> str:
    """The language to answer in, even from a payload this version cannot read."""
    lang = job.payload.get("language") if isinstance(job.payload, dict) else None
    return lang if isinstance(lang, str) else "en"


class Delivery:
    """The storage worker's job handler and outcome hooks, bound to a Bot and the runtime."""

    def __init__(
        self, bot: Bot, rt: Runtime, after_failure: Callable[[Job], Awaitable[None]] | None = None
    ) -> None:
        self.bot = bot
        self.rt = rt
        # Told after a job failed for good (e.g. a group scene reopens for another take).
        self.after_failure = after_failure

    async def __call__(self, job: Job) -> str | None:
        """Makes the job's video and sends it as a reply; returns the sent video's file id."""
        lang = _language(job)
        status_id = await self._status_id(job)
        if job.delivered:  # a restart after sending: never send the same video twice
            await self._delete(job.chat_id, status_id)
            return job.result_file_id
        if job.delivery_started_at is not None:  # a worker died during the upload: the video may be there
            log.warning("job %s: an earlier upload was interrupted; not rendering again", job.id)
            await self._upload_unsure(job, lang, status_id)
            return None
        try:
            wanted = RenderJob.from_payload(job.payload)
        except UnreadableRequest as exc:
            log.error("job %s has a payload this version cannot read: %s", job.id, exc)
            raise JobRejected("request_unreadable", str(exc)) from exc
        workdir = self.rt.settings.data_dir / "jobs" / str(job.id)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            try:
                request = await self._prepare(job, wanted, workdir)
                result = await self._render(job, request, workdir, status_id, lang)
                how = "the photo's stored analysis" if result.reused_analysis else "a new analysis"
                log.info("job %s: rendered from %s", job.id, how)
            except JobStopped:
                log.info("job %s was cancelled or taken over; its render was stopped", job.id)
                return None  # nothing of ours to record: storage already holds the job's state
            except GeneratorError as exc:
                log.info("job %s refused by the generator: %s", job.id, exc)
                raise JobRejected(str(exc.code), exc.message) from exc  # on_rejected tells the user
            status_id = status_id or await self._status_id(job)
            try:
                file_id = await self._send(job, result, lang, status_id)
            except UploadUnsure:
                await self._upload_unsure(job, lang, status_id)
                return None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)  # the video lives on in Telegram
        await self._delete(job.chat_id, status_id)
        return file_id

    async def on_rejected(self, job: Job, exc: JobRejected) -> None:
        """Tells the user why the generator refused their input; storage has refunded the quota."""
        text = t(exc.code, _language(job), seconds=round(self.rt.settings.max_clip_seconds))
        await self._say(job, text)
        await self._delete(job.chat_id, job.status_message_id)
        if self.after_failure is not None:
            await self.after_failure(job)

    async def on_give_up(self, job: Job, exc: BaseException) -> None:
        """Apologises once a job failed for good; storage has refunded the quota."""
        log.error("job %s failed for good", job.id, exc_info=exc)
        await self._say(job, t("internal_error", _language(job)))
        await self._delete(job.chat_id, job.status_message_id)
        if self.after_failure is not None:
            await self.after_failure(job)

    # --- stages ---------------------------------------------------------------------------------

    async def _prepare(self, job: Job, wanted: RenderJob, workdir: Path) -> RenderRequest:
        """Fetches the photo and recordings (synthesising typed text) into `workdir`, with the
        analysis the intake stored for the photo (the render then finds no faces again)."""
        photo = await self._fetch(wanted.photo.file_id, workdir / "photo")
        async with self.rt.db.read_session() as s:
            stored = await media.cached_analysis(s, wanted.photo.file_unique_id)
        tracks = []
        for number, track in enumerate(wanted.tracks):
            phonemes = track.phoneme_spans()
            if track.source == "text":
                assert track.text is not None  # checked by RenderJob.from_payload
                voice = track.voice or self.rt.settings.default_tts_voice
                try:
                    speech = await self.rt.tts.synthesize(track.text, voice, wanted.language)
                except tts.NothingToSay as exc:
                    raise GeneratorError(ErrorCode.NO_SPEECH, "the text has nothing to speak") from exc
                audio: Path = workdir / f"track{number}{speech.suffix}"
                await asyncio.to_thread(audio.write_bytes, speech.data)
                phonemes = phonemes or speech.phonemes
            else:
                assert track.file_id is not None  # checked by RenderJob.from_payload
                audio = await self._fetch(track.file_id, workdir / f"track{number}")
            tracks.append(AudioTrack(audio=audio, face=track.face, phonemes=phonemes))
        return RenderRequest(
            image=photo,
            tracks=tracks,
            max_seconds=self.rt.settings.max_clip_seconds,
            max_side=self.rt.settings.output_max_side,
            seed=job.id,
            chorus=wanted.chorus,
            analysis=ImageAnalysis.from_stored(stored) if stored is not None else None,
            style=wanted.style,
            motion=wanted.motion,
        )

    async def _fetch(self, file_id: str, stem: Path) -> Path:
        """Downloads a Telegram file next to `stem`, keeping the extension Telegram gave it."""
        tg_file = await self.bot.get_file(file_id)
        path = stem.with_suffix(Path(tg_file.file_path or "").suffix)
        await tg_file.download_to_drive(path)
        return path

    async def _render(
        self, job: Job, request: RenderRequest, workdir: Path, status_id: int | None, lang: str
    ) -> RenderResult:
        """Renders in the pool, editing the status message and keeping the chat action alive."""
        progress_file = workdir / "progress"
        output = workdir / "video.mp4"
        call = self.rt.submit(render_in_process, request, output, progress_file, self.rt.settings.engine)
        call.future.add_done_callback(functools.partial(_log_stopped, job.id))
        future = asyncio.ensure_future(self.rt.wait_for(call))
        last_edit = last_action = last_check = 0.0
        shown = -1
        try:
            while True:
                os.utime(workdir)  # alive: sweep_orphaned_workdirs leaves this folder alone
                now = time.monotonic()
                if now - last_check >= CHECK_EVERY:
                    last_check = now
                    row = await self._row(job)
                    if row is None or not still_ours(job, row):  # cancelled, forgotten, taken over
                        raise JobStopped(job.id)
                    # A worker may claim the job before its status message id is stored.
                    status_id = status_id or row.status_message_id
                if now - last_action >= ACTION_EVERY:
                    last_action = now
                    await quietly(self.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_VIDEO))
                percent = int(read_progress(progress_file) * 100)
                if status_id and percent != shown and now - last_edit >= EDIT_EVERY:
                    last_edit, shown = now, percent
                    text = t("rendering", lang, percent=percent)
                    await quietly(self.bot.edit_message_text(text, job.chat_id, status_id))
                done, _ = await asyncio.wait({future}, timeout=POLL_EVERY)
                if done:
                    return future.result()
        finally:
            if not future.done():
                # Cancelled (lease lost, user's /cancel, shutdown): stop the render in the pool too.
                (workdir / STOP_FLAG).touch()
                future.cancel()

    async def _send(self, job: Job, result: RenderResult, lang: str, status_id: int | None) -> str | None:
        """Sends the video as a reply to the request (at most once) and marks the job delivered.

        Raises UploadUnsure when Telegram may have the video, JobRejected when it refused it.
        """
        if status_id:
            await quietly(self.bot.edit_message_text(t("uploading", lang), job.chat_id, status_id))
        await quietly(self.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_VIDEO))
        if job.worker_id is None or not await self.rt.queue.begin_delivery(job.id, job.worker_id):
            # Lease lost (another worker has the job now) or an upload already began: send nothing.
            log.warning("job %s: not this worker's to deliver any more; nothing sent", job.id)
            return None
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                message = await self._upload(job, result, lang)
                break
            except TelegramError as exc:
                if never_arrived(exc) and attempt < UPLOAD_ATTEMPTS:
                    log.warning("job %s: upload %d never reached Telegram (%r); again", job.id, attempt, exc)
                    await asyncio.sleep(UPLOAD_BACKOFF * 2 ** (attempt - 1))
                    continue
                if never_arrived(exc) or refused(exc):
                    log.warning("job %s: Telegram did not take the video: %r", job.id, exc)
                    # Telegram said so: nothing was delivered, so the job may fail and be refunded.
                    await self.rt.queue.abort_delivery(job.id, job.worker_id)
                    raise JobRejected("upload_failed", str(exc)) from exc
                log.warning("job %s: upload answer lost (%r); not sending again", job.id, exc)
                raise UploadUnsure(str(exc)) from exc
        file_id = message.video.file_id if message.video else ""
        await self.rt.queue.mark_delivered(job.id, file_id)
        return file_id

    async def _upload(self, job: Job, result: RenderResult, lang: str) -> Message:
        """One sendVideo of the rendered file."""
        caption = t("trimmed", lang, seconds=f"{result.duration:.0f}") if result.trimmed else None
        with result.path.open("rb") as video:
            return await self.bot.send_video(
                job.chat_id,
                video,
                duration=max(1, round(result.duration)),
                width=result.width,
                height=result.height,
                thumbnail=result.thumbnail or None,
                supports_streaming=True,
                caption=caption,
                reply_parameters=self._reply_to(job),
                filename="phototalk.mp4",
            )

    async def _upload_unsure(self, job: Job, lang: str, status_id: int | None) -> None:
        """Ends a job whose video may have reached the user: recorded as delivered, user told."""
        await self.rt.queue.mark_delivered(job.id, None)
        await self._say(job, t("upload_unsure", lang))
        await self._delete(job.chat_id, status_id)

    async def _row(self, job: Job) -> Job | None:
        """The job's row as stored now (None: deleted); on a database hiccup, the job as claimed."""
        try:
            return await self.rt.queue.get(job.id)
        except Exception:  # the heartbeat decides about the lease then
            log.debug("could not look at job %s", job.id, exc_info=True)
            return job

    # --- small helpers --------------------------------------------------------------------------

    @staticmethod
    def _reply_to(job: Job) -> ReplyParameters | None:
        """Reply parameters pointing at the request message, if the payload names one."""
        message_id = job.payload.get("reply_to_message_id") if isinstance(job.payload, dict) else None
        if not isinstance(message_id, int) or not message_id:
            return None
        return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)

    async def _status_id(self, job: Job) -> int | None:
        """The job's status message: stored right after the insert, so a quick claim may miss it."""
        if job.status_message_id is None:
            fresh = await self.rt.queue.get(job.id)
            return fresh.status_message_id if fresh is not None else None
        return job.status_message_id

    async def _say(self, job: Job, text: str) -> None:
        """Sends the user a message about the job, as a reply to the request."""
        await quietly(self.bot.send_message(job.chat_id, text, reply_parameters=self._reply_to(job)))

    async def _delete(self, chat_id: int, message_id: int | None) -> None:
        """Removes the status message once the job has ended, however it ended."""
        if message_id:
            await quietly(self.bot.delete_message(chat_id, message_id))
