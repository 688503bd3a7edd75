"""Stage 1: every photo and recording a user can send decodes the same way; everything else is refused
with the code the bot turns into a message."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image

import generator.__main__ as cli
from generator.intake import MAX_DECODED_SECONDS, SAMPLE_RATE, fit_size, load_audio, load_image
from generator.types import ErrorCode, GeneratorError
from tests.generator.media import (
    ffconcat_script,
    flac_claiming,
    hls_playlist,
    jpeg_bytes,
    tone,
    wav_bytes,
    write_audio,
)

# --- photos ---------------------------------------------------------------------------------------


def test_jpeg_path_and_bytes_decode_to_the_same_rgb_pixels(astronaut_path: Path) -> None:
    from_path = load_image(astronaut_path)
    from_bytes = load_image(astronaut_path.read_bytes())
    assert from_path.shape == (512, 512, 3)
    assert from_path.dtype == np.uint8
    assert np.array_equal(from_path, from_bytes)


def test_png_and_webp_decode_like_the_original(astronaut_rgb: np.ndarray, tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    Image.fromarray(astronaut_rgb).save(png)
    assert np.array_equal(load_image(png), astronaut_rgb)
    webp = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(webp, format="WEBP", quality=90)
    decoded = load_image(webp.getvalue()).astype(int)
    assert np.abs(decoded - astronaut_rgb).mean() < 4


def test_exif_orientation_turns_the_photo_upright() -> None:
    # A phone stores a portrait shot as landscape pixels plus "rotate 90° clockwise to display".
    stored = np.zeros((100, 200, 3), np.uint8)
    stored[:20, :20] = (255, 0, 0)  # red square at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(stored).save(out, format="JPEG", quality=95, exif=exif)
    upright = load_image(out.getvalue())
    assert upright.shape == (200, 100, 3)
    # After turning clockwise the stored top-left corner is at the top-right.
    assert upright[5, 95, 0] > 200 and upright[5, 95, 1] < 60
    assert upright[5, 5, 0] < 60


def test_transparency_is_flattened_on_white() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:5] = (0, 0, 255, 255)  # opaque blue on top, fully transparent below
    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, format="PNG")
    rgb = load_image(out.getvalue())
    assert rgb.shape == (10, 10, 3)
    assert tuple(rgb[2, 2]) == (0, 0, 255)
    assert tuple(rgb[8, 8]) == (255, 255, 255)


def test_grayscale_and_16_bit_photos_become_rgb() -> None:
    gray = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(gray, mode="L").save(out, format="PNG")
    rgb = load_image(out.getvalue())
    assert rgb.shape == (8, 8, 3)
    assert np.array_equal(rgb[..., 0], gray) and np.array_equal(rgb[..., 2], gray)

    deep = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(deep).save(out, format="PNG")
    rgb = load_image(out.getvalue())
    # 16-bit values are scaled, not clipped: the brightest pixel is near white, the darkest black.
    assert rgb[-1, -1, 0] > 230 and rgb[0, 0, 0] == 0


def test_photo_with_too_many_pixels_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("1", (8000, 6000)).save(path)  # 48 MP of one bit each: a small file, a huge photo
    with pytest.raises(GeneratorError) as caught:
        load_image(path)
    assert caught.value.code == ErrorCode.IMAGE_TOO_LARGE
    assert caught.value.details == {"width": 8000, "height": 6000, "limit": 40_000_000}


def test_decompression_bomb_beyond_pillows_own_limit_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (15000, 15000)).save(path)  # 225 MP: Pillow itself refuses to open it
    with pytest.raises(GeneratorError) as caught:
        load_image(path)
    assert caught.value.code == ErrorCode.IMAGE_TOO_LARGE


def test_pixel_limit_is_a_parameter(astronaut_path: Path) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_image(astronaut_path, max_pixels=512 * 511)
    assert caught.value.code == ErrorCode.IMAGE_TOO_LARGE
    assert load_image(astronaut_path, max_pixels=512 * 512).shape == (512, 512, 3)


@pytest.mark.parametrize(
    "fixture", ["truncated_jpeg_path", "not_an_image_path", "corrupt_audio_path", "english_speech"]
)
def test_files_that_are_not_whole_photos_are_unreadable(fixture: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_image(request.getfixturevalue(fixture))
    assert caught.value.code == ErrorCode.IMAGE_UNREADABLE


@pytest.mark.parametrize("source", [b"", b"\xff\xd8\xff", "/nonexistent/photo.jpg"])
def test_empty_or_missing_photos_are_unreadable(source: bytes | str) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_image(source)
    assert caught.value.code == ErrorCode.IMAGE_UNREADABLE


# --- recordings -------------------------------------------------------------------------------------


def test_voice_note_decodes_to_16khz_mono_float(
    english_speech: Path, english_pcm: tuple[np.ndarray, int]
) -> None:
    samples, trimmed = load_audio(english_speech)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert not trimmed
    expected_seconds = len(english_pcm[0]) / english_pcm[1]
    assert abs(len(samples) / SAMPLE_RATE - expected_seconds) < 0.03
    assert np.abs(samples).max() <= 1.0
    assert np.sqrt(np.mean(samples**2)) > 0.01  # the speech survived, not silence


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3", "m4a"])
def test_every_container_gives_the_same_speech(
    kind: str, english_speech_files: dict[str, Path], english_pcm: tuple[np.ndarray, int]
) -> None:
    reference, rate = english_pcm
    samples, _ = load_audio(english_speech_files[kind])
    # MP3 and AAC add up to a few dozen milliseconds of encoder padding.
    assert abs(len(samples) / SAMPLE_RATE - len(reference) / rate) < 0.08
    ref_rms = np.sqrt(np.mean(reference**2))
    assert abs(np.sqrt(np.mean(samples**2)) - ref_rms) < 0.2 * ref_rms


def test_sound_track_of_a_video_is_read(speech_video_path: Path, english_pcm: tuple[np.ndarray, int]) -> None:
    samples, _ = load_audio(speech_video_path)
    assert abs(len(samples) / SAMPLE_RATE - len(english_pcm[0]) / english_pcm[1]) < 0.08
    assert np.sqrt(np.mean(samples**2)) > 0.01


def test_stereo_is_mixed_down_and_rate_is_a_parameter(tmp_path: Path) -> None:
    import av

    path = tmp_path / "stereo.wav"
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)).astype(np.float32)
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=44100)
        stream.layout = "stereo"
        pcm = (np.stack([tone, np.zeros_like(tone)]).T.reshape(1, -1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    samples, _ = load_audio(path, sample_rate=8000)
    assert abs(len(samples) - 8000) <= 64
    assert samples.ndim == 1
    assert 0.1 < np.abs(samples).max() < 0.5  # the tone, half as loud once mixed with a silent channel


def test_long_audio_is_trimmed_to_the_limit(long_speech_path: Path) -> None:
    samples, trimmed = load_audio(long_speech_path, max_seconds=15.0)
    assert trimmed
    assert len(samples) == 15 * SAMPLE_RATE


def test_long_audio_without_trimming_is_too_long(long_speech_path: Path) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_audio(long_speech_path, max_seconds=15.0, trim=False)
    assert caught.value.code == ErrorCode.AUDIO_TOO_LONG
    assert caught.value.details["limit_seconds"] == 15.0


def test_audio_within_the_limit_is_untouched(english_speech: Path) -> None:
    full, _ = load_audio(english_speech)
    samples, trimmed = load_audio(english_speech, max_seconds=15.0, trim=False)
    assert not trimmed
    assert np.array_equal(samples, full)


@pytest.mark.parametrize(
    "fixture", ["corrupt_audio_path", "truncated_audio_path", "not_an_image_path", "astronaut_path"]
)
def test_files_without_decodable_sound_are_unreadable(fixture: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_audio(request.getfixturevalue(fixture))
    assert caught.value.code == ErrorCode.AUDIO_UNREADABLE


@pytest.mark.parametrize("source", [b"", b"OggS", "/nonexistent/voice.ogg"])
def test_empty_or_missing_recordings_are_unreadable(source: bytes | str) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_audio(source)
    assert caught.value.code == ErrorCode.AUDIO_UNREADABLE


def test_recording_bytes_decode_like_the_file(english_speech: Path) -> None:
    assert np.array_equal(load_audio(english_speech.read_bytes())[0], load_audio(english_speech)[0])


def test_write_audio_helper_round_trips_a_silent_file(tmp_path: Path) -> None:
    # Guards the fixtures themselves: a silent voice note decodes to (near) silence of the same length.
    path = write_audio(
        tmp_path / "s.ogg", np.zeros(48000, np.float32), 48000, codec="libopus", container="ogg"
    )
    samples, _ = load_audio(path)
    assert abs(len(samples) - SAMPLE_RATE) < 400 and np.abs(samples).max() < 1e-3


# --- memory and length budgets, decided from the header -------------------------------------------

#: Runs in a fresh interpreter: analyses a small photo (imports, models), then the one under test,
#: and reports how much the peak resident memory grew for it.
_PEAK_RSS_CHILD = """
import json, resource, sys
from generator.analysis import analyze
from generator.types import GeneratorError
analyze(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    result = analyze(sys.argv[1])
    outcome = [result.width, result.height]
except GeneratorError as exc:
    outcome = str(exc.code)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "grew_mb": (after - before) / 1024}))
"""


def _peak_rss_growth(photo: Path, warm_up: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_CHILD, str(photo), str(warm_up)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_16_bit_png_bomb_is_analysed_downscaled_in_bounded_memory(tmp_path: Path) -> None:
    # The bomb: ~90 KB on disk, 6300x6300 pixels of 16-bit gray. Before the header budget
    # and the band-wise 16-to-8-bit conversion, load_image + analyze grew the process by ~1 GB.
    deep = np.zeros((6300, 6300), np.uint16)
    deep[::7, ::5] = 40000
    bomb = tmp_path / "bomb.png"
    Image.fromarray(deep).save(bomb, optimize=True)
    assert bomb.stat().st_size < 200_000
    small = tmp_path / "small.png"
    Image.new("RGB", (64, 64)).save(small)
    report = _peak_rss_growth(bomb, small)
    assert isinstance(report["grew_mb"], float) and report["grew_mb"] < 300, report
    assert report["outcome"] == [3150, 3150]  # halved to fit the longest decoded side, not refused


def test_16_bit_bomb_keeps_its_picture_when_scaled_down() -> None:
    deep = np.zeros((5000, 5000), np.uint16)
    deep[:, 2500:] = 65535  # right half white
    out = io.BytesIO()
    Image.fromarray(deep).save(out, format="PNG")
    rgb = load_image(out.getvalue())
    assert rgb.shape == (2500, 2500, 3)
    assert rgb[100, 100].tolist() == [0, 0, 0] and rgb[100, 2400].tolist() == [255, 255, 255]


def test_photo_over_the_decode_memory_budget_is_refused_from_its_header() -> None:
    # 36 MP is under the pixel limit, but a palette image must become RGBA at full size before it
    # can be scaled (5 bytes a pixel: 180 MB), over the 160 MB budget. The file is tiny.
    out = io.BytesIO()
    Image.new("P", (6000, 6000)).save(out, format="PNG")
    with pytest.raises(GeneratorError) as caught:
        load_image(out.getvalue())
    assert caught.value.code == ErrorCode.IMAGE_TOO_LARGE
    assert caught.value.details["mode"] == "P"


def test_large_jpeg_is_decoded_at_a_reduced_scale() -> None:
    photo = np.zeros((4000, 6000, 3), np.uint8)
    photo[:, 3000:] = (200, 30, 30)
    rgb = load_image(jpeg_bytes(photo, quality=80))
    # libjpeg's DCT scaling halves it while decoding: never the full 24 MP in memory.
    assert rgb.shape == (2000, 3000, 3)
    assert rgb[1000, 2900, 0] > 180 and rgb[1000, 100, 0] < 20


def test_large_png_is_scaled_by_a_whole_factor_with_its_aspect() -> None:
    out = io.BytesIO()
    Image.new("RGB", (9000, 1000), (10, 200, 30)).save(out, format="PNG")
    rgb = load_image(out.getvalue())
    assert rgb.shape == (334, 3000, 3)  # a third: the smallest whole factor under 4096 pixels
    assert rgb[100, 2000].tolist() == [10, 200, 30]


def test_orientation_is_applied_after_scaling_down() -> None:
    stored = np.zeros((100, 200, 3), np.uint8)
    stored[:20, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(stored).save(out, format="PNG", exif=exif)
    upright = load_image(out.getvalue(), max_side=100)
    assert upright.shape == (100, 50, 3)
    assert upright[3, 47, 0] > 200 and upright[3, 3, 0] < 60


@pytest.mark.parametrize("mode", ["F", "I"])
def test_float_and_32_bit_photos_become_8_bit(mode: str) -> None:
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    values = ramp if mode == "F" else (ramp * 65535).astype(np.int32)
    out = io.BytesIO()
    Image.fromarray(values, mode=mode).save(out, format="TIFF")
    rgb = load_image(out.getvalue())
    assert rgb.shape == (8, 64, 3)
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and 100 < rgb[0, 32, 0] < 160


def test_header_claiming_fifteen_minutes_is_too_long_before_decoding(tmp_path: Path) -> None:
    # The header claims 15 minutes, the file holds one second: refused from the header alone
    # (decoding would have found one second and accepted it, as it does with a truthful header).
    honest = flac_claiming(tmp_path / "a.flac", tone(1.0, 16000), 16000, claimed_samples=16000)
    assert abs(len(load_audio(honest, max_seconds=15.0, trim=False)[0]) - SAMPLE_RATE) < 100
    claimed = flac_claiming(tmp_path / "b.flac", tone(1.0, 16000), 16000, claimed_samples=15 * 60 * 16000)
    with pytest.raises(GeneratorError) as caught:
        load_audio(claimed, max_seconds=15.0, trim=False)
    assert caught.value.code == ErrorCode.AUDIO_TOO_LONG


def test_fifteen_minute_recording_is_trimmed_without_decoding_it_all() -> None:
    long = wav_bytes(tone(15 * 60, 8000, level=0.3), 8000)
    samples, trimmed = load_audio(long, max_seconds=15.0)
    assert trimmed and len(samples) == 15 * SAMPLE_RATE


def test_recording_without_a_limit_is_still_bounded() -> None:
    longer = wav_bytes(tone(MAX_DECODED_SECONDS + 30, 4000, level=0.3), 4000)
    with pytest.raises(GeneratorError) as caught:
        load_audio(longer)
    assert caught.value.code == ErrorCode.AUDIO_TOO_LONG
    assert caught.value.details["limit_seconds"] == MAX_DECODED_SECONDS


def test_zero_second_recording_has_no_speech() -> None:
    with pytest.raises(GeneratorError) as caught:
        load_audio(wav_bytes(np.zeros(0, np.float32), 16000))
    assert caught.value.code == ErrorCode.NO_SPEECH


# --- files that name other files -------------------------------------------------------------------


@pytest.fixture
def other_users_recording(tmp_path: Path, english_pcm: tuple[np.ndarray, int]) -> Path:
    """Another job's voice note in the shared data folder: `<data>/job-a/track0.ogg`."""
    folder = tmp_path / "job-a"
    folder.mkdir()
    samples, rate = english_pcm
    return write_audio(folder / "track0.ogg", samples, rate, codec="libopus", container="ogg")


def _own_job(tmp_path: Path) -> Path:
    folder = tmp_path / "job-b"
    folder.mkdir(exist_ok=True)
    return folder


def _assert_refused_as_unreadable(source: Path | bytes) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_audio(source)
    assert caught.value.code == ErrorCode.AUDIO_UNREADABLE
    assert "format we accept" in caught.value.message


def test_hls_playlist_naming_another_users_recording_is_refused(
    other_users_recording: Path, tmp_path: Path
) -> None:
    voice = _own_job(tmp_path) / "voice.m3u8"
    voice.write_bytes(hls_playlist("../job-a/track0.ogg"))
    _assert_refused_as_unreadable(voice)
    _assert_refused_as_unreadable(voice.read_bytes())


def test_ffconcat_script_named_like_a_voice_note_is_refused(other_users_recording: Path) -> None:
    # The concat demuxer is chosen from the content, so the .ogg name does not protect anything.
    voice = other_users_recording.parent / "voice.ogg"
    voice.write_bytes(ffconcat_script("track0.ogg"))
    _assert_refused_as_unreadable(voice)


@pytest.mark.parametrize("name", ["voice.ogg", "voice.mp3", "voice.m4a", "voice.m3u", "voice.wav"])
def test_playlist_disguised_with_an_audio_extension_is_refused(
    name: str, other_users_recording: Path, tmp_path: Path
) -> None:
    voice = _own_job(tmp_path) / name
    voice.write_bytes(hls_playlist("../job-a/track0.ogg"))
    _assert_refused_as_unreadable(voice)


def test_mp3_whose_id3_tag_hides_a_playlist_is_refused(other_users_recording: Path, tmp_path: Path) -> None:
    # A valid ID3v2 header followed by a playlist instead of MPEG frames.
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10
    voice = _own_job(tmp_path) / "voice.mp3"
    voice.write_bytes(id3 + hls_playlist("../job-a/track0.ogg"))
    _assert_refused_as_unreadable(voice)


def test_cli_render_with_a_playlist_does_not_speak_another_recording(
    astronaut_path: Path, other_users_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The reproduction: `python -m generator render photo.png voice.m3u8`.
    voice = _own_job(tmp_path) / "voice.m3u8"
    voice.write_bytes(hls_playlist("../job-a/track0.ogg"))
    out = tmp_path / "out.mp4"
    assert cli.main(["render", str(astronaut_path), str(voice), "-o", str(out)]) == 1
    assert "error: AUDIO_UNREADABLE: " in capsys.readouterr().err
    assert not out.exists()


def test_special_files_are_not_read(tmp_path: Path) -> None:
    # /dev/zero would never end; a folder is not a recording either.
    for source in ("/dev/zero", str(tmp_path)):
        with pytest.raises(GeneratorError) as caught:
            load_audio(source)
        assert caught.value.code == ErrorCode.AUDIO_UNREADABLE
        with pytest.raises(GeneratorError) as caught:
            load_image(source)
        assert caught.value.code == ErrorCode.IMAGE_UNREADABLE


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        pytest.param(*case, id=case[0])
        for case in [
            ("eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"),
            ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'),
            ("pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
            (
                "psd",
                b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03\x00\x00\x00\x0a\x00\x00\x00\x0a\x00\x08\x00\x03",
            ),
            ("ppm", b"P6\n2 2\n255\n" + b"\x00" * 12),
        ]
    ],
)
def test_image_formats_outside_the_allowlist_are_refused_before_decoding(name: str, payload: bytes) -> None:
    # Pillow can read PPM and PSD and, with Ghostscript, EPS; none of them is a photo a phone sends.
    with pytest.raises(GeneratorError) as caught:
        load_image(payload)
    assert caught.value.code == ErrorCode.IMAGE_UNREADABLE
    assert "format we accept" in caught.value.message


# --- output size ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "limit", "expected"),
    [
        ((512, 512), 1280, (512, 512)),  # never upscaled
        ((1920, 1080), 1280, (1280, 720)),
        ((1080, 1920), 1280, (720, 1280)),
        ((4032, 3024), 1280, (1280, 960)),
        ((333, 501), 1280, (332, 500)),  # odd sides rounded down to even
    ],
)
def test_fit_size_keeps_aspect_with_even_sides(
    size: tuple[int, int], limit: int, expected: tuple[int, int]
) -> None:
    assert fit_size(*size, limit) == expected


@given(st.integers(16, 8000), st.integers(16, 8000), st.integers(64, 2000))
def test_fit_size_is_even_within_limit_and_aspect_kept(width: int, height: int, limit: int) -> None:
    assume(max(width, height) / min(width, height) <= 4)  # photos, not banners
    out_w, out_h = fit_size(width, height, limit)
    assert out_w % 2 == 0 and out_h % 2 == 0
    assert max(out_w, out_h) <= limit
    assert out_w <= width and out_h <= height  # never upscaled
    # Each side is the scaled side rounded down by less than one even step.
    scale = min(1.0, limit / max(width, height))
    assert (width * scale - 2) / (height * scale) <= out_w / out_h <= width * scale / (height * scale - 2)


def test_jpeg_bytes_helper_makes_a_readable_photo(astronaut_rgb: np.ndarray) -> None:
    assert load_image(jpeg_bytes(astronaut_rgb)).shape == (512, 512, 3)


def test_heic_photos_from_iphones_decode(astronaut_rgb: np.ndarray) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")  # optional: HEIC support where it is installed
    heic = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(astronaut_rgb)).save(heic, quality=90)
    decoded = load_image(heic.getvalue()).astype(int)
    assert decoded.shape == (512, 512, 3)
    assert np.abs(decoded - astronaut_rgb).mean() < 6
