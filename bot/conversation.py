"""The private-chat conversation: photos in, speech requests in, face picking.

State lives in the database (storage.media: the last photo per chat and its face choice;
storage.users: language and voice), so webhook replicas and restarts see the same conversation.
A voice note that arrives before any photo waits in storage for the next photo, a few minutes at
most (see `PENDING_MINUTES`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.ext import ContextTypes

import generator
from bot import voices
from bot.callbacks import face_data, parse_face
from bot.faces import draw_numbered_faces
from bot.runtime import Runtime, runtime, utcnow
from bot.texts import language_of, t
from generator import GeneratorError
from storage import Job, JobSpec, Media, media, users
from storage.errors import AlreadyQueued, QueueFull, QuotaExceeded, TooManyQueued, UserBanned

log = logging.getLogger(__name__)

#: How long a voice note sent before its photo waits for the photo.
PENDING_MINUTES = 10
#: The face reasons the catalog explains, most telling first.
_REASONS = ("MOUTH_NOT_VISIBLE", "FACE_TURNED_AWAY", "FACE_TOO_SMALL")


@dataclass(frozen=True)
class Speaker:
    """Who sent an update, in which chat and language."""

    user_id: int
    chat_id: int
    lang: str
    voice: str


async def speaker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Speaker, bool]:
    """Records the user (language, username) and returns who speaks and whether they are banned."""
    rt = runtime(context)
    tg_user = update.effective_user
    chat = update.effective_chat
    assert tg_user is not None and chat is not None
    lang = language_of(tg_user.language_code)
    async with rt.db.session() as s, s.begin():
        row = await users.upsert_user(s, tg_user.id, language=lang, username=tg_user.username)
    # Before choosing one, English speakers get the configured voice, others their language's first.
    default = rt.settings.default_tts_voice if lang == "en" else voices.default_voice(lang).id
    return Speaker(tg_user.id, chat.id, lang, row.voice or default), row.banned


async def refuse_too_big(message: Message, who: Speaker, size: int | None, rt: Runtime) -> bool:
    """Says so and returns True when the Bot API server would refuse to hand the bot this file.

    The limit is `Settings.max_download_mb`: 20 MB on Telegram's cloud Bot API, up to 2000 MB on a
    local Bot API server.
    """
    limit_mb = rt.settings.max_download_mb
    if size is None or size <= limit_mb * 2**20:
        return False
    await message.reply_text(t("file_too_big", who.lang, size_mb=size / 2**20, limit_mb=limit_mb))
    return True


def reason_of(analysis: dict[str, Any]) -> str:
    """The catalog key that says why no face in an analysis is usable."""
    reasons = {face.get("reason") for face in analysis.get("faces", [])}
    return next((reason for reason in _REASONS if reason in reasons), "NO_FACE")


def usable_faces(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The usable faces of a stored analysis, left to right."""
    return [face for face in analysis.get("faces", []) if face.get("usable")]


def format_reset(resets_at: datetime, timezone: str) -> str:
    """A reset time in the quota's time zone, as the user reads it."""
    return resets_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


# --- photos -------------------------------------------------------------------------------------


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stores the photo, finds its faces and says what to send next."""
    message = update.effective_message
    assert message is not None
    who, banned = await speaker(update, context)
    if banned:
        await message.reply_text(t("banned", who.lang))
        return
    rt = runtime(context)
    photo = await intake(message, who, rt)
    if photo is None:
        return
    faces = usable_faces(photo.analysis or {})
    if not faces:
        await message.reply_text(
            f"{t(reason_of(photo.analysis or {}), who.lang)}\n\n{t('photo_tip', who.lang)}"
        )
        return
    if message.caption and message.caption.strip():
        track = await text_track(message, message.caption, who, rt)
        if track is not None:
            await submit(message, who, track, photo, rt)
        return
    pending = await take_pending(who, rt, utcnow())
    if pending is not None:
        request_id, track = pending
        await submit(message, who, track, photo, rt, request_id=request_id)
        return
    if len(faces) == 1:
        await message.reply_text(t("one_face", who.lang))
        return
    await offer_faces(message, who, photo.id, Path(photo.path), faces)


def is_user_photo(message: Message) -> bool:
    """Whether a message is a picture a user sent (as a photo or as an image file)."""
    if message.from_user is not None and message.from_user.is_bot:
        return False  # e.g. the numbered-faces picture: it stands for the photo it was drawn on
    document = message.document
    return bool(message.photo) or (document is not None and (document.mime_type or "").startswith("image/"))


async def intake(message: Message, who: Speaker, rt: Runtime) -> Media | None:
    """Downloads, analyses and stores the picture in a message; None (the user told why) if unreadable."""
    if message.photo:
        picture = message.photo[-1]  # the largest size Telegram made
        file_id, unique_id, size, suffix = picture.file_id, picture.file_unique_id, picture.file_size, ".jpg"
    else:
        document = message.document
        assert document is not None
        file_id, unique_id, size = document.file_id, document.file_unique_id, document.file_size
        suffix = Path(document.file_name or "photo.jpg").suffix.lower() or ".jpg"
    if await refuse_too_big(message, who, size, rt):
        return None

    path = rt.settings.media_dir / str(who.chat_id) / f"{unique_id}{suffix}"
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    tg_file = await message.get_bot().get_file(file_id)
    await tg_file.download_to_drive(path)
    async with rt.db.session() as s:
        analysis = await media.cached_analysis(s, unique_id)  # the same picture sent again
    if analysis is None:
        try:
            analysis = (await rt.in_pool(generator.analyze, path)).to_dict()
        except GeneratorError as exc:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            await message.reply_text(t(str(exc.code), who.lang))
            return None
    now = utcnow()
    async with rt.db.session() as s, s.begin():
        return await media.save_photo(
            s,
            chat_id=who.chat_id,
            user_id=who.user_id,
            message_id=message.message_id,
            file_id=file_id,
            file_unique_id=unique_id,
            path=str(path),
            analysis=analysis,
            expires_at=now + timedelta(minutes=rt.settings.photo_memory_minutes),
        )


async def offer_faces(
    message: Message, who: Speaker, media_id: int, path: Path, faces: list[dict[str, Any]]
) -> None:
    """Sends the photo with numbered faces and a keyboard to pick who speaks."""
    picture = await asyncio.to_thread(draw_numbered_faces, path, [face["box"] for face in faces])
    buttons = [
        InlineKeyboardButton(
            t("face_button", who.lang, number=number), callback_data=face_data(media_id, face["index"])
        )
        for number, face in enumerate(faces, start=1)
    ]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append([InlineKeyboardButton(t("chorus_button", who.lang), callback_data=face_data(media_id, None))])
    await message.reply_photo(
        picture,
        caption=t("many_faces", who.lang, count=len(faces)),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def pick_face(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remembers which face (or all of them) speaks in the photo."""
    query = update.callback_query
    assert query is not None and query.data is not None
    who, _ = await speaker(update, context)
    pick = parse_face(query.data)
    if pick is None:
        await query.answer(t("button_unknown", who.lang), show_alert=True)
        return
    rt = runtime(context)
    chorus, face = pick.face is None, pick.face
    async with rt.db.session() as s:
        photo = await media.get_media(s, pick.media_id)
    if photo is None or (photo.chat_id, photo.user_id) != (who.chat_id, who.user_id):
        # Gone (forgotten, purged), or another chat's photo named by forged data: say nothing of it.
        await query.answer()
        await query.edit_message_caption(t("photo_gone", who.lang))
        return
    if face is not None and face not in [f["index"] for f in usable_faces(photo.analysis or {})]:
        await query.answer(t("button_unknown", who.lang), show_alert=True)
        return
    async with rt.db.session() as s, s.begin():
        await media.set_face(s, photo.id, face, chorus=chorus)
    await query.answer()
    if chorus:
        text = t("chorus_chosen", who.lang)
    else:
        number = 1 + [f["index"] for f in usable_faces(photo.analysis or {})].index(face)
        text = t("face_chosen", who.lang, number=number)
    await query.edit_message_caption(text)


# --- speech requests ----------------------------------------------------------------------------


async def on_speech(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Makes the remembered photo speak a voice note, audio file, video or round video."""
    message = update.effective_message
    assert message is not None
    who, banned = await speaker(update, context)
    if banned:
        await message.reply_text(t("banned", who.lang))
        return
    source, attachment = speech_attachment(message)
    if await refuse_too_big(message, who, attachment.file_size, runtime(context)):
        return
    track = {"source": source, "file_id": attachment.file_id, "text": None, "voice": None, "face": None}
    await route(message, who, track, context)


def speech_attachment(message: Message) -> tuple[str, Any]:
    """The kind of recording a message carries and its Telegram file."""
    if message.voice:
        return "voice", message.voice
    if message.audio:
        return "audio", message.audio
    if message.video:
        return "video", message.video
    if message.video_note:
        return "video_note", message.video_note
    document = message.document
    assert document is not None
    kind = "video" if (document.mime_type or "").startswith("video/") else "audio"
    return kind, document


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Makes the remembered photo say the typed text with the user's TTS voice."""
    message = update.effective_message
    assert message is not None and message.text is not None
    who, banned = await speaker(update, context)
    if banned:
        await message.reply_text(t("banned", who.lang))
        return
    track = await text_track(message, message.text, who, runtime(context))
    if track is not None:
        await route(message, who, track, context)


async def text_track(message: Message, text: str, who: Speaker, rt: Runtime) -> dict[str, Any] | None:
    """A TTS track for `text`, cut at the configured length (and the user told); None if empty."""
    text = text.strip()
    if not text:
        await message.reply_text(t("empty_text", who.lang))
        return None
    limit = rt.settings.max_text_chars
    if len(text) > limit:
        text = text[:limit]
        await message.reply_text(t("text_cut", who.lang, limit=limit))
    # bot/tts.py reads the text in a voice that knows its script (Chinese text, Chinese voice).
    return {"source": "text", "file_id": None, "text": text, "voice": who.voice, "face": None}


async def route(
    message: Message, who: Speaker, track: dict[str, Any], context: ContextTypes.DEFAULT_TYPE
) -> None:
    """Renders the track with the photo it belongs to, or keeps it until a photo arrives."""
    rt = runtime(context)
    now = utcnow()
    replied = message.reply_to_message
    photo: Media | None = None
    if replied is not None and is_user_photo(replied):
        async with rt.db.session() as s:
            photo = await media.photo_for_message(s, who.chat_id, replied.message_id)
        if photo is None:  # older than the photo memory: take it in again
            photo = await intake(replied, who, rt)
            if photo is None:
                return
    if photo is None:
        async with rt.db.session() as s:
            photo = await media.last_photo(s, who.chat_id, who.user_id, now)
    if photo is None:
        async with rt.db.session() as s, s.begin():
            await media.save_pending(
                s,
                chat_id=who.chat_id,
                user_id=who.user_id,
                message_id=message.message_id,
                track=track,
                now=now,
            )
        await message.reply_text(t("need_photo", who.lang))
        return
    if not usable_faces(photo.analysis or {}):
        await message.reply_text(
            f"{t(reason_of(photo.analysis or {}), who.lang)}\n\n{t('photo_tip', who.lang)}"
        )
        return
    await submit(message, who, track, photo, rt)


async def take_pending(who: Speaker, rt: Runtime, now: datetime) -> tuple[int, dict[str, Any]] | None:
    """The request this user sent before any photo, if it is recent; it is consumed."""
    async with rt.db.session() as s, s.begin():
        return await media.take_pending(s, who.chat_id, who.user_id, now - timedelta(minutes=PENDING_MINUTES))


async def submit(
    message: Message,
    who: Speaker,
    track: dict[str, Any],
    photo: Any,
    rt: Runtime,
    request_id: int | None = None,
) -> None:
    """Queues a render (quota debited in the same transaction) and acknowledges it with the position.

    The acknowledgement is sent first so its id travels in the job payload: the worker edits it as
    the job advances, and a worker that picks the job up at once never misses it.
    """
    request_id = request_id or message.message_id
    status = await message.get_bot().send_message(
        who.chat_id,
        t("queued_next", who.lang),
        reply_parameters=ReplyParameters(message_id=request_id, allow_sending_without_reply=True),
    )
    payload = {
        "kind": "solo",
        "language": who.lang,
        "photo": {"file_id": photo.file_id, "file_unique_id": photo.file_unique_id, "media_id": photo.id},
        "face": photo.face,
        "chorus": bool(photo.chorus),
        "tracks": [track],
        "reply_to_message_id": request_id,
        "status_message_id": status.message_id,
    }
    spec = JobSpec(
        user_id=who.user_id,
        chat_id=who.chat_id,
        idempotency_key=f"{who.chat_id}:{request_id}",
        payload=payload,
    )
    job, text = await enqueue(rt, spec, who.lang, status.message_id)
    if job is not None:
        if rt.worker is not None:
            rt.worker.notify()
        position = await rt.queue.position(job.id)
        if position <= 1:
            return  # the acknowledgement already says "next"
        text = t("queued", who.lang, position=position)
    await status.edit_text(text)


async def enqueue(rt: Runtime, spec: JobSpec, lang: str, status_id: int) -> tuple[Job | None, str]:
    """Queues a render (quota debit + insert, one transaction); else says why not, in `lang`.

    A queued job learns its status message; the caller wakes the worker once the job's
    surroundings (e.g. a scene's status) are saved.
    """
    try:
        job = await rt.queue.enqueue(spec, rt.policy, utcnow())
    except QuotaExceeded as exc:
        zone = rt.settings.quota_timezone
        return None, t("quota_exceeded", lang, time=format_reset(exc.resets_at, zone), timezone=zone)
    except TooManyQueued as exc:
        return None, t("too_many_queued", lang, limit=exc.limit)
    except QueueFull:
        return None, t("queue_full", lang)
    except UserBanned:
        return None, t("banned", lang)
    except AlreadyQueued:
        return None, t("already_queued", lang)
    await rt.queue.set_status_message(job.id, status_id)
    return job, ""
