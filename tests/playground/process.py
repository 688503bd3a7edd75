"""`python -m playground` as a child process, as `make playground` starts it: its URL, then Ctrl-C."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path


class PlaygroundProcess:
    """Starts `python -m playground ARGS`; `url()` waits for the one URL it prints, `stop()` sends SIGINT."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "playground", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self._lines.put(line) for line in stdout], daemon=True).start()

    def url(self, timeout: float = 60) -> str:
        """The page's URL, from the first line the playground prints (without the trailing slash)."""
        first = self._lines.get(timeout=timeout)
        assert first.startswith("phototalk playground: http://127.0.0.1:"), first
        return first.split(": ", 1)[1].strip().rstrip("/")

    def stop(self) -> str:
        """Ctrl-C, as in a terminal; waits for everything to stop and returns what went to stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, stderr = self.proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        return stderr

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode
