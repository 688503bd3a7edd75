"""Keeps MediaPipe's native chatter (TFLite, absl, glog lines) out of the user's terminal.

MediaPipe's C++ code writes informational lines straight to file descriptor 2 ("W0000 …
inference_feedback_manager.cc:114] Feedback manager requires…", "INFO: Created TensorFlow Lite
XNNPACK delegate for CPU."), below Python's logging and deaf to GLOG_*/TF_CPP_* variables. A
process that loads MediaPipe therefore routes fd 2 through a pipe whose reader drops exactly those
lines and passes everything else (errors, Python tracebacks) on to the real stderr: for good in the
bot's pool processes (`filter_native_stderr`), for one command in the CLI (`native_stderr_filtered`,
which hands every line on before it returns, so a last error line is never lost).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

#: Informational and warning lines of glog/absl ("I0000 …", "W1201 …") and TFLite's start-up notes.
NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]"
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)

_installed = False


def filter_native_stderr() -> None:
    """Routes this process's fd 2 through the filter for the rest of its life; idempotent.

    Meant for pool processes that load MediaPipe (the bot's pools' initializer).
    """
    global _installed
    if _installed:
        return
    _installed = True
    _install()


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Filters fd 2 while the block runs; on leaving, every line written so far has been passed on."""
    if _installed:  # already filtered for good
        yield
        return
    real, reader = _install()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # drops fd 2's hold on the pipe: the reader drains it, then sees its end
        reader.join()
        os.close(real)


def _install() -> tuple[int, threading.Thread]:
    """Points fd 2 at a pipe read by a filtering thread; returns the real stderr's fd and the thread."""
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(
        target=_pass_on, args=(read_end, os.dup(real)), name="stderr-filter", daemon=True
    )
    reader.start()
    return real, reader


def _pass_on(read_end: int, out: int) -> None:
    """Copies lines from the pipe to `out` (its own copy of the real stderr), except the noise."""
    try:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = [line for line in lines if not NOISE.match(line)]
                if kept:
                    os.write(out, b"\n".join(kept) + b"\n")
            if pending and not NOISE.match(pending):
                os.write(out, pending)
    finally:
        os.close(out)
