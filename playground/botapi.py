"""A local Telegram Bot API over real HTTP: the tests' fake and the playground's emulator, one module.

python-telegram-bot's `Application` runs against it unchanged:

    async with FakeBotApi() as fake:
        app = (ApplicationBuilder().token(fake.token)
               .base_url(fake.base_url).base_file_url(fake.base_file_url).build())
        ...
        alice = fake.user(1001, "Alice", language_code="en")
        fake.send_photo(alice, None, jpeg_bytes)          # None = Alice's private chat
        call = await fake.wait_for("sendMessage")
        assert "face" in call.params["text"]

What it does, the way Telegram does it:
- Methods are served at `/bot<token>/<method>` (names case-insensitive), GET or POST, with
  url-encoded, multipart or JSON bodies; answers are `{"ok": true, "result": ...}`, errors
  `{"ok": false, "error_code": N, "description": "..."}` with the HTTP status N. A wrong token
  gets 401, an unknown method 404 "Not Found: method X". Strict by default: leaving
  `async with FakeBotApi()` after the bot called a method the emulator does not know fails the
  test (`unknown_calls` lists them), so a new Bot API call is never answered by a silent `true`.
- Files live at `/file/bot<token>/<file_path>`. Every file a user sends (the builders below) and
  every file the bot uploads (sendPhoto, sendVideo, ...) becomes a Telegram file: a file_id the bot
  can send again or pass to getFile, and bytes a test can read back (`file_bytes`).
- Message ids increase per chat, shared by the users' and the bot's messages. Sent messages come
  back as full Message objects (from = the bot, reply_to_message, reply_markup, photo sizes,
  video with width/height/duration). Edits and deletions change the stored message.
- The checks Telegram makes that a bot trips over in production answer 400 with Telegram's own
  wording: empty or too long text (4096) or caption (1024), callback data over 64 bytes, editing
  a message to identical content ("message is not modified"), replying to / editing / deleting a
  missing message, a chat the bot has never seen, an unknown file_id, getFile of a file above
  20 MB ("file is too big"), an upload above 50 MB (413 "Request Entity Too Large"), an expired
  callback query id, getUpdates while a webhook is set (409).
- getUpdates is a real long poll honouring offset, limit, timeout and allowed_updates; updates
  stay queued until a later offset confirms them. With a webhook set (setWebhook), updates are
  POSTed to it instead, in order, with the X-Telegram-Bot-Api-Secret-Token header.

The test side (all builders are synchronous: they queue the update and return at once):
- `await fake.start()` / `await fake.stop()` or `async with FakeBotApi() as fake`; `fake.url`,
  `fake.token`, `fake.base_url`, `fake.base_file_url`, `fake.bot_user`.
- `fake.user(id, first_name, language_code)` and `fake.chat(id, type, title)` register a user /
  chat and return its dict. Builders: `send_text`, `send_command`, `send_photo`, `send_document`,
  `send_voice`, `send_audio`, `send_video`, `send_video_note` return the Message dict they queued;
  `press_button` returns the CallbackQuery dict. `chat=None` means the user's private chat;
  `reply_to` is a message id or a Message dict.
- `fake.add_file(data, name, file_size=None) -> (file_id, file_unique_id, file_size)`;
  `file_size` may claim more than `len(data)` to simulate a big file.
- `fake.calls` (every request: `Call(method, params, files, time, status, result)`),
  `fake.calls_to(method)`, `await fake.wait_for(method, predicate=None, timeout=30)`,
  `fake.fail_next(method, times=1, retry_after=1)`, `fake.delay_next(method, seconds)` (the call
  takes effect at once, its answer comes late: past the client's read timeout it is a TimedOut).
- `fake.sent_messages(chat_id)`, `fake.message(chat_id, message_id)` (current state after edits),
  `fake.text_of(chat_id, message_id)`, `fake.history(chat_id, message_id)` (every version),
  `fake.deleted`, `fake.chat_actions(chat_id)`, `fake.callback_answers`, `fake.commands`,
  `fake.webhook`, `fake.file_bytes(file_id)`, `fake.video_bytes(message)`.
- `await fake.post_update_to(url, update, secret_token)` delivers one update to a webhook by hand.
- Payments in Telegram Stars: `sendInvoice` (XTR: empty provider token, one price) stores an
  invoice message; `fake.pay(user, message_id)` taps Pay — a `pre_checkout_query` goes to the
  bot, and when `answerPreCheckoutQuery` says ok, the user's `successful_payment` message follows.
  `fake.pre_checkout(user, payload, amount)`, `fake.successful_payment(user, payload, amount,
  charge_id)` (the same charge id again = a duplicated update) and `fake.refunded_payment(user,
  charge_id)` push them by hand; `refundStarPayment` refunds a charge once and sends the
  `refunded_payment` message. `fake.checkout_answers`, `fake.star_refunds`, `fake.charges`.
- `fake.listen(callback)`: `callback(event, payload)` runs on every change a chat window would show
  ("message" new or edited, "delete", "action", "callback_answer"); the playground pushes these to
  the browser. `fake.app` is the aiohttp application, to add routes before `start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

#: `callback(event, payload)`: see `FakeBotApi.listen`.
Listener = Callable[[str, Any], None]

DEFAULT_TOKEN = "123456789:AAFakeTokenForPhototalkTests_0123456789"
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the cloud Bot API's getFile limit
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the cloud Bot API's limit on one uploaded file
# What one request may carry at most (a bot upload, or a file a playground user sends: Telegram users
# may send bigger files than bots can download, and the bot must say so).
MAX_REQUEST_BYTES = 2 * MAX_UPLOAD_BYTES
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Parameters whose form value is a plain string even when it looks like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "file_id",
        "secret_token",
        "url",
        "parse_mode",
        "action",
        "language_code",
        "title",
        "description",
        "short_description",
        "performer",
        "file_name",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "name",
        "photo",
        "video",
        "audio",
        "voice",
        "document",
        "video_note",
        "animation",
        "thumbnail",
        "payload",
        "provider_token",
        "currency",
        "start_parameter",
        "pre_checkout_query_id",
        "error_message",
        "telegram_payment_charge_id",
    }
)
_MEDIA_PARAMS = ("photo", "video", "audio", "voice", "document", "video_note", "animation")
_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAx",
    "video": "BAACAgIAAx",
    "video_note": "DQACAgIAAx",
    "voice": "AwACAgIAAx",
    "audio": "CQACAgIAAx",
    "document": "BQACAgIAAx",
    "animation": "CgACAgIAAx",
    "thumbnail": "AAMCAgADGQ",
}
_FILE_DIR = {
    "photo": "photos",
    "video": "videos",
    "video_note": "video_notes",
    "voice": "voice",
    "audio": "music",
    "document": "documents",
    "animation": "animations",
    "thumbnail": "thumbnails",
}

Json = dict[str, Any]

METHODS = (
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "deleteMessage",
    "sendChatAction",
    "sendPhoto",
    "sendVideo",
    "sendDocument",
    "sendAudio",
    "sendVoice",
    "sendVideoNote",
    "getFile",
    "answerCallbackQuery",
    "getChat",
    "getChatMember",
    "getChatAdministrators",
    "setChatMenuButton",
    "close",
    "logOut",
    "sendInvoice",
    "answerPreCheckoutQuery",
    "refundStarPayment",
)


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status = error_code, Telegram's description."""

    def __init__(self, code: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class Upload:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One request the bot made: method as Telegram names it, decoded params, uploaded files."""

    method: str
    params: Json
    files: dict[str, Upload]
    time: float
    status: int = 200
    result: Any = None
    description: str | None = None
    done: bool = False  # answered; a long poll stays recorded but not done while it waits

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class StoredFile:
    """A Telegram file: what getFile describes and the download path serves."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_size: int
    name: str
    kind: str


@dataclass
class _Failure:
    times: int
    code: int
    description: str
    parameters: Json | None


@dataclass
class _Waiter:
    method: str
    predicate: Callable[[Call], bool] | None
    future: asyncio.Future[Call]


@dataclass
class WebhookState:
    """What setWebhook configured."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    deliveries: list[tuple[int, int]] = field(default_factory=list)  # (update_id, HTTP status)


class FakeBotApi:
    """The fake server plus the test-side helpers; see the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_first_name: str = "PhotoTalk",
        bot_username: str = "phototalk_test_bot",
        strict: bool = True,
    ) -> None:
        self.token = token
        self.strict = strict
        self.bot_user: Json = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.deleted: list[Json] = []
        self.callback_answers: list[Json] = []
        self.commands: dict[tuple[str, str], list[Json]] = {}  # (scope JSON, language) -> commands
        self.webhook = WebhookState()
        self.menu_buttons: list[Json] = []
        #: Payments (Telegram Stars): every answerPreCheckoutQuery, every refundStarPayment, and
        #: the charges made, by telegram_payment_charge_id.
        self.checkout_answers: list[Json] = []
        self.star_refunds: list[Json] = []
        self.charges: dict[str, Json] = {}
        self._open_checkouts: dict[str, Json] = {}  # pre_checkout_query id -> the query
        self._charge_ids = itertools.count(1)
        self._invoice_payloads: dict[tuple[int, int], str] = {}  # invoice message -> its payload
        self._users: dict[int, Json] = {}
        self._chats: dict[int, Json] = {}
        self._chat_admins: dict[int, set[int]] = {}
        self._messages: dict[tuple[int, int], list[Json]] = {}  # every version, newest last
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._updates: list[Json] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._open_callbacks: set[str] = set()
        self._callback_users: dict[str, int] = {}  # open query id -> who pressed
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, list[float]] = {}
        self._waiters: list[_Waiter] = []
        self._consumed: set[int] = set()  # ids of calls wait_for already returned
        # Replaced by a fresh Event after each new update, so every long poll wakes once.
        self._new_update: asyncio.Event | None = None
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._listeners: list[Listener] = []
        #: Decides whether a user's message reaches the bot as an update (the playground's group
        #: privacy mode); None: every message does, as the tests expect.
        self.deliver_filter: Callable[[Json], bool] | None = None
        #: The aiohttp application: Bot API methods and file downloads; add routes before start().
        self.app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._delivery_task: asyncio.Task[None] | None = None
        self._delivery_wakeup: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._methods: dict[str, tuple[str, Callable[[Json, dict[str, Upload]], Any]]] = {
            name.lower(): (name, getattr(self, f"_m_{name}")) for name in METHODS
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Starts serving, by default on 127.0.0.1 at a free port."""
        self._new_update = asyncio.Event()
        self._delivery_wakeup = asyncio.Event()
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host = host
        self._port = self._runner.addresses[0][1]

    def end_long_polls(self) -> None:
        """Answers waiting and later getUpdates at once, empty: a bot that is shutting down stops
        without sitting out its poll timeout. The other methods keep working."""
        self._stopping = True
        if self._new_update is not None:
            self._new_update.set()

    async def stop(self) -> None:
        """Wakes every long poll and stops serving."""
        self._stopping = True
        if self._new_update is not None:
            self._new_update.set()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
        if self._session is not None:
            await self._session.close()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.stop()
        if self.strict and exc_type is None:
            self.assert_no_unknown_calls()

    @property
    def unknown_calls(self) -> list[Call]:
        """Calls of methods the emulator does not know (each answered 404, as Telegram does)."""
        return [
            c for c in self.calls if c.status == 404 and (c.description or "").startswith("Not Found: method")
        ]

    def assert_no_unknown_calls(self) -> None:
        """Fails if the bot called a Bot API method the emulator does not know."""
        if self.unknown_calls:
            names = sorted({c.method for c in self.unknown_calls})
            raise AssertionError(
                f"the bot called Bot API methods the emulator does not implement: {names}; "
                "add them to playground/botapi.py (METHODS and an _m_<name> method)"
            )

    def listen(self, callback: Listener) -> None:
        """Calls `callback(event, payload)` on every change a chat window shows.

        Events: "message" (a Message dict, new or edited, the user's or the bot's), "delete" (the
        deleted Message), "action" ({"chat_id", "action"}), "callback_answer" (answerCallbackQuery's
        params plus "user_id" of who pressed), "unknown_method" (the name the bot called).
        """
        self._listeners.append(callback)

    def _emit(self, event: str, payload: Any) -> None:
        for callback in self._listeners:
            try:
                callback(event, payload)
            except Exception:  # a broken page must not break the Bot API the bot talks to
                log.exception("a listener failed on %s", event)

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. http://127.0.0.1:41234 (TELEGRAM_API_BASE_URL)."""
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What ApplicationBuilder.base_url expects."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What ApplicationBuilder.base_file_url expects."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_method(self, request: web.Request) -> web.Response:
        method_raw = request.match_info["method"]
        known = self._methods.get(method_raw.lower())
        method = known[0] if known else method_raw
        try:
            params, files = await _read_params(request)
        except web.HTTPRequestEntityTooLarge:
            params, files = {}, {}
            too_big = True
        else:
            too_big = any(len(upload.data) > MAX_UPLOAD_BYTES for upload in files.values())
        call = Call(method=method, params=params, files=files, time=time.monotonic())
        self.calls.append(call)
        try:
            if too_big:
                raise ApiError(413, "Request Entity Too Large")
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            failure = self._take_failure(method)
            if failure is not None:
                raise ApiError(failure.code, failure.description, failure.parameters)
            if known is None:
                self._emit("unknown_method", method_raw)
                raise ApiError(404, f"Not Found: method {method_raw}")
            try:
                result = known[1](params, files)
                if asyncio.iscoroutine(result):
                    result = await result
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                # Malformed parameters: Telegram answers 400 rather than failing.
                raise ApiError(400, f"Bad Request: can't parse parameters: {exc!r}") from exc
        except ApiError as exc:
            call.status, call.description = exc.code, exc.description
            body: Json = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            self._notify(call)
            return web.json_response(body, status=exc.code)
        call.result = result
        self._notify(call)
        delays = self._delays.get(method.lower())
        if delays:
            await asyncio.sleep(delays.pop(0))
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    def _notify(self, call: Call) -> None:
        call.done = True
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if self._matches(waiter.method, waiter.predicate, call):
                self._consumed.add(id(call))
                waiter.future.set_result(call)
                self._waiters.remove(waiter)
                return

    @staticmethod
    def _matches(method: str, predicate: Callable[[Call], bool] | None, call: Call) -> bool:
        return call.method.lower() == method.lower() and (predicate is None or predicate(call))

    # ------------------------------------------------------------------ test side: calls

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        """Every call of one method so far (optionally only the successful ones)."""
        return [c for c in self.calls if c.method.lower() == method.lower() and (c.ok or not ok_only)]

    # A per-call timeout reads best in tests, hence the parameter ruff would rather not see.
    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Call:
        """Returns the oldest matching call not returned by an earlier wait_for, waiting for it.

        Each call is handed out once, so `wait_for("sendMessage")` twice gives the first and the
        second message. Failed calls (429, 400) match too: check `call.ok` in the predicate.
        """
        for call in self.calls:
            if call.done and id(call) not in self._consumed and self._matches(method, predicate, call):
                self._consumed.add(id(call))
                return call
        future: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(method, predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = [f"{c.method}({_brief(c.params)})" for c in self.calls[-15:]]
            raise AssertionError(
                f"no {method} call matching within {timeout} s; last calls: {seen}"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        retry_after: int = 1,
        *,
        error_code: int = 429,
        description: str | None = None,
    ) -> None:
        """Makes the next `times` calls of `method` fail: 429 "retry after N" unless told otherwise."""
        if error_code == 429:
            description = description or f"Too Many Requests: retry after {retry_after}"
            parameters: Json | None = {"retry_after": retry_after}
        else:
            description = description or "Bad Request"
            parameters = None
        self._failures.setdefault(method.lower(), []).append(
            _Failure(times, error_code, description, parameters)
        )

    def delay_next(self, method: str, seconds: float) -> None:
        """Holds the answer to the next call of `method` for `seconds`; the call itself succeeds at once.

        What a slow network looks like to the bot: Telegram did the work, the reply is late
        (past the client's read timeout the bot sees TimedOut).
        """
        self._delays.setdefault(method.lower(), []).append(seconds)

    # ------------------------------------------------------------------ test side: state

    def message(self, chat_id: int, message_id: int) -> Json | None:
        """The message as it stands now (after edits), None if never sent; deleted ones included."""
        versions = self._messages.get((chat_id, message_id))
        return versions[-1] if versions else None

    def messages_in(self, chat_id: int) -> list[Json]:
        """Every message of a chat (users' and the bot's, deleted ones too), current state, oldest first."""
        return [versions[-1] for (cid, _), versions in sorted(self._messages.items()) if cid == chat_id]

    def user_info(self, user_id: int) -> Json:
        """The User dict registered with `user()` (the latest, after a language change)."""
        return self._users[user_id]

    def history(self, chat_id: int, message_id: int) -> list[Json]:
        """Every version of a message, oldest first."""
        return list(self._messages.get((chat_id, message_id), []))

    def text_of(self, chat_id: int, message_id: int) -> str | None:
        """The current text (or caption) of a message."""
        msg = self.message(chat_id, message_id)
        if msg is None:
            return None
        return msg.get("text", msg.get("caption"))

    def sent_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[Json]:
        """The bot's messages in a chat, current state, oldest first."""
        deleted = {(m["chat"]["id"], m["message_id"]) for m in self.deleted}
        return [
            versions[-1]
            for (cid, mid), versions in sorted(self._messages.items())
            if cid == chat_id
            and versions[-1].get("from", {}).get("id") == self.bot_user["id"]
            and (include_deleted or (cid, mid) not in deleted)
        ]

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """Whether the bot deleted that message."""
        return any(m["chat"]["id"] == chat_id and m["message_id"] == message_id for m in self.deleted)

    def chat_actions(self, chat_id: int) -> list[str]:
        """The chat actions the bot sent to a chat, in order."""
        return [
            c.params["action"]
            for c in self.calls_to("sendChatAction", ok_only=True)
            if c.params.get("chat_id") == chat_id
        ]

    @property
    def pending_updates(self) -> list[Json]:
        """Updates not yet confirmed by the bot."""
        return list(self._updates)

    def file(self, file_id: str) -> StoredFile | None:
        """A stored Telegram file (its bytes, name and kind), None if the id is unknown."""
        return self._files.get(file_id)

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes of a Telegram file (sent by a user or uploaded by the bot)."""
        return self._files[file_id].data

    def video_bytes(self, message: Json) -> bytes:
        """The uploaded bytes of the video (or animation/document) in a bot message."""
        for key in ("video", "animation", "video_note", "document"):
            if key in message:
                return self.file_bytes(message[key]["file_id"])
        raise KeyError(f"message {message.get('message_id')} carries no video")

    # ------------------------------------------------------------------ test side: files

    def add_file(self, data: bytes, name: str, file_size: int | None = None) -> tuple[str, str, int]:
        """Stores bytes as a Telegram file; returns (file_id, file_unique_id, file_size)."""
        stored = self._store_file(data, name, _kind_from_name(name), file_size)
        return stored.file_id, stored.file_unique_id, stored.file_size

    def _store_file(self, data: bytes, name: str, kind: str, file_size: int | None = None) -> StoredFile:
        n = next(self._file_counter)
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "bin"
        stored = StoredFile(
            file_id=f"{_FILE_ID_PREFIX.get(kind, 'BQACAgIAAx')}{n:04d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"AgAD{n:04d}{secrets.token_hex(3)}",
            file_path=f"{_FILE_DIR.get(kind, 'documents')}/file_{n}.{ext}",
            data=data,
            file_size=file_size if file_size is not None else len(data),
            name=name,
            kind=kind,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    # ------------------------------------------------------------------ test side: updates

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        language_code: str | None = "en",
        *,
        username: str | None = None,
        last_name: str | None = None,
    ) -> Json:
        """Registers a user (and their private chat with the bot); returns the User dict."""
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        private: Json = {"id": user_id, "type": "private", "first_name": first_name}
        if username:
            private["username"] = username
        self._chats.setdefault(user_id, private)
        return user

    def chat(
        self,
        chat_id: int,
        type: str = "group",
        title: str | None = None,
        *,
        admins: tuple[int, ...] = (),
    ) -> Json:
        """Registers a chat ("private", "group", "supergroup", "channel"); returns the Chat dict."""
        chat: Json = {"id": chat_id, "type": type}
        if type != "private":
            chat["title"] = title or f"Group {chat_id}"
        elif title:
            chat["first_name"] = title
        self._chats[chat_id] = chat
        self._chat_admins[chat_id] = set(admins)
        return chat

    def send_text(
        self, user: Json, chat: Json | int | None, text: str, reply_to: Json | int | None = None
    ) -> Json:
        """A user sends text (a leading /command gets its bot_command entity, as Telegram does)."""
        msg = self._user_message(user, chat, reply_to)
        msg["text"] = text
        entities = _command_entities(text)
        if entities:
            msg["entities"] = entities
        return self._push_message(msg)

    def send_command(
        self,
        user: Json,
        chat: Json | int | None,
        command: str,
        args: str = "",
        reply_to: Json | int | None = None,
        *,
        mention: bool = False,
    ) -> Json:
        """A user sends /command [args]; `mention` writes /command@bot as in groups."""
        text = "/" + command.lstrip("/")
        if mention:
            text += "@" + self.bot_user["username"]
        if args:
            text += " " + args
        return self.send_text(user, chat, text, reply_to)

    def send_photo(
        self,
        user: Json,
        chat: Json | int | None,
        jpeg_bytes: bytes,
        caption: str | None = None,
        reply_to: Json | int | None = None,
    ) -> Json:
        """A user sends a photo; the PhotoSize array holds real downscaled copies, largest last."""
        msg = self._user_message(user, chat, reply_to)
        msg["photo"] = self._photo_sizes(jpeg_bytes)
        self._caption(msg, caption)
        return self._push_message(msg)

    def send_document(
        self,
        user: Json,
        chat: Json | int | None,
        data: bytes,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        reply_to: Json | int | None = None,
        *,
        file_size: int | None = None,
    ) -> Json:
        """A user sends a file (an image sent "as file" too); `file_size` may claim a big file."""
        stored = self._store_file(data, file_name, "document", file_size)
        msg = self._user_message(user, chat, reply_to)
        msg["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        self._caption(msg, caption)
        return self._push_message(msg)

    def send_voice(
        self,
        user: Json,
        chat: Json | int | None,
        ogg_bytes: bytes,
        duration: int,
        reply_to: Json | int | None = None,
        *,
        caption: str | None = None,
        mime_type: str = "audio/ogg",
        file_size: int | None = None,
    ) -> Json:
        """A user sends a voice note."""
        stored = self._store_file(ogg_bytes, "voice.oga", "voice", file_size)
        msg = self._user_message(user, chat, reply_to)
        msg["voice"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": int(duration),
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        self._caption(msg, caption)
        return self._push_message(msg)

    def send_audio(
        self,
        user: Json,
        chat: Json | int | None,
        data: bytes,
        duration: int,
        file_name: str = "audio.mp3",
        mime_type: str = "audio/mpeg",
        reply_to: Json | int | None = None,
        *,
        caption: str | None = None,
        performer: str | None = None,
        title: str | None = None,
        file_size: int | None = None,
    ) -> Json:
        """A user sends an audio file (music player style)."""
        stored = self._store_file(data, file_name, "audio", file_size)
        audio: Json = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": int(duration),
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        if performer:
            audio["performer"] = performer
        if title:
            audio["title"] = title
        msg = self._user_message(user, chat, reply_to)
        msg["audio"] = audio
        self._caption(msg, caption)
        return self._push_message(msg)

    def send_video(
        self,
        user: Json,
        chat: Json | int | None,
        mp4_bytes: bytes,
        duration: int,
        width: int = 640,
        height: int = 360,
        reply_to: Json | int | None = None,
        *,
        caption: str | None = None,
        file_size: int | None = None,
    ) -> Json:
        """A user sends a video."""
        stored = self._store_file(mp4_bytes, "video.mp4", "video", file_size)
        msg = self._user_message(user, chat, reply_to)
        msg["video"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "duration": int(duration),
            "mime_type": "video/mp4",
            "file_size": stored.file_size,
        }
        self._caption(msg, caption)
        return self._push_message(msg)

    def send_video_note(
        self,
        user: Json,
        chat: Json | int | None,
        mp4_bytes: bytes,
        duration: int,
        length: int = 384,
        reply_to: Json | int | None = None,
        *,
        file_size: int | None = None,
    ) -> Json:
        """A user sends a round video note."""
        stored = self._store_file(mp4_bytes, "video_note.mp4", "video_note", file_size)
        msg = self._user_message(user, chat, reply_to)
        msg["video_note"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "length": length,
            "duration": int(duration),
            "file_size": stored.file_size,
        }
        return self._push_message(msg)

    def press_button(self, user: Json, chat: Json | int | None, message_id: int, callback_data: str) -> Json:
        """A user taps an inline button of a bot message; returns the CallbackQuery dict."""
        chat_id = self._chat_id(user, chat)
        msg = self.message(chat_id, message_id)
        if msg is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        query_id = f"{next(self._callback_ids)}{secrets.randbelow(10**9):09d}"
        self._open_callbacks.add(query_id)
        self._callback_users[query_id] = user["id"]
        query: Json = {
            "id": query_id,
            "from": user,
            "message": msg,
            "chat_instance": str(-abs(chat_id) * 7 - 1),
            "data": callback_data,
        }
        self._push_update({"callback_query": query})
        return query

    def push_update(self, update: Json) -> Json:
        """Queues a raw update (without update_id); returns it with its update_id."""
        return self._push_update(update)

    async def post_update_to(self, url: str, update: Json, secret_token: str | None = None) -> int:
        """POSTs one update to a webhook like Telegram does; returns the HTTP status."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        session = self._client_session()
        async with session.post(url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    # ------------------------------------------------------------------ test side: payments

    def invoice(self, chat_id: int, message_id: int) -> Json | None:
        """The invoice a bot message carries (sendInvoice), or None."""
        msg = self.message(chat_id, message_id)
        return None if msg is None else msg.get("invoice")

    def pay(self, user: Json, message_id: int, chat: Json | int | None = None) -> Json:
        """The user taps Pay on an invoice: Telegram asks the bot with a pre_checkout_query.

        If the bot answers ok, the payment goes through and the bot gets the user's
        `successful_payment` message, as Telegram does; a refusal only records the answer.
        Returns the PreCheckoutQuery dict.
        """
        chat_id = self._chat_id(user, chat)
        invoice = self.invoice(chat_id, message_id)
        if invoice is None:
            raise KeyError(f"no invoice in message {message_id} of chat {chat_id}")
        payload = self._invoice_payloads[(chat_id, message_id)]
        return self.pre_checkout(user, payload, invoice["total_amount"], invoice["currency"], chat_id=chat_id)

    def pre_checkout(
        self,
        user: Json,
        invoice_payload: str,
        total_amount: int,
        currency: str = "XTR",
        *,
        chat_id: int | None = None,
    ) -> Json:
        """Queues a pre_checkout_query for any payload (e.g. an invoice sent before a change)."""
        query_id = f"{next(self._callback_ids)}{secrets.randbelow(10**9):09d}"
        query: Json = {
            "id": query_id,
            "from": user,
            "currency": currency,
            "total_amount": int(total_amount),
            "invoice_payload": invoice_payload,
        }
        self._open_checkouts[query_id] = {**query, "chat_id": chat_id if chat_id is not None else user["id"]}
        self._push_update({"pre_checkout_query": query})
        return query

    def successful_payment(
        self,
        user: Json,
        invoice_payload: str,
        total_amount: int,
        charge_id: str | None = None,
        currency: str = "XTR",
        chat: Json | int | None = None,
    ) -> Json:
        """The user's `successful_payment` service message; the same `charge_id` again is
        Telegram delivering that payment twice. Returns the Message dict."""
        if charge_id is None:
            charge_id = f"stxFake{next(self._charge_ids):06d}{secrets.token_hex(8)}"
        payment: Json = {
            "currency": currency,
            "total_amount": int(total_amount),
            "invoice_payload": invoice_payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        self.charges.setdefault(charge_id, {"user_id": user["id"], "refunded": False, **payment})
        msg = self._user_message(user, chat, None)
        msg["successful_payment"] = payment
        self._push_message(msg)
        return msg

    def refunded_payment(self, user: Json, charge_id: str, chat: Json | int | None = None) -> Json:
        """The `refunded_payment` service message Telegram sends when a payment is refunded."""
        charge = self.charges[charge_id]
        msg = self._user_message(user, chat, None)
        msg["refunded_payment"] = {
            "currency": charge["currency"],
            "total_amount": charge["total_amount"],
            "invoice_payload": charge["invoice_payload"],
            "telegram_payment_charge_id": charge_id,
        }
        self._push_message(msg)
        return msg

    # ------------------------------------------------------------------ update plumbing

    def _chat_id(self, user: Json, chat: Json | int | None) -> int:
        if chat is None:
            return int(user["id"])
        return int(chat["id"]) if isinstance(chat, dict) else int(chat)

    def _user_message(self, user: Json, chat: Json | int | None, reply_to: Json | int | None) -> Json:
        chat_id = self._chat_id(user, chat)
        if chat_id not in self._chats:
            raise KeyError(f"chat {chat_id} is not registered: call fake.chat() or fake.user() first")
        msg: Json = {
            "message_id": self._allocate_message_id(chat_id),
            "from": user,
            "chat": self._chats[chat_id],
            "date": int(time.time()),
        }
        if reply_to is not None:
            reply_id = int(reply_to["message_id"]) if isinstance(reply_to, dict) else int(reply_to)
            original = self.message(chat_id, reply_id)
            if original is None:
                raise KeyError(f"no message {reply_id} in chat {chat_id} to reply to")
            msg["reply_to_message"] = _without_reply(original)
        return msg

    def _caption(self, msg: Json, caption: str | None) -> None:
        if caption:
            msg["caption"] = caption
            entities = _command_entities(caption)
            if entities:
                msg["caption_entities"] = entities

    def _push_message(self, msg: Json) -> Json:
        self._messages[(msg["chat"]["id"], msg["message_id"])] = [msg]
        deliver = self.deliver_filter is None or self.deliver_filter(msg)
        self._emit("message", msg)
        if deliver:
            self._push_update({"message": msg})
        return msg

    def _push_update(self, body: Json) -> Json:
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        if self.webhook.url:
            self._ensure_delivery()
            assert self._delivery_wakeup is not None
            self._delivery_wakeup.set()
        elif self._new_update is not None:
            self._new_update.set()
            self._new_update = asyncio.Event()
        return update

    def _allocate_message_id(self, chat_id: int) -> int:
        n = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = n + 1
        return n

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _ensure_delivery(self) -> None:
        if self._delivery_task is None or self._delivery_task.done():
            self._delivery_task = asyncio.get_running_loop().create_task(self._deliver_loop())

    async def _deliver_loop(self) -> None:
        """Delivers queued updates to the webhook one at a time, retrying until a 2xx."""
        assert self._delivery_wakeup is not None
        while not self._stopping:
            if not self._updates or not self.webhook.url:
                self._delivery_wakeup.clear()
                await self._delivery_wakeup.wait()
                continue
            update = self._updates[0]
            try:
                status = await self.post_update_to(self.webhook.url, update, self.webhook.secret_token)
            except aiohttp.ClientError:
                status = 0
            self.webhook.deliveries.append((update["update_id"], status))
            if 200 <= status < 300:
                if self._updates and self._updates[0] is update:
                    self._updates.pop(0)
            else:
                await asyncio.sleep(0.2)

    # ------------------------------------------------------------------ bot-side helpers

    def _known_chat(self, params: Json) -> Json:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
            raise ApiError(400, "Bad Request: chat not found")
        chat = self._chats.get(int(chat_id))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _bot_message(self, params: Json, chat: Json) -> Json:
        msg: Json = {
            "message_id": self._allocate_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        reply_id = None
        reply_parameters = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply_parameters, dict):
            reply_id = reply_parameters.get("message_id")
            allow_missing = allow_missing or bool(reply_parameters.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            reply_id = params["reply_to_message_id"]
        if reply_id is not None:
            original = self.message(chat["id"], int(reply_id))
            if original is None or self.is_deleted(chat["id"], int(reply_id)):
                if not allow_missing:
                    self._next_message_id[chat["id"]] -= 1
                    raise ApiError(400, "Bad Request: message to be replied not found")
            else:
                msg["reply_to_message"] = _without_reply(original)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            _check_keyboard(markup)
            msg["reply_markup"] = markup
        if params.get("message_thread_id") is not None:
            msg["message_thread_id"] = params["message_thread_id"]
        return msg

    def _store_sent(self, msg: Json) -> Json:
        self._messages[(msg["chat"]["id"], msg["message_id"])] = [msg]
        self._emit("message", msg)
        return msg

    def _media(self, params: Json, files: dict[str, Upload], key: str, kind: str) -> StoredFile:
        """Resolves a media parameter: an upload, attach://name, or an existing file_id."""
        value = params.get(key)
        upload = files.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
        if upload is not None:
            if not upload.data:
                raise ApiError(400, f"Bad Request: file must be non-empty ({key})")
            return self._store_file(upload.data, upload.filename or f"{key}.bin", kind)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")
        if not value:
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _thumbnail(self, params: Json, files: dict[str, Upload]) -> Json | None:
        if params.get("thumbnail") is None and "thumbnail" not in files:
            return None
        stored = self._media(params, files, "thumbnail", "thumbnail")
        width, height = _image_size(stored.data) or (320, 180)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": stored.file_size,
        }

    def _photo_sizes(self, jpeg_bytes: bytes) -> list[Json]:
        size = _image_size(jpeg_bytes)
        if size is None:
            stored = self._store_file(jpeg_bytes, "photo.jpg", "photo")
            return [_photo_size(stored, 0, 0)]
        width, height = size
        sizes: list[Json] = []
        for side in (90, 320, 800):
            if max(width, height) > side * 1.25:
                data, w, h = _downscale(jpeg_bytes, side)
                sizes.append(_photo_size(self._store_file(data, "photo.jpg", "photo"), w, h))
        sizes.append(_photo_size(self._store_file(jpeg_bytes, "photo.jpg", "photo"), width, height))
        return sizes

    def _set_text(self, msg: Json, params: Json, key: str, limit: int) -> None:
        raw = params.get(key)
        if raw is None or raw == "":
            if key == "text":
                raise ApiError(400, "Bad Request: message text is empty")
            return
        text = _plain(str(raw), params.get("parse_mode"))
        if not text.strip() and key == "text":
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > limit:
            what = "message is too long" if key == "text" else "message caption is too long"
            raise ApiError(400, f"Bad Request: {what}")
        msg[key] = text

    def _editable(self, params: Json) -> Json:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat = self._known_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        current = self.message(chat["id"], int(message_id))
        if current is None or self.is_deleted(chat["id"], int(message_id)):
            raise ApiError(400, "Bad Request: message to edit not found")
        if current.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return current

    def _save_edit(self, current: Json, edited: Json) -> Json:
        same = {k: v for k, v in current.items() if k != "edit_date"}
        new = {k: v for k, v in edited.items() if k != "edit_date"}
        if same == new:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        edited["edit_date"] = int(time.time())
        self._messages[(current["chat"]["id"], current["message_id"])].append(edited)
        self._emit("message", edited)
        return edited

    # ------------------------------------------------------------------ Bot API methods

    def _m_getMe(self, params: Json, files: dict[str, Upload]) -> Json:
        return self.bot_user

    async def _m_getUpdates(self, params: Json, files: dict[str, Upload]) -> list[Json]:
        if self.webhook.url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                "to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if offset:
            # A later offset confirms everything before it, as on Telegram.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        assert self._new_update is not None
        while True:
            ready = [u for u in self._updates if _allowed(u, allowed)][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._stopping:
                return ready
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), remaining)

    def _m_deleteWebhook(self, params: Json, files: dict[str, Upload]) -> bool:
        self.webhook.url = ""
        self.webhook.secret_token = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_setWebhook(self, params: Json, files: dict[str, Upload]) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook.url = url
        self.webhook.secret_token = str(secret) if secret is not None else None
        self.webhook.allowed_updates = params.get("allowed_updates")
        if url and self._updates:
            self._ensure_delivery()
            assert self._delivery_wakeup is not None
            self._delivery_wakeup.set()
        return True

    def _m_getWebhookInfo(self, params: Json, files: dict[str, Upload]) -> Json:
        info: Json = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook.allowed_updates:
            info["allowed_updates"] = self.webhook.allowed_updates
        return info

    @staticmethod
    def _scope_key(params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_setMyCommands(self, params: Json, files: dict[str, Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: command description is empty")
        self.commands[self._scope_key(params)] = commands
        return True

    def _m_deleteMyCommands(self, params: Json, files: dict[str, Upload]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _m_getMyCommands(self, params: Json, files: dict[str, Upload]) -> list[Json]:
        return self.commands.get(self._scope_key(params), [])

    def _m_sendMessage(self, params: Json, files: dict[str, Upload]) -> Json:
        chat = self._known_chat(params)
        text_probe: Json = {}
        self._set_text(text_probe, params, "text", MAX_TEXT)
        msg = self._bot_message(params, chat)
        msg.update(text_probe)
        return self._store_sent(msg)

    def _m_editMessageText(self, params: Json, files: dict[str, Upload]) -> Json:
        current = self._editable(params)
        if "text" not in current:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        edited = dict(current)
        self._set_text(edited, params, "text", MAX_TEXT)
        _apply_markup(edited, params)
        return self._save_edit(current, edited)

    def _m_editMessageCaption(self, params: Json, files: dict[str, Upload]) -> Json:
        current = self._editable(params)
        if "text" in current:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        edited = dict(current)
        edited.pop("caption", None)
        self._set_text(edited, params, "caption", MAX_CAPTION)
        _apply_markup(edited, params)
        return self._save_edit(current, edited)

    def _m_editMessageReplyMarkup(self, params: Json, files: dict[str, Upload]) -> Json:
        current = self._editable(params)
        edited = dict(current)
        _apply_markup(edited, params)
        return self._save_edit(current, edited)

    def _m_deleteMessage(self, params: Json, files: dict[str, Upload]) -> bool:
        chat = self._known_chat(params)
        message_id = int(params.get("message_id") or 0)
        current = self.message(chat["id"], message_id)
        if current is None or self.is_deleted(chat["id"], message_id):
            raise ApiError(400, "Bad Request: message to delete not found")
        self.deleted.append(current)
        self._emit("delete", current)
        return True

    def _m_sendChatAction(self, params: Json, files: dict[str, Upload]) -> bool:
        chat = self._known_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._emit("action", {"chat_id": chat["id"], "action": params["action"]})
        return True

    def _send_media(self, params: Json, files: dict[str, Upload], key: str) -> Json:
        chat = self._known_chat(params)
        caption: Json = {}
        self._set_text(caption, params, "caption", MAX_CAPTION)
        stored = self._media(params, files, key, key)
        msg = self._bot_message(params, chat)
        msg.update(caption)
        thumbnail = self._thumbnail(params, files)
        if key == "photo":
            msg["photo"] = self._photo_sizes(stored.data)
            return self._store_sent(msg)
        media: Json = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if key in ("video", "animation", "video_note"):
            probed = probe_video(stored.data)
            duration = params.get("duration") or (round(probed[2]) if probed else 0)
            media["duration"] = int(duration)
            if key == "video_note":
                media["length"] = int(params.get("length") or (probed[0] if probed else 240))
            else:
                media["width"] = int(params.get("width") or (probed[0] if probed else 0))
                media["height"] = int(params.get("height") or (probed[1] if probed else 0))
                media["mime_type"] = "video/mp4"
                media["file_name"] = stored.name
        elif key in ("audio", "voice"):
            media["duration"] = int(params.get("duration") or 0)
            media["mime_type"] = "audio/ogg" if key == "voice" else "audio/mpeg"
            for extra in ("performer", "title"):
                if params.get(extra):
                    media[extra] = params[extra]
        else:
            media["file_name"] = stored.name
            media["mime_type"] = mime_from_name(stored.name)
        if thumbnail is not None and key != "voice":
            media["thumbnail"] = thumbnail
        msg[key] = media
        return self._store_sent(msg)

    def _m_sendPhoto(self, params: Json, files: dict[str, Upload]) -> Json:
        return self._send_media(params, files, "photo")

    def _m_sendVideo(self, params: Json, files: dict[str, Upload]) -> Json:
        return self._send_media(params, files, "video")

    def _m_sendDocument(self, params: Json, files: dict[str, Upload]) -> Json:
        return self._send_media(params, files, "document")

    def _m_sendAudio(self, params: Json, files: dict[str, Upload]) -> Json:
        return self._send_media(params, files, "audio")

    def _m_sendVoice(self, params: Json, files: dict[str, Upload]) -> Json:
        return self._send_media(params, files, "voice")

    def _m_sendVideoNote(self, params: Json, files: dict[str, Upload]) -> Json:
        return self._send_media(params, files, "video_note")

    def _m_getFile(self, params: Json, files: dict[str, Upload]) -> Json:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _m_answerCallbackQuery(self, params: Json, files: dict[str, Upload]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(params)
        self._emit("callback_answer", {**params, "user_id": self._callback_users.pop(query_id, None)})
        return True

    def _m_getChat(self, params: Json, files: dict[str, Upload]) -> Json:
        chat = self._known_chat(params)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

    def _member(self, chat: Json, user_id: int) -> Json:
        if user_id == self.bot_user["id"]:
            user = self.bot_user
        else:
            found = self._users.get(user_id)
            if found is None:
                raise ApiError(400, "Bad Request: user not found")
            user = found
        if chat["type"] == "private":
            return {"status": "member", "user": user}
        if user_id in self._chat_admins.get(chat["id"], set()):
            return {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
        return {"status": "member", "user": user}

    def _m_getChatMember(self, params: Json, files: dict[str, Upload]) -> Json:
        chat = self._known_chat(params)
        return self._member(chat, int(params.get("user_id") or 0))

    def _m_getChatAdministrators(self, params: Json, files: dict[str, Upload]) -> list[Json]:
        chat = self._known_chat(params)
        return [self._member(chat, uid) for uid in sorted(self._chat_admins.get(chat["id"], set()))]

    def _m_setChatMenuButton(self, params: Json, files: dict[str, Upload]) -> bool:
        self.menu_buttons.append(params)
        return True

    def _m_sendInvoice(self, params: Json, files: dict[str, Upload]) -> Json:
        chat = self._known_chat(params)
        title, description = str(params.get("title") or ""), str(params.get("description") or "")
        payload, currency = str(params.get("payload") or ""), str(params.get("currency") or "")
        prices = params.get("prices")
        if isinstance(prices, str):
            prices = json.loads(prices)
        if not 1 <= len(title) <= 32:
            raise ApiError(
                400, "Bad Request: INVOICE_TITLE_EMPTY" if not title else "Bad Request: title is too long"
            )
        if not 1 <= len(description) <= 255:
            raise ApiError(400, "Bad Request: INVOICE_DESCRIPTION_EMPTY")
        if not 1 <= len(payload.encode()) <= 128:
            raise ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        if not isinstance(prices, list) or not prices:
            raise ApiError(400, "Bad Request: prices must be non-empty")
        if currency == "XTR":
            # Digital goods are sold in Stars: no payment provider, and exactly one price.
            if params.get("provider_token"):
                raise ApiError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
            if len(prices) != 1:
                raise ApiError(400, "Bad Request: STARS_INVOICE_INVALID")
        amounts = [int(p.get("amount", 0)) for p in prices if isinstance(p, dict) and p.get("label")]
        if len(amounts) != len(prices) or sum(amounts) <= 0:
            raise ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        msg = self._bot_message(params, chat)
        msg["invoice"] = {
            "title": title,
            "description": description,
            "start_parameter": str(params.get("start_parameter") or ""),
            "currency": currency,
            "total_amount": sum(amounts),
        }
        self._invoice_payloads[(chat["id"], msg["message_id"])] = payload
        return self._store_sent(msg)

    def _m_answerPreCheckoutQuery(self, params: Json, files: dict[str, Upload]) -> bool:
        query_id = str(params.get("pre_checkout_query_id") or "")
        query = self._open_checkouts.pop(query_id, None)
        if query is None:
            raise ApiError(400, "Bad Request: QUERY_ID_INVALID")
        ok = params.get("ok") in (True, "true", "True")
        if not ok and not params.get("error_message"):
            self._open_checkouts[query_id] = query
            raise ApiError(400, "Bad Request: error_message is required when ok is false")
        self.checkout_answers.append(params)
        user = query["from"]
        self._emit(
            "checkout_answer",
            {
                "user_id": user["id"],
                "chat_id": query["chat_id"],
                "ok": ok,
                "error_message": params.get("error_message"),
            },
        )
        if ok:  # Telegram charges the user and tells the bot
            self.successful_payment(
                user,
                query["invoice_payload"],
                query["total_amount"],
                currency=query["currency"],
                chat=query["chat_id"],
            )
        return True

    def _m_refundStarPayment(self, params: Json, files: dict[str, Upload]) -> bool:
        charge_id = str(params.get("telegram_payment_charge_id") or "")
        charge = self.charges.get(charge_id)
        if charge is None or charge["user_id"] != int(params.get("user_id") or 0):
            raise ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        self.star_refunds.append(params)
        user = self._users.get(charge["user_id"]) or {
            "id": charge["user_id"],
            "is_bot": False,
            "first_name": "User",
        }
        self.refunded_payment(user, charge_id)
        return True

    def _m_close(self, params: Json, files: dict[str, Upload]) -> bool:
        return True

    def _m_logOut(self, params: Json, files: dict[str, Upload]) -> bool:
        return True


_ADMIN_RIGHTS: Json = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


# ---------------------------------------------------------------------- helpers


async def _read_params(request: web.Request) -> tuple[Json, dict[str, Upload]]:
    """Decodes a Bot API request the way Telegram accepts them: query, url-encoded, multipart, JSON."""
    params: Json = {}
    files: dict[str, Upload] = {}
    for key, query_value in request.query.items():
        params[key] = _decode_value(key, query_value)
    if request.method != "POST" or not request.can_read_body:
        return params, files
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params, files
    form = await request.post()
    for key, field_value in form.items():
        value: Any = field_value
        if isinstance(value, web.FileField):
            files[key] = Upload(value.filename, value.content_type, value.file.read())
        elif isinstance(value, bytes | bytearray):
            files[key] = Upload(None, None, bytes(value))
        else:
            params[key] = _decode_value(key, str(value))
    return params, files


def _decode_value(key: str, value: str) -> Any:
    """Form values carry JSON for numbers, booleans and objects; known text fields stay text."""
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _allowed(update: Json, allowed: list[str] | None) -> bool:
    if not allowed:
        return True
    return any(kind in update for kind in allowed)


def _without_reply(message: Json) -> Json:
    """Telegram nests reply_to_message one level only."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _command_entities(text: str) -> list[Json]:
    match = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(match.group(0))}]


def _check_keyboard(markup: Json) -> None:
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")


def _apply_markup(edited: Json, params: Json) -> None:
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        _check_keyboard(markup)
        edited["reply_markup"] = markup
    else:
        # An edit without reply_markup removes the inline keyboard, as on Telegram.
        edited.pop("reply_markup", None)


def _plain(text: str, parse_mode: Any) -> str:
    """The text a user sees: formatting markup removed (roughly, as Telegram turns it into entities)."""
    mode = str(parse_mode or "").lower()
    if mode == "html":
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    if mode == "markdownv2":
        text = re.sub(r"(?<!\\)[*_~`|]", "", text)
        return re.sub(r"\\(.)", r"\1", text)
    if mode == "markdown":
        return re.sub(r"[*_`]", "", text)
    return text


def _kind_from_name(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "jpg": "photo",
        "jpeg": "photo",
        "png": "photo",
        "webp": "photo",
        "mp4": "video",
        "mov": "video",
        "ogg": "voice",
        "oga": "voice",
        "opus": "voice",
        "mp3": "audio",
        "m4a": "audio",
        "wav": "audio",
        "flac": "audio",
    }.get(ext, "document")


def mime_from_name(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "mp4": "video/mp4",
        "ogg": "audio/ogg",
        "oga": "audio/ogg",
        "opus": "audio/ogg",
        "mp3": "audio/mpeg",
        "m4a": "audio/mp4",
        "flac": "audio/flac",
        "wav": "audio/x-wav",
        "webm": "video/webm",
        "mov": "video/quicktime",
        "webp": "image/webp",
        "gif": "image/gif",
        "txt": "text/plain",
        "json": "application/json",
    }.get(ext, "application/octet-stream")


def _photo_size(stored: StoredFile, width: int, height: int) -> Json:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": width,
        "height": height,
        "file_size": stored.file_size,
    }


def _image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _downscale(data: bytes, side: int) -> tuple[bytes, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        copy = image.convert("RGB")
        copy.thumbnail((side, side))
        out = io.BytesIO()
        copy.save(out, format="JPEG", quality=85)
        return out.getvalue(), copy.width, copy.height


def probe_video(data: bytes) -> tuple[int, int, float] | None:
    """(width, height, seconds) of a video, as Telegram measures an upload; None if unreadable."""
    try:
        import av

        with av.open(io.BytesIO(data), "r") as container:
            stream = container.streams.video[0]
            if container.duration:
                seconds = container.duration / 1_000_000
            elif stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = 0.0
            return stream.codec_context.width, stream.codec_context.height, seconds
    except Exception:  # any undecodable upload: Telegram still stores it, without metadata
        return None


def _brief(params: Json) -> str:
    text = json.dumps(params, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
