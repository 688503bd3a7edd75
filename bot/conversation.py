"""The private-chat conversation: photos in, speech requests in, face picking.

State lives in the database (storage.media: the last photo per chat and its face choice;
storage.users: language and voice), so webhook replicas and restarts see the same conversation.
A voice note that arrives before any photo waits in storage for the next photo, a few minutes at
most (see `PENDING_MINUTES`).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.ext import ContextTypes

from bot import offers
from bot.callbacks import face_data, parse_face
from bot.intake import (
    Photo,
    Speaker,
    for_members,
    is_user_photo,
    no_usable_face,
    numbered_faces,
    refuse_too_big,
    speaker,
    speech_attachment,
    take_photo,
    typed_text,
    usable_faces,
)
from bot.jobs import enqueue, show_position
from bot.request import PhotoRef, Track, UnreadableRequest, render_job, track_from
from bot.runtime import Runtime, runtime, utcnow
from bot.styles import caption_style, style_label, with_photo_style
from bot.texts import t
from storage import JobSpec, Media, media

log = logging.getLogger(__name__)

#: How long a voice note sent before its photo waits for the photo.
PENDING_MINUTES = 10


# --- photos -------------------------------------------------------------------------------------


@for_members
async def on_photo(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker
) -> None:
    """Stores the photo, finds its faces and says what to send next."""
    rt = runtime(context)
    photo = await take_photo(message, who, rt, answer=message)
    if photo is None:
        return
    faces = photo.usable
    if not faces:
        await message.reply_text(no_usable_face(photo.analysis, who.lang))
        return
    keyword, caption = caption_style(message.caption or "")
    if keyword is not None:  # "#calm": this photo's videos use that style, /style's choice stays
        async with rt.db.session() as s, s.begin():
            photo = dataclasses.replace(photo, media=await media.set_style(s, photo.media.id, keyword))
        if not caption.strip():
            await message.reply_text(t("style_for_photo", who.lang, style=style_label(keyword, who.lang)))
    if caption.strip():
        track = await text_track(message, caption, who, rt)
        if track is not None:
            await submit(message, who, track, photo.media, rt)
        return
    pending = await take_pending(who, rt, utcnow())
    if pending is not None:
        request_id, track = pending
        await submit(message, who, track, photo.media, rt, request_id=request_id)
        return
    if len(faces) == 1:
        await message.reply_text(t("one_face", who.lang))
        return
    await offer_faces(message, who, photo, faces)


async def offer_faces(message: Message, who: Speaker, photo: Photo, faces: list[dict[str, Any]]) -> None:
    """Sends the photo with numbered faces and a keyboard to pick who speaks."""
    picture = await numbered_faces(photo, message, faces)
    media_id = photo.media.id
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
    async with rt.db.read_session() as s:
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


@for_members
async def on_speech(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker
) -> None:
    """Makes the remembered photo speak a voice note, audio file, video or round video."""
    source, attachment = speech_attachment(message)
    if await refuse_too_big(message, who, attachment.file_size, runtime(context)):
        return
    track = track_from(source, who.user_id, file_id=attachment.file_id)
    await route(message, who, track, context)


@for_members
async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Speaker) -> None:
    """Makes the remembered photo say the typed text with the user's TTS voice."""
    assert message.text is not None
    track = await text_track(message, message.text, who, runtime(context))
    if track is not None:
        await route(message, who, track, context)


async def text_track(message: Message, text: str, who: Speaker, rt: Runtime) -> Track | None:
    """A TTS track for `text`, cut at the configured length (and the user told); None if empty."""
    line = await typed_text(message, text, who, rt)
    if line is None:
        return None
    # bot/tts.py reads the text in a voice that knows its script (Chinese text, Chinese voice).
    return track_from("text", who.user_id, text=line, voice=who.voice)


async def route(message: Message, who: Speaker, track: Track, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Renders the track with the photo it belongs to, or keeps it until a photo arrives."""
    rt = runtime(context)
    now = utcnow()
    replied = message.reply_to_message
    photo: Media | None = None
    if replied is not None and is_user_photo(replied):
        async with rt.db.read_session() as s:
            photo = await media.photo_for_message(s, who.chat_id, replied.message_id)
        if photo is None:  # older than the photo memory: take it in again
            taken = await take_photo(replied, who, rt, answer=message)
            if taken is None:
                return
            photo = taken.media
    if photo is None:
        async with rt.db.read_session() as s:
            photo = await media.last_photo(s, who.chat_id, who.user_id, now)
    if photo is None:
        async with rt.db.session() as s, s.begin():
            await media.save_pending(
                s,
                chat_id=who.chat_id,
                user_id=who.user_id,
                message_id=message.message_id,
                track=track.to_dict(),
                now=now,
            )
        await message.reply_text(t("need_photo", who.lang))
        return
    if not usable_faces(photo.analysis or {}):
        await message.reply_text(no_usable_face(photo.analysis or {}, who.lang))
        return
    await submit(message, who, track, photo, rt)


async def take_pending(who: Speaker, rt: Runtime, now: datetime) -> tuple[int, Track] | None:
    """The request this user sent before any photo, if it is recent; it is consumed."""
    async with rt.db.session() as s, s.begin():
        pending = await media.take_pending(
            s, who.chat_id, who.user_id, now - timedelta(minutes=PENDING_MINUTES)
        )
    if pending is None:
        return None
    request_id, data = pending
    try:
        return request_id, Track.from_dict({"user_id": who.user_id, **data})
    except UnreadableRequest:  # kept by an older version: let it go rather than fail the photo
        log.warning("dropped an unreadable waiting request in chat %s", who.chat_id)
        return None


async def submit(
    message: Message,
    who: Speaker,
    track: Track,
    photo: Media,
    rt: Runtime,
    request_id: int | None = None,
) -> None:
    """Queues a render (quota debited in the same transaction) and acknowledges it with the position.

    The acknowledgement is sent first, so the user hears back at once; its id is saved in the
    job's own insert, and the worker edits it to show progress. When nothing could be queued
    (a refusal, or the database out of reach) the acknowledgement is edited to say so.
    """
    request_id = request_id or message.message_id
    choice = with_photo_style(who.choice, photo.style)
    status = await message.get_bot().send_message(
        who.chat_id,
        t("queued_next", who.lang),
        reply_parameters=ReplyParameters(message_id=request_id, allow_sending_without_reply=True),
    )
    if track.face is None and photo.face is not None:
        track = dataclasses.replace(track, face=photo.face)  # the face picked on the photo speaks
    request = render_job(
        language=who.lang,
        photo=PhotoRef(photo.file_id, photo.file_unique_id),
        tracks=[track],
        chorus=bool(photo.chorus),
        reply_to_message_id=request_id,
        style=choice.style,
        motion=choice.motion,
    )
    spec = JobSpec(
        user_id=who.user_id,
        chat_id=who.chat_id,
        idempotency_key=f"{who.chat_id}:{request_id}",
        payload=request.to_payload(),
    )
    queued = await enqueue(rt, spec, who.lang, status.message_id)
    if queued.job is not None:
        if rt.worker is not None:
            rt.worker.notify()
        await show_position(rt, status, queued.job, who.lang)
        return
    # The acknowledgement said "next": it now says the truth (nothing queued, nothing charged).
    offer = None if queued.database_down else await offers.offer_when_out(rt, who)
    await status.edit_text(queued.text, reply_markup=offer)
