"""The render pool keeps MediaPipe's native log lines out of the terminal, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, cv2, skimage.data
import generator
from bot.runtime import make_pool

ok, data = cv2.imencode(".jpg", skimage.data.astronaut()[:, :, ::-1])
pool = make_pool(1)
faces = pool.submit(generator.analyze, data.tobytes()).result().faces
pool.submit(os.write, 2, b"a real error from a render process\\n").result()
pool.shutdown(wait=True)
print(len(faces))
"""


def test_the_render_pool_prints_no_mediapipe_lines_but_keeps_real_errors() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"  # the analysis ran in the pool
    for noise in ("W0000", "inference_feedback_manager", "TensorFlow Lite", "absl::InitializeLog"):
        assert noise not in proc.stderr, proc.stderr
    assert "a real error from a render process" in proc.stderr
