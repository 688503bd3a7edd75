"""`python -m generator`: renders and analyses from a terminal, and says in one line why it cannot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import generator.__main__ as cli
from generator.encode import probe
from generator.intake import SAMPLE_RATE, load_audio


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", *args], capture_output=True, text=True, timeout=240, check=False
    )


def _error_line(stderr: str) -> str:
    """The one line the CLI prints for a refused input (MediaPipe may log its own lines before it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_analyze_prints_the_faces_as_json(astronaut_path: Path) -> None:
    done = _run("analyze", str(astronaut_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["width"], report["height"]) == (512, 512)
    assert len(report["faces"]) == 1
    face = report["faces"][0]
    assert face["usable"] is True and face["reason"] is None and len(face["box"]) == 4


def test_analyze_of_a_photo_without_people_lists_no_faces(
    no_face_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["analyze", str(no_face_path)]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == []


def test_analyze_of_a_text_file_fails_in_one_line(
    not_an_image_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["analyze", str(not_an_image_path)]) == 1
    captured = capsys.readouterr()
    assert _error_line(captured.err).startswith("error: IMAGE_UNREADABLE: ")
    assert captured.out == ""


def test_missing_files_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jpg"
    assert cli.main(["analyze", str(missing)]) == 1
    assert _error_line(capsys.readouterr().err) == f"error: {missing}: no such file"


def test_render_writes_a_playable_clip_of_the_speech(
    astronaut_path: Path, english_speech: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clip.mp4"
    status = cli.main(["render", str(astronaut_path), str(english_speech), "-o", str(out), "--size", "256"])
    assert status == 0
    info = probe(out)
    assert (info["width"], info["height"]) == (256, 256)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    seconds = len(load_audio(english_speech)[0]) / SAMPLE_RATE
    assert info["duration"] == pytest.approx(seconds, abs=0.04)
    summary = capsys.readouterr().out.strip()
    assert summary.startswith(f"{out}: 256x256, ") and "\n" not in summary


@pytest.mark.parametrize(
    ("photo", "audio", "extra", "code"),
    [
        ("no_face_path", "english_speech", [], "NO_FACE"),
        ("tiny_face_path", "english_speech", [], "FACE_TOO_SMALL"),
        ("astronaut_path", "english_speech", ["--face", "3"], "FACE_NOT_FOUND"),
        ("astronaut_path", "silence_path", [], "NO_SPEECH"),
        ("astronaut_path", "corrupt_audio_path", [], "AUDIO_UNREADABLE"),
        ("astronaut_path", "long_speech_path", ["--no-trim"], "AUDIO_TOO_LONG"),
        ("truncated_jpeg_path", "english_speech", [], "IMAGE_UNREADABLE"),
    ],
)
def test_render_refuses_unusable_input_with_its_code(
    photo: str,
    audio: str,
    extra: list[str],
    code: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "never.mp4"
    args = [str(request.getfixturevalue(photo)), str(request.getfixturevalue(audio)), "-o", str(out)]
    assert cli.main(["render", *args, *extra]) == 1
    assert _error_line(capsys.readouterr().err).startswith(f"error: {code}: ")
    assert not out.exists()


def test_a_mistyped_command_line_exits_with_usage(
    astronaut_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["render", str(astronaut_path)])  # no audio, no -o
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_demo_renders_the_astronaut_speaking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "DEMO_TEXT", "Hello, I can talk.")  # a shorter line keeps the suite fast
    out = tmp_path / "demo.mp4"
    assert cli.main(["demo", "-o", str(out)]) == 0
    info = probe(out)
    assert (info["width"], info["height"]) == (512, 512) and info["has_audio"]
    assert 0.8 < info["duration"] < 4.0


def test_face_values_must_match_the_recordings(
    astronaut_path: Path, english_speech: Path, tmp_path: Path
) -> None:
    args = [
        "render",
        str(astronaut_path),
        str(english_speech),
        str(english_speech),
        "-o",
        str(tmp_path / "x.mp4"),
    ]
    with pytest.raises(SystemExit) as exited:
        cli.main([*args, "--face", "0", "1", "2"])
    assert str(exited.value.code) == "error: 3 --face values for 2 recordings"
    assert not (tmp_path / "x.mp4").exists()
