"""Queueing a render: quota debit and insert in one storage transaction, refusals in the user's words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Message

from bot.cosmetic import quietly
from bot.runtime import Runtime, utcnow
from bot.texts import t
from storage import Job, JobSpec
from storage.errors import AlreadyQueued, QueueFull, QuotaExceeded, SceneNotOpen, TooManyQueued, UserBanned


def format_reset(resets_at: datetime, timezone: str) -> str:
    """A reset time in the quota's time zone, as the user reads it."""
    return resets_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


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
    except SceneNotOpen:
        return None, t("scene_closed", lang)
    await rt.queue.set_status_message(job.id, status_id)
    return job, ""


async def show_position(rt: Runtime, status: Message, job: Job, lang: str) -> None:
    """Edits the "you're next" acknowledgement to the job's place in the queue, if not next.

    Cosmetic: the job is queued either way, so a failed edit (TimedOut, BadRequest) fails nothing.
    """
    position = await rt.queue.position(job.id)
    if position > 1:
        await quietly(status.edit_text(t("queued", lang, position=position)))
