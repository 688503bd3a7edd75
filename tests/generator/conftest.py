"""Photos and recordings for the generator's tests, made at test time — nothing large is committed.

Photos come from scikit-image's sample data (the astronaut is a real portrait); speech is
synthesised offline: English by piper's `joe` voice, Mandarin by espeak-ng's `cmn` voice (the
libespeak-ng that the espeakng-loader wheel ships, driven through ctypes). Recordings are stored
the way users send them: Telegram voice notes are OGG/Opus at 48 kHz mono; MP3, M4A, WAV and a
video with sound cover the other containers.

Every fixture is session-scoped and returns a path (or an array), so tests in other modules
(speech, motion, render, pipeline) can reuse them freely; `tests/generator/media.py` holds the
synthesis and file-writing helpers for tests that make their own.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from generator.intake import SAMPLE_RATE, load_audio
from tests.generator.media import (
    save_image,
    synthesize_english,
    synthesize_mandarin,
    with_pauses,
    write_audio,
)

ENGLISH_TEXT = "Hello! I am an astronaut, and I love the stars."
MANDARIN_TEXT = "大家好，我是宇航员，我爱星星。"


# --- photos ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def generator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every generated file of the session."""
    return tmp_path_factory.mktemp("generator")


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """The astronaut portrait (512x512, one frontal face), RGB uint8."""
    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_path(generator_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """The astronaut as a phone would send it: a JPEG."""
    return save_image(generator_dir / "astronaut.jpg", astronaut_rgb, quality=92)


@pytest.fixture(scope="session")
def portrait_path(generator_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """A tall crop of the astronaut (320x512), face included."""
    return save_image(generator_dir / "portrait.jpg", astronaut_rgb[:, 66:386], quality=92)


@pytest.fixture(scope="session")
def landscape_path(generator_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """A wide crop of the astronaut (512x288), face included."""
    return save_image(generator_dir / "landscape.jpg", astronaut_rgb[8:296], quality=92)


def _recolour(rgb: np.ndarray, hue_shift: int, saturation: float, brightness: float) -> np.ndarray:
    """The same photo with other colours, so faces in a composite are told apart."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue_shift) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * brightness, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def group_panels(astronaut: np.ndarray) -> list[np.ndarray]:
    """Three different-looking people: the astronaut, her mirror image warmer, a smaller cooler copy."""
    mirrored = _recolour(astronaut[:, ::-1], hue_shift=8, saturation=1.2, brightness=1.05)
    smaller = cv2.resize(_recolour(astronaut, hue_shift=170, saturation=0.7, brightness=0.95), (420, 420))
    lowered = np.full_like(astronaut, 235)
    lowered[512 - 420 :, 46:466] = smaller
    return [astronaut, mirrored, lowered]


@pytest.fixture(scope="session")
def group_photo_path(generator_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """Three faces side by side (1536x512), left to right: astronaut, mirrored warm, smaller cool."""
    return save_image(
        generator_dir / "group.jpg", np.concatenate(group_panels(astronaut_rgb), axis=1), quality=92
    )


@pytest.fixture(scope="session")
def duo_photo_path(generator_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """Two faces side by side (1024x512): the astronaut and her mirrored, warmer twin."""
    panels = group_panels(astronaut_rgb)[:2]
    return save_image(generator_dir / "duo.jpg", np.concatenate(panels, axis=1), quality=92)


@pytest.fixture(scope="session")
def no_face_path(generator_dir: Path) -> Path:
    """A photo with no person in it: scikit-image's cat."""
    return save_image(generator_dir / "cat.jpg", data.chelsea(), quality=92)


@pytest.fixture(scope="session")
def tiny_face_path(generator_dir: Path, astronaut_rgb: np.ndarray) -> Path:
    """The astronaut pasted at 220x220 into a 1600x1200 scene: a face about 45 px tall, under 3 %."""
    rng = np.random.default_rng(7)
    canvas = (rng.integers(100, 140, (1200, 1600, 3))).astype(np.uint8)
    canvas[500:720, 900:1120] = cv2.resize(astronaut_rgb, (220, 220), interpolation=cv2.INTER_AREA)
    return save_image(generator_dir / "tiny_face.jpg", canvas, quality=92)


@pytest.fixture(scope="session")
def truncated_jpeg_path(generator_dir: Path, astronaut_path: Path) -> Path:
    """The astronaut JPEG cut off half-way, as an interrupted upload leaves it."""
    path = generator_dir / "truncated.jpg"
    content = astronaut_path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


@pytest.fixture(scope="session")
def not_an_image_path(generator_dir: Path) -> Path:
    """A text file named like a photo."""
    path = generator_dir / "notes.jpg"
    path.write_text("these are not the pixels you are looking for\n" * 20)
    return path


# --- recordings -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def english_pcm() -> tuple[np.ndarray, int]:
    """English speech from piper (about 3.9 s with its pauses), samples and rate."""
    samples, rate = synthesize_english(ENGLISH_TEXT)
    return with_pauses(samples, rate), rate


@pytest.fixture(scope="session")
def mandarin_pcm() -> tuple[np.ndarray, int]:
    """Mandarin speech from espeak-ng (about 4 s with its pauses), samples and rate."""
    samples, rate = synthesize_mandarin(MANDARIN_TEXT)
    return with_pauses(samples, rate), rate


@pytest.fixture(scope="session")
def english_speech(generator_dir: Path, english_pcm: tuple[np.ndarray, int]) -> Path:
    """English speech as a Telegram voice note: OGG/Opus, 48 kHz mono."""
    return write_audio(generator_dir / "english.ogg", *english_pcm, codec="libopus", container="ogg")


@pytest.fixture(scope="session")
def mandarin_speech(generator_dir: Path, mandarin_pcm: tuple[np.ndarray, int]) -> Path:
    """Mandarin speech as a Telegram voice note: OGG/Opus, 48 kHz mono."""
    return write_audio(generator_dir / "mandarin.ogg", *mandarin_pcm, codec="libopus", container="ogg")


@pytest.fixture(scope="session")
def english_samples(english_speech: Path) -> np.ndarray:
    """The English voice note as the generator sees it: float32 mono at `intake.SAMPLE_RATE`."""
    return load_audio(english_speech)[0]


@pytest.fixture(scope="session")
def mandarin_samples(mandarin_speech: Path) -> np.ndarray:
    """The Mandarin voice note as the generator sees it: float32 mono at `intake.SAMPLE_RATE`."""
    return load_audio(mandarin_speech)[0]


@pytest.fixture(scope="session")
def english_speech_files(generator_dir: Path, english_pcm: tuple[np.ndarray, int]) -> dict[str, Path]:
    """The English speech in other containers users send: WAV, FLAC, MP3, M4A (AAC)."""
    samples, rate = english_pcm
    return {
        "wav": write_audio(generator_dir / "english.wav", samples, rate, codec="pcm_s16le", container="wav"),
        "flac": write_audio(generator_dir / "english.flac", samples, rate, codec="flac", container="flac"),
        "mp3": write_audio(generator_dir / "english.mp3", samples, rate, codec="libmp3lame", container="mp3"),
        "m4a": write_audio(generator_dir / "english.m4a", samples, rate, codec="aac", container="ipod"),
    }


@pytest.fixture(scope="session")
def speech_video_path(generator_dir: Path, english_pcm: tuple[np.ndarray, int]) -> Path:
    """A small MP4 video whose sound track is the English speech (a video note, say)."""
    from generator.encode import VideoEncoder

    samples, rate = english_pcm
    path = generator_dir / "video_note.mp4"
    frames = int(len(samples) / rate * 25)
    with VideoEncoder(path, 64, 64, 25, samples, rate) as encoder:
        for i in range(frames):
            encoder.write(np.full((64, 64, 3), i % 255, np.uint8))
    return path


@pytest.fixture(scope="session")
def silence_path(generator_dir: Path) -> Path:
    """Three seconds of room tone (noise at -60 dBFS), no speech: a voice note sent by mistake."""
    rng = np.random.default_rng(3)
    quiet = (rng.standard_normal(3 * 48000) * 1e-3).astype(np.float32)
    return write_audio(generator_dir / "silence.ogg", quiet, 48000, codec="libopus", container="ogg")


@pytest.fixture(scope="session")
def long_speech_path(generator_dir: Path, english_pcm: tuple[np.ndarray, int]) -> Path:
    """Forty seconds of English speech (the sentence repeated), longer than the 15 s limit."""
    samples, rate = english_pcm
    repeats = int(np.ceil(40 * rate / len(samples)))
    long = np.tile(samples, repeats)[: 40 * rate]
    return write_audio(generator_dir / "long.ogg", long, rate, codec="libopus", container="ogg")


@pytest.fixture(scope="session")
def corrupt_audio_path(generator_dir: Path) -> Path:
    """Random bytes named like a voice note."""
    path = generator_dir / "corrupt.ogg"
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def truncated_audio_path(generator_dir: Path, english_speech: Path) -> Path:
    """A voice note cut off inside its header: nothing playable remains."""
    path = generator_dir / "truncated.ogg"
    path.write_bytes(english_speech.read_bytes()[:60])
    return path


@pytest.fixture(scope="session")
def still_video(generator_dir: Path, astronaut_rgb: np.ndarray, english_samples: np.ndarray) -> Path:
    """The astronaut photo, unmoving, with the English speech: a lip-sync evaluator must score it ~0."""
    from generator.encode import VideoEncoder

    path = generator_dir / "still.mp4"
    frames = int(np.ceil(len(english_samples) / SAMPLE_RATE * 25))
    with VideoEncoder(path, 512, 512, 25, english_samples, SAMPLE_RATE) as encoder:
        for _ in range(frames):
            encoder.write(astronaut_rgb)
    return path
