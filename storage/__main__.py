"""`python -m storage migrate [URL]` — apply (or `downgrade`) phototalk's schema migrations.

URL defaults to $DATABASE_URL. Works from any working directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from sqlalchemy.engine import make_url

from storage.db import Database


async def _run(command: str, url: str, revision: str) -> None:
    db = Database(url)
    try:
        if command == "migrate":
            await db.migrate(revision)
        else:
            await db.downgrade(revision)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs the migration."""
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    parser.add_argument("command", choices=["migrate", "downgrade"])
    parser.add_argument("url", nargs="?", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--revision", default=None, help="target revision (migrate: head, downgrade: base)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give a database URL or set DATABASE_URL")
    revision = args.revision or ("head" if args.command == "migrate" else "base")
    asyncio.run(_run(args.command, args.url, revision))
    shown = make_url(args.url).render_as_string(hide_password=True)
    print(f"{args.command}: {revision} applied to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
