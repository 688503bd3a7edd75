"""The playground's chat page: a small Telegram client in the browser, served by the emulator itself.

The page talks to `Playground` over a few JSON routes and one event stream (Server-Sent Events);
everything a user does becomes what a Telegram client would send (`FakeBotApi.send_*`), so the bot
sees the updates it would see in production:

- photos are re-encoded to JPEG (at most 1280 px a side), as Telegram does with a compressed photo;
- a recording from the microphone becomes an OGG/Opus voice note (48 kHz mono), as Telegram's
  apps record them;
- audio, video and other files go as audio, video or document messages;
- in the group, privacy mode decides what reaches the bot: commands, mentions and replies to the
  bot's messages (the other members' chatter is shown, never delivered);
- text longer than 4096 characters is split into several messages, as the apps do; a caption
  longer than 1024 is refused before sending, as the apps do.

Routes: `GET /` (the page), `/static/*`, `GET /api/state`, `GET /api/events` (SSE),
`POST /api/send` (multipart), `POST /api/press`, `POST /api/language`, `GET /api/file/{file_id}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.intake import NoAudio, voice_note
from playground.botapi import MAX_CAPTION, MAX_TEXT, FakeBotApi, Json, mime_from_name, probe_video

STATIC = Path(__file__).parent / "static"
#: Longest side of a photo sent "compressed", as Telegram's apps send it.
PHOTO_MAX_SIDE = 1280
#: Seconds without a getUpdates call after which the page shows the bot as offline.
ONLINE_WINDOW_S = 30.0
#: What the playground prints when the bot calls a Bot API method the emulator does not know.
UNKNOWN_METHOD = "the bot called a Bot API method the emulator does not implement"
#: Seconds between the event stream's status beats.
BEAT_S = 2.0


@dataclass(frozen=True)
class Member:
    """A simulated Telegram user of the playground."""

    id: int
    name: str
    language_code: str


MEMBERS = (Member(1001, "Alice", "en"), Member(1002, "Bob", "en"), Member(1003, "Chen", "zh"))
GROUP_ID = -1001
GROUP_TITLE = "Playground group"


class SendError(Exception):
    """What the page sent cannot be sent, as a Telegram app would refuse it."""


class Playground:
    """The chat page's routes and state on top of a `FakeBotApi`."""

    def __init__(self, api: FakeBotApi, members: tuple[Member, ...] = MEMBERS) -> None:
        self.api = api
        self.members = {m.id: m for m in members}
        for member in members:
            api.user(member.id, member.name, member.language_code)
        # The first member made the group and administers it.
        api.chat(GROUP_ID, "group", GROUP_TITLE, admins=(members[0].id,))
        api.deliver_filter = self.reaches_bot
        api.listen(self._on_change)
        self._clients: set[asyncio.Queue[str]] = set()
        self._undelivered: set[tuple[int, int]] = set()  # group messages privacy mode kept from the bot
        app = api.app
        app.router.add_get("/", self._index)
        app.router.add_static("/static", STATIC)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/pay", self._pay)
        app.router.add_post("/api/language", self._language)
        app.router.add_get("/api/file/{file_id}", self._file)

    # ------------------------------------------------------------------ what the bot sees

    def reaches_bot(self, message: Json) -> bool:
        """Telegram's privacy mode: in groups a bot gets commands, mentions and replies to it."""
        if not self._privacy_mode_lets_through(message):
            self._undelivered.add((message["chat"]["id"], message["message_id"]))
            return False
        return True

    def _privacy_mode_lets_through(self, message: Json) -> bool:
        if message["chat"]["type"] == "private":
            return True
        username = str(self.api.bot_user["username"]).lower()
        text = str(message.get("text") or message.get("caption") or "")
        command = re.match(r"/\w+(?:@(\w+))?", text)
        if command and (command.group(1) is None or command.group(1).lower() == username):
            return True
        if f"@{username}" in text.lower():
            return True
        replied = message.get("reply_to_message") or {}
        return bool(replied.get("from", {}).get("id") == self.api.bot_user["id"])

    def bot_online(self) -> bool:
        """Whether the bot polls the emulator right now (a getUpdates waiting or recent)."""
        now = time.monotonic()
        return any(
            not call.done or now - call.time < ONLINE_WINDOW_S
            for call in self.api.calls[-50:]
            if call.method == "getUpdates"
        )

    # ------------------------------------------------------------------ views

    def view(self, message: Json) -> Json:
        """A message as the page draws it."""
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        sender = message.get("from") or {}
        out: Json = {
            "chat_id": chat_id,
            "message_id": message_id,
            "date": message.get("date"),
            "from": {
                "id": sender.get("id"),
                "name": sender.get("first_name", ""),
                "is_bot": bool(sender.get("is_bot")),
            },
            "text": message.get("text"),
            "caption": message.get("caption"),
            "edited": "edit_date" in message,
            "deleted": self.api.is_deleted(chat_id, message_id),
            "delivered": (chat_id, message_id) not in self._undelivered,
        }
        replied = message.get("reply_to_message")
        if replied:
            out["reply_to"] = {
                "message_id": replied["message_id"],
                "name": (replied.get("from") or {}).get("first_name", ""),
                "snippet": _snippet(replied),
            }
        media = _media_of(message)
        if media is not None:
            out["media"] = media
        invoice = message.get("invoice")
        if invoice:
            out["invoice"] = {
                "title": invoice.get("title", ""),
                "description": invoice.get("description", ""),
                "currency": invoice.get("currency", ""),
                "total_amount": invoice.get("total_amount", 0),
            }
        for key, sign in (("successful_payment", "✅ paid"), ("refunded_payment", "↩ refunded")):
            payment = message.get(key)
            if payment:  # a service message: Telegram's apps draw it as a line of text
                out["text"] = f"{sign} {payment['total_amount']} ⭐"
        markup = message.get("reply_markup") or {}
        if markup.get("inline_keyboard"):
            out["buttons"] = [
                [
                    {"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")}
                    for b in row
                ]
                for row in markup["inline_keyboard"]
            ]
        return out

    def _messages(self) -> list[Json]:
        chats = [*self.members, GROUP_ID]
        return [self.view(message) for chat_id in chats for message in self.api.messages_in(chat_id)]

    def _commands(self) -> Json:
        """The command menus the bot registered: {"private"|"group": {language: [[name, text]]}}."""
        menus: Json = {"private": {}, "group": {}}
        for (scope_json, language), commands in self.api.commands.items():
            scope = json.loads(scope_json).get("type")
            where = {"default": "private", "all_group_chats": "group"}.get(scope)
            if where:
                menus[where][language or "en"] = [[c["command"], c["description"]] for c in commands]
        return menus

    def _state_json(self) -> Json:
        return {
            "bot": {
                "id": self.api.bot_user["id"],
                "name": self.api.bot_user["first_name"],
                "username": self.api.bot_user["username"],
                "online": self.bot_online(),
            },
            "members": [
                {
                    "id": m.id,
                    "name": m.name,
                    "language_code": self.api.user_info(m.id).get("language_code", "en"),
                }
                for m in self.members.values()
            ],
            "group": {"id": GROUP_ID, "title": GROUP_TITLE},
            "messages": self._messages(),
            "commands": self._commands(),
        }

    # ------------------------------------------------------------------ live events

    def _on_change(self, event: str, payload: Any) -> None:
        if event == "unknown_method":
            # Telegram would answer 404 too; said loudly, since the emulator should learn it.
            print(f"{UNKNOWN_METHOD}: {payload}", file=sys.stderr, flush=True)
            data: Json = {
                "type": "answer",
                "user_id": None,
                "text": f"{UNKNOWN_METHOD}: {payload}",
                "alert": True,
            }
        elif event in ("message", "delete"):
            data = {"type": "message", "message": self.view(payload)}
        elif event == "action":
            data = {"type": "action", **payload}
        elif event == "checkout_answer":
            if payload.get("ok"):
                return
            # Telegram's app shows the bot's refusal of a payment to the payer
            data = {
                "type": "answer",
                "user_id": payload.get("user_id"),
                "text": payload.get("error_message") or "",
                "alert": True,
            }
        elif event == "callback_answer":
            data = {
                "type": "answer",
                "user_id": payload.get("user_id"),
                "text": payload.get("text") or "",
                "alert": bool(payload.get("show_alert")),
            }
        else:
            return
        self._broadcast(data)

    def _broadcast(self, data: Json) -> None:
        line = json.dumps(data, ensure_ascii=False)
        for queue in self._clients:
            queue.put_nowait(line)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        # Listening before the headers go out: nothing that happens once the page sees the
        # stream open is missed.
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._clients.add(queue)
        try:
            await response.prepare(request)
            while True:
                try:
                    line = await asyncio.wait_for(queue.get(), BEAT_S)
                except TimeoutError:
                    line = json.dumps({"type": "status", "online": self.bot_online()})
                await response.write(f"data: {line}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(queue)
        return response

    # ------------------------------------------------------------------ routes

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self._state_json())

    def _member(self, value: Any) -> Member:
        member = self.members.get(int(value))
        if member is None:
            raise web.HTTPBadRequest(text="unknown member")
        return member

    def _chat_for(self, member: Member, value: Any) -> int:
        chat_id = int(value)
        if chat_id not in (member.id, GROUP_ID):
            raise web.HTTPBadRequest(text="a member writes in their private chat or the group")
        return chat_id

    async def _send(self, request: web.Request) -> web.Response:
        form = await request.post()
        member = self._member(form.get("user_id"))
        chat_id = self._chat_for(member, form.get("chat_id"))
        kind = str(form.get("kind") or "text")
        text = str(form.get("text") or "")
        reply_raw = str(form.get("reply_to") or "")
        reply_to = int(reply_raw) if reply_raw.isdigit() else None
        if reply_to is not None and self.api.message(chat_id, reply_to) is None:
            reply_to = None
        upload = form.get("file")
        user = self.api.user_info(member.id)
        try:
            if kind == "text":
                sent = self._send_text(user, chat_id, text, reply_to)
            else:
                if not isinstance(upload, web.FileField):
                    raise SendError("no file attached")
                data = upload.file.read()
                if not data:
                    raise SendError("the file is empty")
                if len(text) > MAX_CAPTION:
                    raise SendError(f"a caption holds at most {MAX_CAPTION} characters")
                name = upload.filename or "file"
                mime = upload.content_type or mime_from_name(name)
                sent = await self._send_file(user, chat_id, kind, data, name, mime, text or None, reply_to)
        except SendError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response({"ok": True, "message_ids": [m["message_id"] for m in sent]})

    def _send_text(self, user: Json, chat_id: int, text: str, reply_to: int | None) -> list[Json]:
        if not text.strip():
            raise SendError("type something first")
        # Telegram's apps send a long text as several messages of at most 4096 characters.
        parts = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)]
        sent = [self.api.send_text(user, chat_id, parts[0], reply_to)]
        sent += [self.api.send_text(user, chat_id, part) for part in parts[1:]]
        return sent

    async def _send_file(
        self,
        user: Json,
        chat_id: int,
        kind: str,
        data: bytes,
        name: str,
        mime: str,
        caption: str | None,
        reply_to: int | None,
    ) -> list[Json]:
        api = self.api
        if kind == "voice":
            try:
                ogg, seconds = await asyncio.to_thread(voice_note, data)
            except NoAudio as exc:
                raise SendError(f"the recording could not be read: {exc}") from exc
            return [api.send_voice(user, chat_id, ogg, round(seconds), reply_to, caption=caption)]
        if kind == "photo" and mime.startswith("image/"):
            jpeg = await asyncio.to_thread(to_telegram_photo, data)
            if jpeg is not None:
                return [api.send_photo(user, chat_id, jpeg, caption, reply_to)]
            # Not a picture a phone could compress: the app sends it as a file instead.
        if mime.startswith("audio/"):
            seconds = await asyncio.to_thread(audio_seconds, data)
            return [
                api.send_audio(user, chat_id, data, round(seconds), name, mime, reply_to, caption=caption)
            ]
        if mime.startswith("video/"):
            probed = await asyncio.to_thread(probe_video, data)
            if probed is not None:
                width, height, seconds = probed
                return [
                    api.send_video(
                        user, chat_id, data, round(seconds), width, height, reply_to, caption=caption
                    )
                ]
        return [api.send_document(user, chat_id, data, name, mime, caption, reply_to)]

    async def _press(self, request: web.Request) -> web.Response:
        body = await request.json()
        member = self._member(body.get("user_id"))
        chat_id = self._chat_for(member, body.get("chat_id"))
        message_id = int(body.get("message_id"))
        data = str(body.get("data") or "")
        message = self.api.message(chat_id, message_id)
        keyboard = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = [button for row in keyboard for button in row]
        if not any(b.get("callback_data") == data for b in buttons):
            return web.json_response({"ok": False, "error": "that button is gone"}, status=400)
        self.api.press_button(self.api.user_info(member.id), chat_id, message_id, data)
        return web.json_response({"ok": True})

    async def _pay(self, request: web.Request) -> web.Response:
        """The member taps Pay on an invoice: the bot gets a pre_checkout_query (see FakeBotApi.pay)."""
        body = await request.json()
        member = self._member(body.get("user_id"))
        chat_id = self._chat_for(member, body.get("chat_id"))
        message_id = int(body.get("message_id"))
        if self.api.invoice(chat_id, message_id) is None:
            return web.json_response({"ok": False, "error": "that invoice is gone"}, status=400)
        self.api.pay(self.api.user_info(member.id), message_id, chat_id)
        return web.json_response({"ok": True})

    async def _language(self, request: web.Request) -> web.Response:
        body = await request.json()
        member = self._member(body.get("user_id"))
        code = str(body.get("language_code") or "en")
        if code not in ("en", "zh"):
            raise web.HTTPBadRequest(text="en or zh")
        # A new User object: updates from now on carry the new language_code, as after a
        # change of the app's language.
        self.api.user(member.id, member.name, code)
        return web.json_response({"ok": True})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        stored = self.api.file(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        data = stored.data
        headers = {
            "Content-Type": mime_from_name(stored.name),
            "Accept-Ranges": "bytes",
            "Cache-Control": "max-age=3600",
        }
        # Browsers fetch media in ranges (an MP4's index may sit at its end).
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("Range", ""))
        if match and (match.group(1) or match.group(2)):
            if match.group(1):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
            else:
                start, end = max(0, len(data) - int(match.group(2))), len(data) - 1
            end = min(end, len(data) - 1)
            if start > end:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return web.Response(status=206, body=data[start : end + 1], headers=headers)
        return web.Response(body=data, headers=headers)


# ---------------------------------------------------------------------- conversions


def to_telegram_photo(data: bytes) -> bytes | None:
    """A picture as Telegram delivers a compressed photo: JPEG, upright, at most 1280 px a side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    picture.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=87)
    return out.getvalue()


def audio_seconds(data: bytes) -> float:
    """The duration Telegram would show for an audio file; 0 when it cannot be read."""
    import av

    with contextlib.suppress(av.FFmpegError, IndexError), av.open(io.BytesIO(data), "r") as container:
        if container.duration:
            return container.duration / 1_000_000
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    return 0.0


def _media_of(message: Json) -> Json | None:
    if message.get("photo"):
        largest = message["photo"][-1]
        return {
            "kind": "photo",
            "url": f"/api/file/{largest['file_id']}",
            "width": largest.get("width"),
            "height": largest.get("height"),
        }
    for kind in ("video", "animation", "video_note", "voice", "audio", "document"):
        item = message.get(kind)
        if item:
            return {
                "kind": kind,
                "url": f"/api/file/{item['file_id']}",
                "name": item.get("file_name") or item.get("title") or "",
                "duration": item.get("duration"),
                "width": item.get("width") or item.get("length"),
                "height": item.get("height") or item.get("length"),
                "size": item.get("file_size"),
            }
    return None


def _snippet(message: Json) -> str:
    text = message.get("text") or message.get("caption")
    if text:
        return str(text)[:80]
    for kind, label in (
        ("photo", "Photo"),
        ("video", "Video"),
        ("voice", "Voice message"),
        ("audio", "Audio"),
        ("video_note", "Video message"),
        ("document", "File"),
    ):
        if message.get(kind):
            return label
    return ""
