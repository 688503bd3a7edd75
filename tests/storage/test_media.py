"""Photos per chat and user: newest unexpired, replies to earlier photos, face choice, cached analysis."""

from __future__ import annotations

from datetime import timedelta

from storage import Database, media
from tests.storage.helpers import NOW


async def save(db: Database, *, chat: int, user: int, message: int, unique: str, minutes: int = 60) -> int:
    async with db.session() as s, s.begin():
        saved = await media.save_photo(
            s,
            chat_id=chat,
            user_id=user,
            message_id=message,
            file_id=f"file-{message}",
            file_unique_id=unique,
            path=f"/media/{message}.jpg",
            analysis={"faces": [{"index": 0, "usable": True}], "message": message},
            expires_at=NOW + timedelta(minutes=minutes),
            now=NOW + timedelta(seconds=message),
        )
        return saved.id


async def test_last_photo_is_the_newest_unexpired_one_of_that_user_in_that_chat(db: Database) -> None:
    await save(db, chat=-1, user=1, message=1, unique="a")
    newest = await save(db, chat=-1, user=1, message=2, unique="b")
    await save(db, chat=-1, user=2, message=3, unique="c")  # someone else in the same group
    await save(db, chat=1, user=1, message=4, unique="d")  # the same user in private
    async with db.session() as s:
        last = await media.last_photo(s, -1, 1, NOW + timedelta(minutes=1))
        assert last is not None and last.id == newest
        assert last.analysis == {"faces": [{"index": 0, "usable": True}], "message": 2}
        assert await media.last_photo(s, -1, 1, NOW + timedelta(hours=2)) is None  # expired


async def test_reply_finds_an_earlier_photo_and_the_face_choice_sticks(db: Database) -> None:
    first = await save(db, chat=-1, user=1, message=10, unique="a", minutes=1)
    await save(db, chat=-1, user=1, message=11, unique="b")
    async with db.session() as s, s.begin():
        await media.set_face(s, first, 2, chorus=False)
    async with db.session() as s:
        replied = await media.photo_for_message(s, -1, 10)
        assert replied is not None and replied.id == first and replied.face == 2
        assert await media.photo_for_message(s, -2, 10) is None  # another chat


async def test_analysis_is_cached_by_file_unique_id(db: Database) -> None:
    await save(db, chat=-1, user=1, message=1, unique="same-picture")
    async with db.session() as s:
        assert await media.cached_analysis(s, "same-picture") is not None
        assert await media.cached_analysis(s, "never-seen") is None
    await save(db, chat=-2, user=2, message=5, unique="same-picture")  # forwarded elsewhere
    async with db.session() as s:
        cached = await media.cached_analysis(s, "same-picture")
        assert cached is not None and cached["message"] == 5


async def test_a_request_sent_before_any_photo_waits_in_storage_until_taken(db: Database) -> None:
    track = {"source": "voice", "file_id": "voice-1"}
    async with db.session() as s, s.begin():
        await media.save_pending(s, chat_id=5, user_id=5, message_id=10, track=track, now=NOW)
        await media.save_pending(s, chat_id=5, user_id=5, message_id=11, track=track, now=NOW)  # replaces
    async with db.session() as s, s.begin():
        assert await media.take_pending(s, 5, 6, NOW - timedelta(minutes=10)) is None  # another user
        assert await media.take_pending(s, 5, 5, NOW - timedelta(minutes=10)) == (11, track)
    async with db.session() as s, s.begin():
        assert await media.take_pending(s, 5, 5, NOW - timedelta(minutes=10)) is None  # consumed


async def test_a_stale_pending_request_is_dropped_not_rendered(db: Database) -> None:
    async with db.session() as s, s.begin():
        await media.save_pending(s, chat_id=5, user_id=5, message_id=10, track={"source": "text"}, now=NOW)
    async with db.session() as s, s.begin():
        assert await media.take_pending(s, 5, 5, NOW + timedelta(minutes=1)) is None
    async with db.session() as s, s.begin():
        assert await media.take_pending(s, 5, 5, NOW - timedelta(minutes=10)) is None  # and gone
