"""Load: simulated users through the fake Bot API against bot replicas and render workers on PostgreSQL.

    python bench/load.py [--users 200] [--replicas 2] [--workers 2] [--daily-quota 2]
                         [--arrival 120] [--url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Everything runs on this machine over real HTTP (loopback): the fake Bot API, an edge that load-
balances Telegram's webhook posts over the replicas (`python -m bot run` in webhook mode,
EMBEDDED_WORKER=false) and proxies their Bot API calls, and separate render workers
(`python -m bot worker`), all OS processes sharing a fresh PostgreSQL database (dropped afterwards).
Renders are tiny (OUTPUT_MAX_SIDE=128, about one second of speech) so the run measures the
service — webhook, queue, claims, delivery — rather than the renderer.

Each user arrives within the `--arrival` window (evenly spread), sends a photo, waits for the
bot's answer, then sends three requests at once: a voice note, a typed line (offline TTS), a
voice note. One user in four writes in Chinese. DAILY_QUOTA is 2 and the admin grants every
other user one more (/grant, through the bot), so half the users get 3 videos and half get
2 videos and one quota refusal.

A warm-up request per process comes first and is not measured (no figure includes a cold start).

Checks (exit status 1 when any fails): every request answered (a video or a specific refusal),
0 lost, 0 duplicate videos (sendVideo replies per request message), per user exactly the videos
the quota allows, only quota refusals, and a ledger that charges exactly the videos delivered.
Prints time-to-first-reply and end-to-end times (p50/p95), throughput and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from storage import Database, Job
from tests.e2e.media import astronaut_portrait, voice_note
from tests.load.cluster import Cluster, Edge, FakeBotApi, fresh_database
from tests.load.traffic import Traffic, judge, noon_zone, percentile, read_books

DEFAULT_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
ADMIN_ID = 4242
FIRST_USER = 100_000
KINDS = ("voice", "text", "voice")


async def sample_load(samples: list[float], stop: asyncio.Event) -> None:
    """Records the 1-minute load average every 5 s until `stop`."""
    while not stop.is_set():
        samples.append(os.getloadavg()[0])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


async def job_times(database_url: str, users: list[int]) -> tuple[list[float], list[float]]:
    """Seconds each finished job waited in the queue (created → claimed) and ran (claimed → done)."""
    db = Database(database_url)
    try:
        async with db.read_session() as s:
            rows = (
                await s.execute(
                    select(Job.created_at, Job.started_at, Job.finished_at).where(
                        Job.user_id.in_(users), Job.finished_at.is_not(None), Job.started_at.is_not(None)
                    )
                )
            ).all()
    finally:
        await db.dispose()
    waits: list[float] = []
    runs: list[float] = []
    for created, started, finished in rows:
        if started is not None and finished is not None:  # the query's filter; narrowed for mypy
            waits.append((started - created).total_seconds())
            runs.append((finished - started).total_seconds())
    return waits, runs


async def run(args: argparse.Namespace) -> int:
    users = [FIRST_USER + i for i in range(args.users)]
    granted = set(users[1::2])
    allowance = {u: args.daily_quota + (1 if u in granted else 0) for u in users}
    langs = {u: "zh" if i % 4 == 3 else "en" for i, u in enumerate(users)}
    settings = {
        "DAILY_QUOTA": str(args.daily_quota),
        "QUOTA_TIMEZONE": noon_zone(),
        "MAX_QUEUED_PER_USER": str(len(KINDS)),
        "MAX_QUEUE": str(len(users) * len(KINDS) + 10),  # only the daily quota may refuse
        "ADMIN_IDS": str(ADMIN_ID),
        "RENDER_WORKERS": str(args.render_workers),
        "JOB_LEASE_SECONDS": "60",
        "LOG_LEVEL": "WARNING",
    }
    photo, voice = astronaut_portrait(), voice_note("Hello there.")
    root = Path(tempfile.mkdtemp(prefix="phototalk-load-"))
    load: list[float] = []
    try:
        async with (
            fresh_database(args.url) as database_url,
            FakeBotApi() as fake,
            Edge(fake.url) as edge,
        ):
            cluster = Cluster(
                fake,
                edge,
                database_url,
                root,
                replicas=args.replicas,
                workers=args.workers,
                settings=settings,
            )
            started = time.monotonic()
            async with cluster:
                print(f"{args.replicas} replicas + {args.workers} workers serving after "
                      f"{time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
                traffic = Traffic(fake, photo, voice)
                # Warm-up, not measured: a request per worker, so no figure includes a cold start.
                warm = [FIRST_USER - 1 - i for i in range(max(args.replicas, args.workers))]
                await asyncio.gather(*(traffic.user(u, "en", ("voice",)) for u in warm))
                await traffic.wait_answered(warm, within=300)
                await asyncio.gather(*(traffic.grant(ADMIN_ID, u, 1) for u in sorted(granted)))
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_load(load, stop))
                began = time.monotonic()

                async def arrive(i: int, user_id: int) -> None:
                    await asyncio.sleep(i * args.arrival / max(1, len(users)))
                    await traffic.user(user_id, langs[user_id], KINDS, within=args.timeout)

                await asyncio.gather(*(arrive(i, u) for i, u in enumerate(users)))
                outcomes = await traffic.wait_answered(users, within=args.timeout)
                wall = time.monotonic() - began
                stop.set()
                await sampler
                died = cluster.all_alive()
                books = await read_books(database_url, users)
                waits, runs = await job_times(database_url, users)
                measured = set(users)
                senders = Counter(
                    c.who
                    for c in edge.calls_by(method="sendVideo")
                    if c.status == 200 and c.chat() in measured
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    verdict = judge(outcomes, allowance, books, traffic.replies.loose)
    requests = sum(1 for o in outcomes if o.request.kind != "photo")
    print(
        f"\n{len(users)} users × {len(KINDS)} requests = {requests} requests (+ {len(users)} photos), "
        f"{args.replicas} replicas, {args.workers} workers × {args.render_workers} renders, PostgreSQL"
    )
    print(f"wall {wall:.1f} s from the first photo to the last answer; "
          f"{verdict.videos / wall * 60:.1f} videos/min; videos per worker {dict(senders)}")  # fmt: skip
    print(f"jobs {dict(books.jobs)}, attempts {dict(sorted(books.attempts.items()))}")
    print(verdict.figures())
    for name, values in (("job: queued -> claimed", waits), ("job: claimed -> done", runs)):
        print(
            f"{name:<28} p50 {percentile(values, 50):6.2f} s   p95 {percentile(values, 95):6.2f} s"
            f"   (n={len(values)})"
        )
    print(f"load average (1 min) during the run: median {sorted(load)[len(load) // 2]:.1f}, "
          f"max {max(load):.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    if died:
        verdict.problems.append(f"processes exited during the run: {died}")
    if verdict.problems:
        print(f"\nFAILED: {len(verdict.problems)} problem(s)")
        for problem in verdict.problems[:40]:
            print("  " + problem)
        return 1
    print("\nOK: every request answered, 0 lost, 0 duplicates, quotas exact")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--render-workers", type=int, default=1, help="RENDER_WORKERS of each worker")
    parser.add_argument("--daily-quota", type=int, default=2)
    parser.add_argument("--arrival", type=float, default=120.0, help="seconds over which users arrive")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for the last answer")
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL server (a fresh database is made)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
