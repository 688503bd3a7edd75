"""Queueing a render: quota debit and insert in one storage transaction, refusals in the user's words."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Message

from bot.cosmetic import quietly
from bot.runtime import Runtime, utcnow
from bot.texts import t
from storage import Job, JobSpec
from storage.errors import (
    AlreadyQueued,
    QueueFull,
    QueueUnavailable,
    QuotaExceeded,
    SceneNotOpen,
    TooManyQueued,
    UserBanned,
)


def format_reset(resets_at: datetime, timezone: str) -> str:
    """A reset time in the quota's time zone, as the user reads it."""
    return resets_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Queued:
    """What came of a request to queue: the job, or the refusal's catalog key and text."""

    job: Job | None
    refusal: str = ""  # catalog key, "" when queued
    text: str = ""  # the refusal in the user's language

    @property
    def database_down(self) -> bool:
        """Nothing was queued because the database could not be reached: nothing else may be asked of it."""
        return self.refusal == "queue_unavailable"


async def enqueue(rt: Runtime, spec: JobSpec, lang: str, status_id: int) -> Queued:
    """Queues a render (quota debit + insert, one transaction); else says why not, in `lang`.

    The job is saved with its status message `status_id` in that same transaction. The caller
    wakes the worker once the job's surroundings (e.g. a scene's status) are saved.
    """
    spec = dataclasses.replace(spec, status_message_id=status_id)
    try:
        return Queued(await rt.queue.enqueue(spec, rt.policy, utcnow()))
    except QuotaExceeded as exc:
        zone = rt.settings.quota_timezone
        key, text = (
            "quota_exceeded",
            t("quota_exceeded", lang, time=format_reset(exc.resets_at, zone), timezone=zone),
        )
    except TooManyQueued as exc:
        key, text = "too_many_queued", t("too_many_queued", lang, limit=exc.limit)
    except QueueUnavailable:
        key, text = "queue_unavailable", t("queue_unavailable", lang)
    except QueueFull:
        key, text = "queue_full", t("queue_full", lang)
    except UserBanned:
        key, text = "banned", t("banned", lang)
    except AlreadyQueued:
        key, text = "already_queued", t("already_queued", lang)
    except SceneNotOpen:
        key, text = "scene_closed", t("scene_closed", lang)
    return Queued(None, key, text)


async def show_position(rt: Runtime, status: Message, job: Job, lang: str) -> None:
    """Edits the "you're next" acknowledgement to the job's place in the queue, if not next.

    Cosmetic: the job is queued either way, so a failed edit (TimedOut, BadRequest) fails nothing.
    """
    position = await rt.queue.position(job.id)
    if position > 1:
        await quietly(status.edit_text(t("queued", lang, position=position)))
