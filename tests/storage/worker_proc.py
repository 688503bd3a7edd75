"""A render-worker process for the storage tests: the real Worker loop with a trivial handler.

    python -m tests.storage.worker_proc URL --worker-id w1 --mode fast|hang --lease 1 [--stop-after N]

The handler records every run in `test_runs` (no unique key, so a job run twice shows up twice)
and every "video sent" in `test_deliveries` (unique per job), the way bot/delivery.py sends
through Telegram: skip when the job is already marked delivered, then mark it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)

from storage import Database, Job, JobQueue, Status, Worker

metadata = MetaData()
runs = Table(
    "test_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("worker_id", String(64), nullable=False),
    Column("phase", String(16), nullable=False),
)
deliveries = Table(
    "test_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("worker_id", String(64), nullable=False),
    UniqueConstraint("job_id"),
)


def create_tables(connection: Connection) -> None:
    """Creates the test's bookkeeping tables next to phototalk's own."""
    metadata.create_all(connection)


async def record(db: Database, table: Table, **values: object) -> None:
    async with db.session() as s, s.begin():
        await s.execute(insert(table).values(**values))


def make_handler(db: Database, queue: JobQueue, worker_id: str, mode: str):  # type: ignore[no-untyped-def]
    async def handle(job: Job) -> str | None:
        if mode == "hang":
            await record(db, runs, job_id=job.id, worker_id=worker_id, phase="start")
            await asyncio.sleep(3600)  # killed with -9 while "rendering"
        await asyncio.sleep(0.01)  # a render's worth of waiting, so workers interleave
        async with db.session() as s, s.begin():
            await s.execute(insert(runs).values(job_id=job.id, worker_id=worker_id, phase="start"))
            if not job.delivered:  # as bot/delivery.py: never send a video twice
                await s.execute(insert(deliveries).values(job_id=job.id, worker_id=worker_id))
        await queue.mark_delivered(job.id, f"video-{job.id}")
        return f"video-{job.id}"

    return handle


async def main(args: argparse.Namespace) -> None:
    db = Database(args.url)
    queue = JobQueue(db, max_attempts=3)
    worker = Worker(
        queue,
        make_handler(db, queue, args.worker_id, args.mode),
        concurrency=args.concurrency,
        lease_seconds=args.lease,
        worker_id=args.worker_id,
        poll_interval=0.05,
        reclaim_interval=0.3,
        retry_delay=0.0,
    )

    async def stop_when_finished() -> None:
        while True:
            await asyncio.sleep(0.2)
            async with db.read_session() as s:
                finished = await s.scalar(
                    select(func.count()).where(Job.status.in_([Status.DONE, Status.FAILED, Status.CANCELLED]))
                )
            if (finished or 0) >= args.stop_after:
                worker.stop()
                return

    await record(db, runs, job_id=0, worker_id=args.worker_id, phase="ready")
    if args.wait_go:
        # all workers start claiming together, once the test has queued every job
        go = select(func.count()).select_from(runs).where(runs.c.phase == "go")
        for _ in range(1200):
            async with db.read_session() as s:
                if await s.scalar(go):
                    break
            await asyncio.sleep(0.05)
    watcher = asyncio.create_task(stop_when_finished())
    try:
        await worker.run()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--mode", choices=["fast", "hang"], default="fast")
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--wait-go", action="store_true", help="start once the test records 'go'")
    parser.add_argument("--stop-after", type=int, default=1, help="stop once this many jobs are finished")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main(parser.parse_args()))
