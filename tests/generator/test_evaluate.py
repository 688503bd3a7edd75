"""The lip-sync evaluator: a still photo scores nothing, a mouth that follows the sound scores high,
and a mouth that follows it late is caught at the right lag."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from generator import landmarks as lm
from generator.analysis import analyze_image
from generator.encode import VideoEncoder
from generator.evaluate import (
    EvaluationReport,
    LabelledSpan,
    _blink_onsets,
    _lagged_r,
    evaluate_video,
    evaluate_visemes,
    main,
    phoneme_class,
)
from generator.intake import SAMPLE_RATE
from generator.types import ErrorCode, GeneratorError

FPS = 25


def _mouth_drive(audio: np.ndarray, frames: int) -> np.ndarray:
    """How far to open the mouth on each frame, 0..1: the sound's amplitude over that frame's 40 ms."""
    hop = SAMPLE_RATE // FPS
    padded = np.concatenate([audio, np.zeros(frames * hop, np.float32)])
    amplitude = np.array([np.sqrt(np.mean(padded[i * hop : (i + 1) * hop] ** 2)) for i in range(frames)])
    return np.clip(amplitude / max(amplitude.max(), 1e-9), 0, 1) ** 0.5


def _open_mouth(rgb: np.ndarray, points: np.ndarray, opening: float) -> np.ndarray:
    """The photo with its jaw dropped by `opening` pixels and a dark cavity between the lips."""
    height, width = rgb.shape[:2]
    mouth_y = float(points[[lm.UPPER_LIP_INNER_MID, lm.LOWER_LIP_INNER_MID], 1].mean())
    chin_y = float(points[lm.CHIN, 1])
    left, right = float(points[lm.CHEEK_RIGHT, 0]), float(points[lm.CHEEK_LEFT, 0])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    below = np.clip((ys - mouth_y) / 2.0, 0, 1)  # the jaw moves, the upper face does not
    fade = np.clip(1 - (ys - chin_y) / (0.6 * (chin_y - mouth_y)), 0, 1)
    across = np.clip(1 - np.abs(xs - (left + right) / 2) / ((right - left) / 2), 0, 1) ** 0.5
    map_y = ys - opening * below * fade * across
    out = cv2.remap(rgb, xs, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if opening >= 1:
        corner_l, corner_r = points[lm.MOUTH_INNER_CORNER_RIGHT, 0], points[lm.MOUTH_INNER_CORNER_LEFT, 0]
        centre = (round((corner_l + corner_r) / 2), round(mouth_y + opening / 2))
        axes = (round((corner_r - corner_l) / 2 * 0.9), max(1, round(opening / 2)))
        cv2.ellipse(out, centre, axes, 0, 0, 360, (60, 15, 20), -1, cv2.LINE_AA)
    return out


def _talking_video(path: Path, rgb: np.ndarray, audio: np.ndarray, delay_frames: int = 0) -> Path:
    """A crude talking head made without the renderer: the jaw drops with the sound's amplitude."""
    frames = int(np.ceil(len(audio) / SAMPLE_RATE * FPS))
    points = analyze_image(rgb).faces[0].landmarks
    mouth_width = float(np.linalg.norm(points[lm.MOUTH_CORNER_LEFT, :2] - points[lm.MOUTH_CORNER_RIGHT, :2]))
    drive = _mouth_drive(audio, frames)
    if delay_frames:
        drive = np.concatenate([np.zeros(delay_frames), drive[:-delay_frames]])
    height, width = rgb.shape[:2]
    with VideoEncoder(path, width, height, FPS, audio, SAMPLE_RATE) as encoder:
        for opening in drive:
            encoder.write(_open_mouth(rgb, points, 0.45 * mouth_width * float(opening)))
    return path


def test_a_still_photo_with_speech_scores_no_lip_sync(still_video: Path) -> None:
    report = evaluate_video(still_video)
    assert report.tracked > 0.95
    assert abs(report.lip_sync_r) < 0.2
    assert abs(report.best_lag_r) < 0.2
    assert not report.checks()["lip_sync_r"]
    assert report.mouth_silence == pytest.approx(report.mouth_speech, abs=0.01)
    assert report.blinks == 0
    assert report.head_rotation < 1.0 and report.head_translation < 0.01
    assert not report.checks()["head_moves"]
    # The clip has pauses before and after the speech, and speech in between.
    assert report.silence_frames >= 10 and report.speech_frames >= 30


def test_a_mouth_that_follows_the_sound_scores_high_at_lag_zero(
    tmp_path: Path, astronaut_rgb: np.ndarray, english_samples: np.ndarray
) -> None:
    report = evaluate_video(_talking_video(tmp_path / "talk.mp4", astronaut_rgb, english_samples))
    assert report.lip_sync_r >= 0.6
    assert abs(report.best_lag) <= 1
    assert report.checks()["lip_sync_r"] and report.checks()["best_lag"]
    assert report.mouth_speech > report.mouth_silence + 0.05
    assert report.checks()["mouth_rests_in_silence"]


def test_a_late_mouth_is_caught_at_its_lag(
    tmp_path: Path, astronaut_rgb: np.ndarray, english_samples: np.ndarray
) -> None:
    report = evaluate_video(_talking_video(tmp_path / "late.mp4", astronaut_rgb, english_samples, 3))
    assert report.best_lag == 3
    assert report.best_lag_r > report.lip_sync_r + 0.1
    assert not report.checks()["best_lag"]


@pytest.fixture(scope="module")
def duo_video(generator_dir: Path, duo_photo_path: Path) -> Path:
    from generator.intake import load_image

    rgb = load_image(duo_photo_path)
    path = generator_dir / "duo_still.mp4"
    with VideoEncoder(
        path, rgb.shape[1], rgb.shape[0], FPS, np.zeros(SAMPLE_RATE // 2, np.float32), 16000
    ) as enc:
        for _ in range(12):
            enc.write(rgb)
    return path


def test_face_picks_one_of_two_faces_left_to_right(duo_video: Path) -> None:
    left = evaluate_video(duo_video, face=0)
    right = evaluate_video(duo_video, face=1)
    assert (left.face, right.face) == (0, 1)
    assert left.tracked == right.tracked == 1.0
    # The twins are mirror images: the same smile, measured on each face separately.
    assert left.mouth_first_frame == pytest.approx(right.mouth_first_frame, rel=0.25)


def test_a_face_the_video_lacks_is_not_found(duo_video: Path) -> None:
    with pytest.raises(GeneratorError) as caught:
        evaluate_video(duo_video, face=2)
    assert caught.value.code == ErrorCode.FACE_NOT_FOUND


def test_lagged_r_pairs_the_mouth_with_earlier_sound() -> None:
    rng = np.random.default_rng(1)
    sound = rng.standard_normal(200)
    mouth = np.concatenate([np.zeros(2), sound[:-2]])  # the mouth shows the sound two frames late
    assert _lagged_r(mouth, sound, 2) == pytest.approx(1.0)
    assert abs(_lagged_r(mouth, sound, 0)) < 0.3
    assert _lagged_r(np.full(200, 0.1), sound, 0) == 0.0  # a mouth that never moves


def test_blinks_are_counted_as_events() -> None:
    ear = np.full(100, 0.3)
    ear[10:14] = 0.05  # one blink over four frames
    ear[50:52] = 0.1
    ear[54:56] = 0.1  # a double blink counts twice
    ear[80] = np.nan  # a frame the mesh missed is not a blink
    assert _blink_onsets(ear) == [10, 50, 54]


def test_command_line_prints_json(duo_video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(duo_video), "--json", "--face", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["face"] == 1 and report["frames"] == 12
    assert report["lip_sync_r"] == 0.0 and report["checks"]["lip_sync_r"] is False
    # --check turns a missed quality bar into a failing exit status.
    assert main([str(duo_video), "--check"]) == 1


def test_command_line_reports_a_missing_face_in_one_line(
    duo_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(duo_video), "--face", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: FACE_NOT_FOUND") and "\n" not in err


# --- the viseme report -----------------------------------------------------------------------------


def _measured(gap: list[float], width: list[float]) -> EvaluationReport:
    """A report as evaluate_video fills it: 25 fps, every frame loud enough to count as speech."""
    n = len(gap)
    return EvaluationReport(
        path="clip.mp4", face=0, frames=n, fps=25.0, duration=n / 25, tracked=1.0, lip_sync_r=0.0,
        lip_sync_r_speech=0.0, best_lag=0, best_lag_r=0.0, r_by_lag={}, mouth_first_frame=gap[0],
        mouth_silence=0.0, mouth_speech=0.0, mouth_silence_motion=0.0, silence_frames=0, speech_frames=n,
        blinks=0, blink_times=[], head_translation=0.0, head_rotation=0.0, lip_gap=gap, mouth_width=width,
        loudness_db=[-10.0] * n,
    )  # fmt: skip


def test_viseme_report_measures_each_class_against_the_resting_mouth() -> None:
    # 1 s rest, 1 s spread lips, 1 s pursed lips, 1 s wide open jaw; two closures inside the /a/.
    gap = [0.02] * 25 + [0.10] * 25 + [0.12] * 25 + [0.30] * 25
    width = [0.70] * 25 + [0.80] * 25 + [0.56] * 25 + [0.66] * 25
    gap[80] = 0.01  # lips meet for the first m
    spans = [
        LabelledSpan(1.0, 2.0, "spread"),
        LabelledSpan(2.0, 3.0, "u"),
        LabelledSpan(3.0, 4.0, "open"),
        LabelledSpan(3.2, 3.24, "m"),  # frame 80: seen
        LabelledSpan(3.6, 3.64, "b"),  # frame 90: the lips stay apart
    ]

    report = evaluate_visemes(_measured(gap, width), spans)

    assert report.spread_vs_round == pytest.approx((0.80 - 0.56) / 0.70)
    assert report.open_vs_close == pytest.approx((24 * 0.30 + 0.01) / 25 / 0.10)  # the m counts too
    assert (report.closures, report.closures_seen) == (2, 1)
    assert report.checks() == {"spread_vs_round": True, "open_vs_close": True, "closures_seen": False}


def test_phoneme_timelines_are_classed_by_their_mouth_shape() -> None:
    assert [phoneme_class(p) for p in ("ˈiː", "uː", "ˈɑː", "m", "p", "s", "ˈaɪ", "")] == [
        "spread", "round", "open", "bilabial", "bilabial", None, None, None,
    ]  # fmt: skip


def test_cli_adds_the_viseme_report_and_rejects_a_broken_spans_file(
    still_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spans = tmp_path / "spans.json"
    spans.write_text(
        json.dumps(
            [{"start": 0.3, "end": 1.5, "label": "spread"}, {"start": 0.5, "end": 0.6, "phoneme": "m"}]
        )
    )
    assert main([str(still_video), "--spans", str(spans), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["visemes"]["closures"] == 1 and "spread" in out["visemes"]["width"]

    spans.write_text('[{"begin": 1}]')
    assert main([str(still_video), "--spans", str(spans)]) == 2
