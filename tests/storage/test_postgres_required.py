"""The README: the suite "fails — never skips — when PostgreSQL cannot be reached"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_postgres_test_fails_loudly_when_postgres_cannot_be_reached(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env["TEST_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(REPO),
            "tests/storage/test_users.py::test_upsert_keeps_fields_it_is_not_given[postgres]",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    # pytest.fail in a fixture: the test errors at setup, and the run fails (exit status 1).
    assert ("1 error" in out or "1 failed" in out) and "skipped" not in out, out[-3000:]
    assert f"PostgreSQL at postgresql+asyncpg://postgres@127.0.0.1:{port}/test is not reachable" in out
