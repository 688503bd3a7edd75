"""Job claims per second on PostgreSQL with 1, 4 and 16 concurrent worker processes.

    python bench/claims.py [--url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                           [--jobs 2000] [--users 50] [--workers 1 4 16] [--sqlite]

Creates a fresh database (dropped afterwards), migrates it, and for each worker count fills the
queue with `--jobs` queued jobs spread over `--users` users, then starts that many OS processes,
each with its own connection, looping claim → finish (the queue's real round-robin claim with
FOR UPDATE SKIP LOCKED) until the queue is empty. Prints claims per second (wall clock, all
workers together), mean and p95 claim latency, and checks that no job was claimed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import make_url

from storage import Database, Job, JobQueue, QuotaEntry, Status, User

DEFAULT_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Run:
    """One measurement: how many workers, how many claims, how long."""

    backend: str
    workers: int
    claims: int
    seconds: float
    latencies_ms: list[float]
    duplicates: int

    @property
    def per_second(self) -> float:
        return self.claims / self.seconds if self.seconds else 0.0


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database or "postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fill(url: str, jobs: int, users: int) -> None:
    """Empties the queue and inserts `jobs` queued jobs round the `users` users."""
    db = Database(url)
    now = datetime.now(UTC)
    try:
        async with db.session() as s, s.begin():
            await s.execute(delete(QuotaEntry))
            await s.execute(delete(Job))
            if not await s.scalar(select(func.count()).select_from(User)):
                await s.execute(
                    insert(User),
                    [{"id": u, "banned": False, "created_at": now, "updated_at": now} for u in range(users)],
                )
            rows = [
                {
                    "user_id": n % users,
                    "chat_id": n % users,
                    "idempotency_key": f"bench:{uuid.uuid4().hex}",
                    "payload": {"kind": "solo"},
                    "status": Status.QUEUED,
                    "attempts": 0,
                    "max_attempts": 3,
                    "delivered": False,
                    "charged": False,
                    "refunded": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(jobs)
            ]
            await s.execute(insert(Job), rows)
        if db.is_postgres:
            # fresh statistics, as autovacuum would have on a live queue
            async with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                await conn.exec_driver_sql("ANALYZE jobs")
    finally:
        await db.dispose()


async def _work(url: str, worker_id: str, start_at: float) -> tuple[list[int], list[float]]:
    db = Database(url, pool_size=1)
    queue = JobQueue(db)
    claimed: list[int] = []
    latencies: list[float] = []
    try:
        await queue.stats()  # connect before the clock starts
        await asyncio.sleep(max(0.0, start_at - time.time()))
        while True:
            t = time.perf_counter()
            job = await queue.claim(worker_id, 60)
            if job is None:
                break
            latencies.append((time.perf_counter() - t) * 1000)
            claimed.append(job.id)
            await queue.finish(job.id, worker_id)
    finally:
        await db.dispose()
    return claimed, latencies


def _worker_main(url: str, worker_id: str, start_at: float, results: mp.Queue) -> None:  # type: ignore[type-arg]
    claimed, latencies = asyncio.run(_work(url, worker_id, start_at))
    results.put((claimed, latencies, time.time()))


def measure(url: str, backend: str, workers: int, jobs: int, users: int) -> Run:
    """Fills the queue, lets `workers` processes drain it, and times them."""
    asyncio.run(_fill(url, jobs, users))
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    # every process starts claiming at the same instant, after all of them have imported and connected
    start_at = time.time() + 3.0 + 0.25 * workers
    procs = [ctx.Process(target=_worker_main, args=(url, f"b{i}", start_at, results)) for i in range(workers)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    ids = [i for claimed, _, _ in outcomes for i in claimed]
    latencies = [lat for _, lats, _ in outcomes for lat in lats]
    finished = max(end for _, _, end in outcomes)
    return Run(backend, workers, len(ids), finished - start_at, latencies, len(ids) - len(set(ids)))


def print_table(runs: list[Run]) -> None:
    """Prints the results as a plain-text table."""
    header = ("backend", "workers", "claims", "seconds", "claims/s", "mean ms", "p95 ms", "dupes")
    print("{:<10} {:>7} {:>7} {:>8} {:>9} {:>8} {:>7} {:>5}".format(*header))
    for r in runs:
        p95 = statistics.quantiles(r.latencies_ms, n=20)[-1] if len(r.latencies_ms) > 1 else 0.0
        mean = statistics.fmean(r.latencies_ms) if r.latencies_ms else 0.0
        print(
            f"{r.backend:<10} {r.workers:>7} {r.claims:>7} {r.seconds:>8.2f} {r.per_second:>9.0f} "
            f"{mean:>8.1f} {p95:>7.1f} {r.duplicates:>5}"
        )


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark on a fresh PostgreSQL database (and optionally SQLite)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="any database on the PostgreSQL server to use")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--sqlite", action="store_true", help="also measure the embedded SQLite default")
    args = parser.parse_args(argv)

    name = f"phototalk_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(args.url, f'CREATE DATABASE "{name}"'))
    runs: list[Run] = []
    try:
        asyncio.run(_migrate(url))
        for workers in args.workers:
            runs.append(measure(url, "postgresql", workers, args.jobs, args.users))
        if args.sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                lite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                asyncio.run(_migrate(lite))
                for workers in args.workers:
                    runs.append(measure(lite, "sqlite", workers, args.jobs, args.users))
    finally:
        asyncio.run(_admin(args.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{args.jobs} jobs over {args.users} users; {os.cpu_count()} CPUs; claim → finish per job")
    print_table(runs)
    return 1 if any(r.duplicates or r.claims != args.jobs for r in runs) else 0


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()


if __name__ == "__main__":
    sys.exit(main())
