"""Simulated users, and what each of their requests got, read back from the fake Bot API's records.

A user sends a photo, waits for the bot's answer to it, then sends their speech requests (voice
notes and typed text) one right after another, as people do. A request is *answered* when the
bot replied to it with a video, or with a final refusal (quota used up, input refused, ...):
every reply the bot makes to a request quotes it, so replies are matched by `reply_to_message`.
Times are `time.monotonic()` in this process, where the fake runs: from the moment the update was
queued for delivery to the moment the bot's call reached the fake.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import func, select

from bot.texts import CATALOG
from storage import Database, Job, LedgerReason, QuotaEntry
from tests.load.cluster import FakeBotApi

#: Catalog keys of replies that say a request is on its way, not how it ended.
PROGRESS = frozenset({"queued", "queued_next", "rendering", "uploading"})
SPEECH = ("voice", "text")
LINES = {"en": "Hello there.", "zh": "你好。"}


@dataclass
class Request:
    """One message a simulated user sent."""

    user_id: int
    lang: str
    kind: str  # "photo", "voice" or "text"
    message_id: int
    sent_at: float


@dataclass
class Outcome:
    """What the bot did about one request."""

    request: Request
    first_reply_at: float | None = None
    videos: list[float] = field(default_factory=list)  # arrival times of each video sent for it
    video_senders: list[str] = field(default_factory=list)  # filled from the edge when known
    final: str | None = None  # catalog key of the first final (non-progress) text reply
    final_at: float | None = None
    texts: list[str] = field(default_factory=list)  # every text shown in reply, every version

    @property
    def answered_at(self) -> float | None:
        """When the user had their answer: the first video, or else the final refusal."""
        if self.videos:
            return self.videos[0]
        return self.final_at

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


@cache
def _patterns(lang: str) -> list[tuple[str, re.Pattern[str]]]:
    """Every catalog message of `lang` as a regex (placeholders match anything), longest first."""
    patterns = []
    for key, entry in CATALOG.items():
        template = entry.get(lang) or entry["en"]
        literal = re.sub(r"\{[^}]*\}", "", template)
        if len(literal.strip()) < 4:
            continue
        pieces = re.split(r"(\{[^}]*\})", template)
        regex = "".join(".+?" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in pieces)
        patterns.append((len(literal), key, re.compile(regex + r"\Z", re.DOTALL)))
    patterns.sort(key=lambda item: -item[0])
    return [(key, pattern) for _, key, pattern in patterns]


def catalog_key(text: str, lang: str) -> str:
    """The catalog key a bot text was made from ("?" + text when it is none of them)."""
    for key, pattern in _patterns(lang):
        if pattern.match(text):
            return key
    return "?" + text


class Replies:
    """An index of the bot's successful calls, by the message they reply to; updated incrementally."""

    def __init__(self, fake: FakeBotApi) -> None:
        self.fake = fake
        self._seen = 0
        # (chat, request message id) -> [(time, method, bot message id, text or None)]
        self.to: dict[tuple[int, int], list[tuple[float, str, int, str | None]]] = defaultdict(list)
        # (chat, bot message id) -> [(time, text)] for every edit
        self.edits: dict[tuple[int, int], list[tuple[float, str]]] = defaultdict(list)
        self.loose: dict[int, list[str]] = defaultdict(list)  # texts sent without quoting anything

    def update(self) -> None:
        calls = self.fake.calls
        while self._seen < len(calls) and calls[self._seen].done:
            self._add(calls[self._seen])
            self._seen += 1

    def _add(self, call: Any) -> None:
        result = call.result
        if not call.ok or not isinstance(result, dict) or "chat" not in result:
            return
        chat = int(result["chat"]["id"])
        if call.method in ("sendMessage", "sendVideo", "sendPhoto"):
            quoted = result.get("reply_to_message")
            text = result.get("text") or result.get("caption")
            if quoted is None:
                if text:
                    self.loose[chat].append(text)
                return
            self.to[(chat, int(quoted["message_id"]))].append(
                (call.time, call.method, int(result["message_id"]), text)
            )
        elif call.method in ("editMessageText", "editMessageCaption"):
            text = result.get("text") or result.get("caption") or ""
            self.edits[(chat, int(result["message_id"]))].append((call.time, text))

    def outcome(self, request: Request) -> Outcome:
        chat = request.user_id
        outcome = Outcome(request)
        shown: list[tuple[float, str]] = []
        for at, method, message_id, text in self.to.get((chat, request.message_id), []):
            outcome.first_reply_at = at if outcome.first_reply_at is None else min(outcome.first_reply_at, at)
            if method == "sendVideo":
                outcome.videos.append(at)
            elif text:
                shown.append((at, text))
                shown.extend(self.edits.get((chat, message_id), []))
        shown.sort()
        outcome.texts = [text for _, text in shown]
        if request.kind == "photo":
            outcome.final_at = outcome.first_reply_at
            outcome.final = catalog_key(shown[0][1], request.lang) if shown else None
            return outcome
        for at, text in shown:
            key = catalog_key(text, request.lang)
            if key not in PROGRESS:
                outcome.final, outcome.final_at = key, at
                break
        return outcome


class Traffic:
    """Drives simulated users through the fake Bot API and reads back what they got."""

    def __init__(self, fake: FakeBotApi, photo: bytes, voice: bytes) -> None:
        self.fake = fake
        self.photo = photo
        self.voice = voice
        self.replies = Replies(fake)
        self.requests: list[Request] = []
        self.langs: dict[int, str] = {}

    async def wait_until(self, condition: Callable[[], bool], within: float, what: str) -> None:
        """Polls the fake's records until `condition()` holds; AssertionError after `within` s."""
        deadline = time.monotonic() + within
        while True:
            self.replies.update()
            if condition():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {within:.0f} s")
            await asyncio.sleep(0.1)

    def register(self, user_id: int, lang: str) -> dict[str, Any]:
        self.langs[user_id] = lang
        return self.fake.user(user_id, f"User{user_id}", lang)

    def send(self, user: dict[str, Any], kind: str) -> Request:
        """Sends one message of `kind` from `user` in their private chat."""
        lang = self.langs[user["id"]]
        if kind == "photo":
            message = self.fake.send_photo(user, None, self.photo)
        elif kind == "voice":
            message = self.fake.send_voice(user, None, self.voice, duration=1)
        else:
            message = self.fake.send_text(user, None, LINES[lang])
        return self.register_request(user["id"], kind, message)

    def register_request(self, user_id: int, kind: str, message: dict[str, Any]) -> Request:
        """Records a message the test sent itself (through the fake) as one of the user's requests."""
        request = Request(user_id, self.langs[user_id], kind, int(message["message_id"]), time.monotonic())
        self.requests.append(request)
        return request

    async def user(self, user_id: int, lang: str, kinds: Iterable[str], within: float = 600.0) -> None:
        """One user: a photo, the bot's answer to it, then each speech request right away."""
        user = self.register(user_id, lang)
        photo = self.send(user, "photo")
        await self.wait_until(
            lambda: self.replies.outcome(photo).first_reply_at is not None, within, f"reply to {photo}"
        )
        for kind in kinds:
            self.send(user, kind)

    async def grant(self, admin_id: int, user_id: int, count: int, within: float = 120.0) -> None:
        """The admin grants `user_id` extra videos for today through the bot (/grant)."""
        admin = self.fake.user(admin_id, "Admin", "en")
        message = self.fake.send_command(admin, None, "grant", f"{user_id} {count}")
        key = (admin_id, int(message["message_id"]))
        await self.wait_until(lambda: bool(self.replies.to.get(key)), within, f"/grant {user_id}")
        reply = self.replies.to[key][0][3] or ""
        assert catalog_key(reply, "en") == "granted", reply

    def outcomes(self, users: Iterable[int] | None = None) -> list[Outcome]:
        self.replies.update()
        chosen = set(users) if users is not None else None
        return [self.replies.outcome(r) for r in self.requests if chosen is None or r.user_id in chosen]

    async def wait_answered(self, users: Iterable[int], within: float) -> list[Outcome]:
        """Waits until every request of `users` is answered (or `within` s pass); returns outcomes."""
        chosen = list(users)
        deadline = time.monotonic() + within
        while True:
            outcomes = self.outcomes(chosen)
            if all(o.answered for o in outcomes) or time.monotonic() > deadline:
                return outcomes
            await asyncio.sleep(0.2)


# --- the database's side of the story -----------------------------------------------------------


@dataclass
class Books:
    """Per user: ledger debits and refunds; per job status: how many jobs."""

    debits: Counter[int]
    refunds: Counter[int]
    jobs: Counter[str]
    attempts: Counter[int]  # attempts -> how many jobs took that many


async def read_books(database_url: str, users: Iterable[int]) -> Books:
    """The quota ledger and job table as they stand, for `users`."""
    chosen = list(users)
    db = Database(database_url)
    try:
        async with db.read_session() as s:
            rows = await s.execute(
                select(QuotaEntry.user_id, QuotaEntry.reason, func.count())
                .where(QuotaEntry.user_id.in_(chosen))
                .group_by(QuotaEntry.user_id, QuotaEntry.reason)
            )
            debits: Counter[int] = Counter()
            refunds: Counter[int] = Counter()
            for user_id, reason, count in rows.all():
                if reason == LedgerReason.DEBIT:
                    debits[user_id] += count
                elif reason == LedgerReason.REFUND:
                    refunds[user_id] += count
            statuses = await s.execute(
                select(Job.status, func.count()).where(Job.user_id.in_(chosen)).group_by(Job.status)
            )
            jobs = Counter({str(status): count for status, count in statuses.all()})
            tries = await s.execute(
                select(Job.attempts, func.count()).where(Job.user_id.in_(chosen)).group_by(Job.attempts)
            )
            attempts = Counter({int(a): count for a, count in tries.all()})
    finally:
        await db.dispose()
    return Books(debits, refunds, jobs, attempts)


# --- verdict and figures ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Verdict:
    """What a run's outcomes mean against what the product promises."""

    problems: list[str]
    videos: int
    refusals: Counter[str]
    lost: int
    duplicates: int
    first_reply: list[float]  # speech requests: seconds to the first reply
    photo_reply: list[float]  # photos: seconds to the bot's answer
    to_video: list[float]  # speech requests answered with a video: seconds to the video
    to_refusal: list[float]

    def figures(self) -> str:
        def line(name: str, values: list[float]) -> str:
            return (
                f"{name:<28} p50 {percentile(values, 50):6.2f} s   p95 {percentile(values, 95):6.2f} s"
                f"   max {max(values, default=math.nan):6.2f} s   (n={len(values)})"
            )

        return "\n".join(
            [
                f"videos {self.videos}, refusals {dict(self.refusals)}, lost {self.lost}, "
                f"duplicate videos {self.duplicates}",
                line("photo -> answer", self.photo_reply),
                line("request -> first reply", self.first_reply),
                line("request -> video", self.to_video),
                line("request -> refusal", self.to_refusal),
            ]
        )


def judge(
    outcomes: list[Outcome], allowance: dict[int, int], books: Books, loose: dict[int, list[str]]
) -> Verdict:
    """Checks every promise: answered, no duplicate, quota exact per user (videos, refusals, ledger).

    `allowance[user]` is how many videos the user may get today (daily quota + grants).
    """
    problems: list[str] = []
    by_user: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_user[outcome.request.user_id].append(outcome)
    refusals: Counter[str] = Counter()
    lost = duplicates = videos = 0
    first_reply, photo_reply, to_video, to_refusal = [], [], [], []
    for user_id, mine in sorted(by_user.items()):
        speech = [o for o in mine if o.request.kind in SPEECH]
        for o in mine:
            r = o.request
            if not o.answered:
                lost += 1
                problems.append(f"user {user_id} {r.kind} #{r.message_id} never answered; saw {o.texts}")
                continue
            if r.kind == "photo":
                assert o.first_reply_at is not None
                photo_reply.append(o.first_reply_at - r.sent_at)
                if o.final != "one_face":
                    problems.append(f"user {user_id} photo answered {o.final!r}, not one_face")
                continue
            if o.first_reply_at is not None:
                first_reply.append(o.first_reply_at - r.sent_at)
            if len(o.videos) > 1:
                duplicates += len(o.videos) - 1
                problems.append(f"user {user_id} #{r.message_id}: {len(o.videos)} videos for one request")
            if o.videos:
                to_video.append(o.videos[0] - r.sent_at)
            else:
                assert o.final is not None and o.final_at is not None
                refusals[o.final] += 1
                to_refusal.append(o.final_at - r.sent_at)
        got = sum(1 for o in speech if o.videos)
        videos += got
        expected = min(len(speech), allowance[user_id])
        refused = [o.final for o in speech if not o.videos]
        if got != expected:
            problems.append(f"user {user_id}: {got} videos, expected {expected} (refusals {refused})")
        if any(key != "quota_exceeded" for key in refused):
            problems.append(f"user {user_id}: refusals other than the quota: {refused}")
        charged = books.debits[user_id] - books.refunds[user_id]
        if charged != got:
            problems.append(
                f"user {user_id}: ledger charges {charged} (debits {books.debits[user_id]}, refunds "
                f"{books.refunds[user_id]}) for {got} videos"
            )
        if loose.get(user_id):
            problems.append(f"user {user_id}: messages that answer nothing: {loose[user_id]}")
    unfinished = {
        status: n for status, n in books.jobs.items() if status not in ("done", "failed", "cancelled")
    }
    if unfinished:
        problems.append(f"jobs not finished: {unfinished}")
    return Verdict(
        problems, videos, refusals, lost, duplicates, first_reply, photo_reply, to_video, to_refusal
    )


def noon_zone(now: float | None = None) -> str:
    """A fixed-offset time zone where it is about noon now, so no quota day ends during a run."""
    hour = time.gmtime(now).tm_hour
    offset = (12 - hour + 12) % 24 - 12  # UTC offset in hours, -12 … +11
    if offset == 0:
        return "Etc/GMT"
    # The Etc/GMT names are POSIX-style: Etc/GMT+10 is ten hours *behind* UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
