"""Stage 6: the MP4 plays inline in Telegram, and its sound neither leads nor lags the picture."""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from generator.encode import VideoEncoder, make_thumbnail, probe
from generator.intake import load_audio

FPS = 25


def _encode(
    path: Path, frames: list[np.ndarray] | int, audio: np.ndarray, rate: int, size=(320, 240)
) -> Path:
    width, height = size
    with VideoEncoder(path, width, height, FPS, audio, rate) as encoder:
        if isinstance(frames, int):
            frames = [np.full((height, width, 3), (i * 7) % 256, np.uint8) for i in range(frames)]
        for frame in frames:
            encoder.write(frame)
    return path


def _click_clip(path: Path, at_frame: int, frames: int = 50, rate: int = 16000) -> Path:
    """Black frames with a white flash at `at_frame` and a click of sound at the same instant."""
    audio = np.zeros(frames * rate // FPS, np.float32)
    start = at_frame * rate // FPS
    audio[start : start + rate // 100] = 0.8  # a 10 ms click
    pictures = [np.zeros((240, 320, 3), np.uint8) for _ in range(frames)]
    pictures[at_frame][:] = 255
    return _encode(path, pictures, audio, rate)


def test_output_is_h264_yuv420p_aac_mp4_with_index_first(tmp_path: Path) -> None:
    path = _encode(tmp_path / "out.mp4", 30, np.zeros(19200, np.float32), 16000)
    info = probe(path)
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["audio_codec"] == "aac" and info["has_audio"]
    assert info["faststart"]  # moov before mdat: Telegram starts playing before the download ends
    assert (info["width"], info["height"]) == (320, 240)
    assert info["fps"] == pytest.approx(FPS)
    assert info["frames"] == 30
    with path.open("rb") as f:
        assert f.read(12)[4:8] == b"ftyp"


def test_odd_sizes_are_cropped_to_even(tmp_path: Path) -> None:
    frames = [np.zeros((241, 321, 3), np.uint8)] * 5
    path = _encode(tmp_path / "odd.mp4", frames, np.zeros(3200, np.float32), 16000, size=(321, 241))
    info = probe(path)
    assert (info["width"], info["height"]) == (320, 240)


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
def test_duration_is_the_audios_within_one_frame(tmp_path: Path, rate: int) -> None:
    seconds = 1.93  # not a whole number of frames
    audio = (0.1 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32)
    frames = int(np.ceil(seconds * FPS))
    info = probe(_encode(tmp_path / "d.mp4", frames, audio, rate))
    assert abs(info["duration"] - seconds) <= 1 / FPS
    assert abs(info["audio_duration"] - info["video_duration"]) <= 1 / FPS


def test_audio_is_cut_or_padded_to_the_frames_written(tmp_path: Path) -> None:
    long_audio = np.full(3 * 16000, 0.1, np.float32)
    info = probe(_encode(tmp_path / "cut.mp4", 25, long_audio, 16000))
    assert info["duration"] == pytest.approx(1.0, abs=1 / FPS)

    short_audio = np.full(8000, 0.1, np.float32)
    path = _encode(tmp_path / "pad.mp4", 50, short_audio, 16000)
    assert probe(path)["duration"] == pytest.approx(2.0, abs=1 / FPS)
    decoded, _ = load_audio(path)
    assert np.abs(decoded[16000:]).max() < 0.02  # padded with silence, not noise or repeats


@pytest.mark.parametrize("at_frame", [0, 1, 20, 37])
def test_sound_and_picture_start_together(tmp_path: Path, at_frame: int) -> None:
    path = _click_clip(tmp_path / f"click{at_frame}.mp4", at_frame)
    # The picture: the first bright frame and its presentation time.
    with av.open(str(path)) as container:
        flash_time = next(
            float(frame.time)
            for frame in container.decode(video=0)
            if frame.to_ndarray(format="gray").mean() > 128
        )
    assert flash_time == pytest.approx(at_frame / FPS, abs=1e-3)
    # The sound, decoded the way a player does (the encoder's priming removed by the edit list).
    audio, _ = load_audio(path)
    click_time = int(np.argmax(np.abs(audio) > 0.2)) / 16000
    # Within one frame is the bar; the encoder holds it to a few milliseconds.
    assert click_time == pytest.approx(flash_time, abs=0.005)


def test_priming_is_under_one_frame_even_for_players_ignoring_edit_lists(tmp_path: Path) -> None:
    path = _click_clip(tmp_path / "priming.mp4", 10)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        first = next(container.demux(stream))
        # AAC's encoder delay, stored as a negative start time: 1024 samples at 48 kHz = 21 ms.
        priming = -float(first.pts * stream.time_base)
    assert 0 <= priming < 1 / FPS


def test_an_error_while_writing_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    with (
        pytest.raises(RuntimeError),
        VideoEncoder(path, 64, 64, FPS, np.zeros(1600, np.float32), 16000) as enc,
    ):
        enc.write(np.zeros((64, 64, 3), np.uint8))
        raise RuntimeError("render failed")
    assert not path.exists()


def test_a_frame_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    with VideoEncoder(tmp_path / "x.mp4", 64, 64, FPS, np.zeros(1600, np.float32), 16000) as encoder:
        with pytest.raises(ValueError):
            encoder.write(np.zeros((32, 64, 3), np.uint8))
        encoder.write(np.zeros((64, 64, 3), np.uint8))


def test_colours_survive_encoding(tmp_path: Path, astronaut_rgb: np.ndarray) -> None:
    path = _encode(
        tmp_path / "colour.mp4", [astronaut_rgb] * 3, np.zeros(1920, np.float32), 16000, (512, 512)
    )
    with av.open(str(path)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(first - astronaut_rgb).mean() < 4
    # The colour matrix is written down, so an HD player does not assume BT.709 and tint the skin.
    assert probe(path)["colorspace"] == 6


def test_thumbnail_is_a_small_jpeg_with_the_frames_shape(astronaut_rgb: np.ndarray) -> None:
    wide = np.concatenate([astronaut_rgb, astronaut_rgb], axis=1)  # 1024x512
    jpeg = make_thumbnail(wide)
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    assert image.size == (320, 160)
    assert len(jpeg) < 200_000


def test_a_still_picture_keeps_its_quality_through_the_clip(
    tmp_path: Path, astronaut_rgb: np.ndarray
) -> None:
    # Most of a talking photo does not move; without rate control that sees this, later frames of
    # the unmoving parts slowly smear away from the sharp first frame.
    path = _encode(
        tmp_path / "still.mp4", [astronaut_rgb] * 75, np.zeros(48000, np.float32), 16000, (512, 512)
    )
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]
    assert max(np.abs(frame - frames[0]).mean() for frame in frames) < 0.5


def test_the_same_frames_always_encode_to_the_same_stream(tmp_path: Path, astronaut_rgb: np.ndarray) -> None:
    # A render is reproducible for its seed only if the encoder is: a moving picture (B-frames and
    # macroblock-tree at work) encoded several times in one process gives one stream, every time.
    small = cv2.resize(astronaut_rgb, (192, 192), interpolation=cv2.INTER_AREA)
    pictures = []
    for i in range(40):
        shift = np.float32([[1, 0, 3 * np.sin(i / 5)], [0, 1, 2 * np.cos(i / 7)]])
        pictures.append(cv2.warpAffine(small, shift, (192, 192), borderMode=cv2.BORDER_REFLECT101))
    streams = []
    for n in range(4):
        path = _encode(tmp_path / f"{n}.mp4", pictures, np.zeros(25600, np.float32), 16000, (192, 192))
        with av.open(str(path)) as container:
            streams.append([bytes(packet) for packet in container.demux(video=0)])
    assert all(stream == streams[0] for stream in streams[1:])


def test_a_mouth_shut_for_one_frame_is_coded_as_its_own_picture(
    tmp_path: Path, astronaut_rgb: np.ndarray
) -> None:
    # Lips that meet for one frame between open ones (an m, b or p): as a B-frame, x264 codes that
    # frame mostly from its open-mouthed neighbours; flagged, it is a P-frame, closer to what was
    # drawn (measured: 7.4-7.8 vs 8.1-8.8 mean error on the mouth, over six frame positions).
    small = cv2.resize(astronaut_rgb, (256, 256), interpolation=cv2.INTER_AREA)
    shut = 6  # a B-frame position in x264's fixed pattern
    pictures = []
    for i in range(25):
        picture = small.copy()
        if i != shut:
            cv2.ellipse(picture, (128, 160), (18, 8), 0, 0, 360, (40, 10, 15), -1, cv2.LINE_AA)
        move = np.float32([[1, 0, 2 * np.sin(i / 5)], [0, 1, 1.5 * np.cos(i / 7)]])
        pictures.append(cv2.warpAffine(picture, move, (256, 256), borderMode=cv2.BORDER_REFLECT101))
    mouth = (slice(148, 173), slice(106, 151))
    errors, types = [], []
    for flagged in (False, True):
        path = tmp_path / f"flagged{flagged}.mp4"
        with VideoEncoder(path, 256, 256, FPS, np.zeros(16000, np.float32), 16000) as encoder:
            for i, picture in enumerate(pictures):
                encoder.write(picture, reference=flagged and i == shut)
        with av.open(str(path)) as container:
            decoded = list(container.decode(video=0))
        types.append(decoded[shut].pict_type)
        drawn = pictures[shut][mouth].astype(int)
        errors.append(np.abs(decoded[shut].to_ndarray(format="rgb24")[mouth].astype(int) - drawn).mean())

    assert types == [av.video.frame.PictureType.B, av.video.frame.PictureType.P]
    assert errors[1] < errors[0], errors
