"""Keeps MediaPipe's native chatter (TFLite, absl, glog lines) out of the operator's terminal.

MediaPipe's C++ code writes informational lines straight to file descriptor 2 ("W0000 …
inference_feedback_manager.cc:114] Feedback manager requires…", "INFO: Created TensorFlow Lite
XNNPACK delegate for CPU."), below Python's logging and deaf to GLOG_*/TF_CPP_* variables. The
render pool's processes therefore route fd 2 through a pipe whose reader drops exactly those lines
and passes everything else (errors, Python tracebacks) on to the real stderr.
"""

from __future__ import annotations

import os
import re
import threading

#: Informational and warning lines of glog/absl ("I0000 …", "W1201 …") and TFLite's start-up notes.
NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]"
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)

_installed = False


def filter_native_stderr() -> None:
    """Routes this process's fd 2 through a filter that drops MediaPipe's informational lines.

    Meant for processes that load MediaPipe (the render pool's initializer); idempotent.
    """
    global _installed
    if _installed:
        return
    _installed = True
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    threading.Thread(target=_pass_on, args=(read_end, real), name="stderr-filter", daemon=True).start()


def _pass_on(read_end: int, real: int) -> None:
    """Copies lines from the pipe to the real stderr, except the noise."""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line for line in lines if not NOISE.match(line)]
            if kept:
                os.write(real, b"\n".join(kept) + b"\n")
        if pending and not NOISE.match(pending):
            os.write(real, pending)
