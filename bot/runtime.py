"""The resources one bot process shares between handlers: database, job queue, render pool.

They are created in `post_init` (bot/app.py) and kept in `application.bot_data["runtime"]`;
handlers reach them through `runtime(context)`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from telegram.ext import CallbackContext

from bot import tts
from bot.settings import Settings
from generator.quiet import filter_native_stderr
from storage import Database, JobQueue, QuotaPolicy
from storage.worker import Worker

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a handler or the job handler needs besides the Bot API."""

    settings: Settings
    db: Database
    queue: JobQueue
    policy: QuotaPolicy
    pool: ProcessPoolExecutor
    worker: Worker | None = None  # the embedded render worker, woken right after an enqueue
    #: Photo analyses run here, not in the render pool (None in a standalone render worker).
    analysis_pool: ProcessPoolExecutor | None = None
    #: Analyses each user may start per minute (Settings.analyses_per_minute).
    analysis_limit: RateLimit = field(default_factory=lambda: RateLimit(10))
    #: Speaks typed text; edge-tts (an online service) only when Settings.tts_online allows it.
    tts: tts.Synthesizer = field(default_factory=tts.Synthesizer)
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    async def analyze(self, photo: bytes) -> dict[str, Any]:
        """Finds the faces in a photo, in the analysis pool; the analysis as stored (landmarks
        included, so the render reuses it instead of searching again)."""
        import generator

        pool = self.analysis_pool
        assert pool is not None, "this process takes no photos"
        try:
            analysis = await asyncio.wrap_future(pool.submit(generator.analyze, photo))
        except BrokenProcessPool:  # e.g. killed for memory: the next photo gets a fresh pool
            if self.analysis_pool is pool:
                log.error("an analysis process died; starting a new analysis pool")
                self.analysis_pool = make_pool(self.settings.analysis_workers)
                pool.shutdown(wait=False, cancel_futures=True)
            raise
        return analysis.to_stored()

    def submit(self, fn: Callable[..., T], *args: Any) -> PoolCall[T]:
        """Starts CPU-bound `fn(*args)` in the render pool now; `wait_for` awaits it."""
        return PoolCall(self.pool.submit(fn, *args), self.pool)

    async def wait_for(self, call: PoolCall[T]) -> T:
        """Awaits a pool call from `submit`, replacing the pool if a crashed process broke it."""
        try:
            return await asyncio.wrap_future(call.future)
        except BrokenProcessPool:
            if self.pool is call.pool:
                log.error("a render process died; starting a new render pool")
                self.pool = make_pool(self.settings.render_workers)
                call.pool.shutdown(wait=False, cancel_futures=True)
            raise


class RateLimit:
    """At most `per_minute` events per key in any 60 seconds (in this process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._events: dict[int, collections.deque[float]] = {}

    def wait(self, key: int) -> float:
        """0 and counts the event if it is allowed now; else the seconds until it would be."""
        now = self._clock()
        events = self._events.setdefault(key, collections.deque())
        while events and now - events[0] >= 60.0:
            events.popleft()
        if len(events) >= self.per_minute:
            return 60.0 - (now - events[0])
        events.append(now)
        return 0.0


@dataclass(frozen=True)
class PoolCall(Generic[T]):
    """A call running in a process pool: its future, and the pool (replaced if it breaks)."""

    future: Future[T]
    pool: ProcessPoolExecutor


def make_synthesizer(settings: Settings) -> tts.Synthesizer:
    """The process's text-to-speech, online or offline only as the operator chose."""
    return tts.Synthesizer(use_edge=settings.tts_online)


def runtime(context: CallbackContext[Any, Any, Any, Any]) -> Runtime:
    """The process's shared resources, from the application's bot_data."""
    rt: Runtime = context.application.bot_data["runtime"]
    return rt


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def quota_policy(settings: Settings) -> QuotaPolicy:
    """The storage quota policy the settings describe."""
    return QuotaPolicy(
        daily=settings.daily_quota,
        timezone=settings.quota_timezone,
        max_queued_per_user=settings.max_queued_per_user,
        max_queue=settings.max_queue,
    )


def _warm_up() -> None:
    """Loads the generator and its face models in a pool process, so the first photo is quick."""
    import cv2
    import numpy as np

    import generator
    import generator.pipeline  # the render stages (scipy, PyAV): seconds to import

    _, blank = cv2.imencode(".jpg", np.full((256, 256, 3), 127, np.uint8))
    # A blank picture has nothing to find; what matters is that the first analysis builds
    # MediaPipe's graphs (about 2 s), here rather than while a user waits.
    with contextlib.suppress(Exception):
        generator.analyze(blank.tobytes())


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool for generator calls (renders, or photo analyses), warmed up in the background.

    Renders and analyses get a pool each: a burst of photos never delays a render, and a render
    never delays the answer to a photo.
    """
    size = max(1, workers)
    # spawn, not fork: the parent runs threads (asyncio, httpx, mediapipe) that fork would copy mid-flight.
    pool = ProcessPoolExecutor(
        max_workers=size, mp_context=multiprocessing.get_context("spawn"), initializer=filter_native_stderr
    )
    for _ in range(size):
        pool.submit(_warm_up)
    return pool
