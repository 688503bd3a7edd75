"""Scale-out: separate worker processes sharing one database, and one of them killed with -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from storage import Database, Job, JobQueue, LedgerReason, QuotaEntry, QuotaPolicy, Status
from tests.storage.helpers import spec
from tests.storage.worker_proc import create_tables, deliveries, runs

REPO = Path(__file__).resolve().parents[2]
POLICY = QuotaPolicy(daily=100, timezone="UTC", max_queued_per_user=100, max_queue=1000)


def start_worker(url: str, worker_id: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Starts `tests.storage.worker_proc` as its own OS process, logging to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.storage.worker_proc", url, "--worker-id", worker_id, *extra],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_for(db: Database, query, expected: int, within: float) -> int:  # type: ignore[no-untyped-def]
    """Polls a count query until it reaches `expected` (or `within` seconds pass); returns the count."""
    deadline = time.monotonic() + within
    while True:
        async with db.read_session() as s:
            count = await s.scalar(query) or 0
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


async def wait_exit(process: subprocess.Popen[bytes], within: float) -> int:
    """The process's exit code; killed (and -9 returned) if it runs longer than `within` seconds."""
    try:
        return await asyncio.to_thread(process.wait, within)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


async def test_four_worker_processes_run_200_jobs_exactly_once(db: Database, tmp_path: Path) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(create_tables)
    log = tmp_path / "workers.log"
    # A roomy lease: this test is about claiming, and a starved CI core must not expire a lease.
    lease = ("--lease", "15")
    workers = [
        start_worker(db.url, f"p{i}", log, *lease, "--stop-after", "200", "--wait-go") for i in range(4)
    ]
    try:
        queue = JobQueue(db)
        for first in range(0, 200, 20):  # 20 users × 10 jobs, while the workers start up
            batch = range(first, first + 20)
            await asyncio.gather(*(queue.enqueue(spec(500 + n % 20, n), POLICY) for n in batch))
        ready = select(func.count()).select_from(runs).where(runs.c.phase == "ready")
        assert await wait_for(db, ready, 4, within=60) == 4, log.read_text()
        async with db.session() as s, s.begin():
            await s.execute(insert(runs).values(job_id=0, worker_id="test", phase="go"))
        codes = [await wait_exit(w, within=90) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert codes == [0, 0, 0, 0], log.read_text()

    async with db.session() as s:
        statuses = dict((await s.execute(select(Job.status, func.count()).group_by(Job.status))).all())
        started = select(runs.c.job_id).where(runs.c.phase == "start")
        executions = await s.scalar(select(func.count()).select_from(started.subquery()))
        distinct = await s.scalar(
            select(func.count(func.distinct(runs.c.job_id))).where(runs.c.phase == "start")
        )
        sent = await s.scalar(select(func.count()).select_from(deliveries))
        per_worker = dict(
            (await s.execute(select(Job.worker_id, func.count()).group_by(Job.worker_id))).all()
        )
        attempts = await s.scalar(select(func.max(Job.attempts)))
    assert statuses == {Status.DONE: 200}  # every job done, none left
    assert executions == distinct == 200  # none run twice
    assert sent == 200  # one video each
    assert attempts == 1
    assert len(per_worker) >= 2, per_worker  # the work really was shared between processes


async def test_killed_worker_job_is_finished_by_another_once(db: Database, tmp_path: Path) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(create_tables)
    queue = JobQueue(db)
    job = await queue.enqueue(spec(42, 1), POLICY)
    log = tmp_path / "workers.log"
    doomed = start_worker(db.url, "doomed", log, "--mode", "hang", "--lease", "1", "--stop-after", "1")
    try:
        started = select(func.count()).select_from(runs).where(runs.c.phase == "start")
        assert await wait_for(db, started, 1, within=60) == 1, log.read_text()
        await asyncio.sleep(0.8)  # let it heartbeat at least once: it is alive and mid-render
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
        running = await queue.get(job.id)
        assert running is not None and running.status == Status.RUNNING and running.worker_id == "doomed"

        rescuer = start_worker(db.url, "rescuer", log, "--lease", "1", "--stop-after", "1")
        assert await wait_exit(rescuer, within=60) == 0, log.read_text()
    finally:
        if doomed.poll() is None:
            doomed.kill()

    done = await queue.get(job.id)
    assert done is not None and done.status == Status.DONE
    assert done.worker_id == "rescuer" and done.attempts == 2 and done.delivered
    async with db.session() as s:
        sent = list(await s.scalars(select(deliveries.c.worker_id)))
        moves = list(await s.scalars(select(QuotaEntry.reason).where(QuotaEntry.user_id == 42)))
    assert sent == ["rescuer"]  # the user gets one video
    assert moves == [LedgerReason.DEBIT]  # charged once, never refunded
