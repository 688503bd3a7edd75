"""MediaPipe's native log lines stay out of the CLI's stderr; our errors and real ones do not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NOISE = ("W0000", "inference_feedback_manager", "TensorFlow Lite", "absl::InitializeLog")

SCRIPT = """
import os, sys
import generator
from generator.quiet import native_stderr_filtered

with native_stderr_filtered():
    faces = generator.analyze(sys.argv[1]).faces
    os.write(2, b"a real error from native code\\n")
print(len(faces))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=240, check=False)


def test_the_cli_analyze_prints_no_mediapipe_lines_and_still_prints_its_errors(
    astronaut_path: Path, not_an_image_path: Path
) -> None:
    good = _run("-m", "generator", "analyze", str(astronaut_path))
    bad = _run("-m", "generator", "analyze", str(not_an_image_path))

    assert good.returncode == 0 and '"faces"' in good.stdout
    assert good.stderr == ""  # MediaPipe loaded and ran, and said nothing
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: IMAGE_UNREADABLE: ")


def test_the_filter_drops_only_mediapipe_lines_and_hands_on_the_rest_before_it_ends(
    astronaut_path: Path,
) -> None:
    done = _run("-c", SCRIPT, str(astronaut_path))

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr
    assert done.stderr == "a real error from native code\n"
