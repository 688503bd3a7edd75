"""The speech stage: the mouth follows the sound, in any language, smoothly and on time."""

from __future__ import annotations

import numpy as np
import pytest

from generator.intake import SAMPLE_RATE
from generator.speech import check_speech, track_mouth
from generator.types import ErrorCode, GeneratorError
from tests.generator.media import with_pauses

FPS = 25


def vowel(
    seconds: float, formants: tuple[float, ...], pitch: float = 140.0, level: float = 0.3
) -> np.ndarray:
    """A sung vowel: a harmonic series shaped by formant peaks, as a voice makes it."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out = np.zeros_like(t)
    for k in range(1, int(4000 / pitch)):
        f = k * pitch
        gain = sum(1.0 / (1.0 + ((f - fc) / 90.0) ** 2) for fc in formants)
        out += gain * np.sin(2 * np.pi * f * t + k)
    out *= level / np.max(np.abs(out))
    ramp = min(len(t) // 4, round(0.01 * SAMPLE_RATE))
    out[:ramp] *= np.linspace(0, 1, ramp)
    out[-ramp:] *= np.linspace(1, 0, ramp)
    return out.astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)


def frame_loudness_db(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS loudness over each frame's display interval, the way the evaluator hears it."""
    hop = SAMPLE_RATE // FPS
    out = np.empty(n_frames)
    for i in range(n_frames):
        chunk = audio[i * hop : (i + 1) * hop]
        out[i] = 20 * np.log10(np.sqrt(np.mean(chunk**2)) + 1e-5) if chunk.size else -100.0
    return out


def lagged_r(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    if lag > 0:
        a, b = a[lag:], b[:-lag]
    elif lag < 0:
        a, b = a[:lag], b[-lag:]
    return float(np.corrcoef(a, b)[0, 1])


def test_jaw_opens_on_syllables_and_closes_between_them() -> None:
    syllables = [silence(0.3)]
    for _ in range(5):
        syllables += [vowel(0.2, (700, 1200)), silence(0.2)]
    audio = np.concatenate(syllables)

    track = track_mouth(audio, SAMPLE_RATE, FPS)

    times = (np.arange(track.n_frames) + 0.5) / FPS
    inside = np.zeros(track.n_frames, bool)
    for k in range(5):
        start = 0.3 + 0.4 * k
        inside |= (times > start + 0.06) & (times < start + 0.14)
    gaps = np.zeros(track.n_frames, bool)
    for k in range(5):
        start = 0.5 + 0.4 * k
        gaps |= (times > start + 0.07) & (times < start + 0.13)
    assert track.jaw_open[inside].min() > 0.5
    assert track.jaw_open[gaps].max() < 0.25
    assert track.jaw_open[times < 0.15].max() < 0.05  # at rest before the first word (it may anticipate it)
    assert 0.9 < track.speech_seconds < 1.4


def test_the_mouth_is_on_time_with_real_speech(english_samples: np.ndarray) -> None:
    track = track_mouth(english_samples, SAMPLE_RATE, FPS)

    loud = frame_loudness_db(english_samples, track.n_frames)
    r = {lag: lagged_r(track.jaw_open, loud, lag) for lag in range(-3, 4)}
    assert r[0] > 0.7
    assert max(r, key=lambda lag: r[lag]) in (-1, 0, 1)


@pytest.mark.parametrize("language", ["english", "mandarin"])
def test_english_and_mandarin_both_move_the_mouth(language: str, request: pytest.FixtureRequest) -> None:
    audio = request.getfixturevalue(f"{language}_samples")

    track = track_mouth(audio, SAMPLE_RATE, FPS)
    check_speech(track)  # does not raise

    assert track.speech.mean() > 0.5
    assert np.std(track.jaw_open[track.speech]) > 0.15  # opens and closes, not a held pose
    assert track.jaw_open[track.speech].mean() > 3 * track.jaw_open[~track.speech].mean()
    assert track.jaw_open[:3].max() < 0.1  # the recording starts with a pause: mouth at rest
    assert track.lip_width.min() < -0.1 < 0.1 < track.lip_width.max()  # rounded and spread vowels
    assert (track.emphasis > 0).sum() >= 1  # stressed syllables found for nods


def test_mouth_moves_smoothly_without_frame_jitter(english_samples: np.ndarray) -> None:
    track = track_mouth(english_samples, SAMPLE_RATE, FPS)

    # Closures are crisp on purpose: the lips shut on whole frames for m, b and p and open again.
    # Everywhere else (frames not next to a closure) the jaw must follow the syllables smoothly.
    free = np.convolve(track.lips_pressed > 0.5, np.ones(3), "same") == 0
    jaw = track.jaw_open.astype(np.float64)
    step = np.abs(np.diff(jaw))[free[1:] & free[:-1]]
    # Frame-to-frame jitter (independent noise) has a second difference ~1.7x its first; syllables
    # at ~5 per second, smoothly followed, stay near 1.
    wobble = np.abs(np.diff(jaw, n=2))[free[2:] & free[1:-1] & free[:-2]]
    assert wobble.size >= 40  # most of the clip is judged
    assert wobble.mean() < 1.1 * step.mean()
    assert step.max() < 0.6


def test_rounded_and_spread_vowels_shape_the_lips() -> None:
    oo = vowel(0.5, (300, 870))  # /u/: both formants low
    ee = vowel(0.5, (270, 2290))  # /i/: second formant high
    audio = np.concatenate(
        [silence(0.3), oo, silence(0.3), ee, silence(0.3), oo, silence(0.3), ee, silence(0.3)]
    )

    track = track_mouth(audio, SAMPLE_RATE, FPS)

    times = (np.arange(track.n_frames) + 0.5) / FPS

    def during(start: float) -> np.ndarray:
        return (times > start + 0.1) & (times < start + 0.4)

    oo_frames = during(0.3) | during(1.9)
    ee_frames = during(1.1) | during(2.7)
    assert track.lip_round[oo_frames].mean() > track.lip_round[ee_frames].mean() + 0.2
    assert track.lip_width[ee_frames].mean() > track.lip_width[oo_frames].mean() + 0.3


@pytest.mark.parametrize(("voice", "text"), [("en-us", "ama"), ("cmn", "阿妈")])
def test_lips_press_for_a_hummed_m_between_vowels(voice: str, text: str) -> None:
    # "a-ma" said by espeak-ng: an open vowel, the m's nasal hum, a vowel; its own timeline says
    # where the m is.
    from bot.tts import speak_espeak_ng

    pcm, rate, timeline = speak_espeak_ng(text, voice)
    audio = with_pauses(pcm.astype(np.float32) / 32768.0, rate, 0.3)
    (m,) = [span for span in timeline if span.phoneme == "m"]

    track = track_mouth(audio, rate, FPS)

    times = (np.arange(track.n_frames) + 0.5) / FPS - 0.3
    at_m = (times > m.start - 0.04) & (times < m.end + 0.04)
    vowels = [span for span in timeline if span is not m and span.end - span.start > 0.1]
    assert track.lips_pressed[at_m].max() == 1.0
    assert track.jaw_open[at_m & (track.lips_pressed == 1.0)].max() == 0.0
    for span in vowels:  # the middle of each vowel stays open
        middle = (times > span.start + 0.04) & (times < span.end - 0.04)
        assert track.lips_pressed[middle].max() == 0.0 and track.jaw_open[middle].max() > 0.3


def test_silence_is_no_speech() -> None:
    track = track_mouth(silence(3.0), SAMPLE_RATE, FPS)

    with pytest.raises(GeneratorError) as caught:
        check_speech(track)

    assert caught.value.code is ErrorCode.NO_SPEECH
    assert caught.value.details["speech_seconds"] == 0.0


def test_steady_noise_is_no_speech() -> None:
    hiss = np.random.default_rng(1).normal(0.0, 0.05, 3 * SAMPLE_RATE).astype(np.float32)

    with pytest.raises(GeneratorError) as caught:
        check_speech(track_mouth(hiss, SAMPLE_RATE, FPS))

    assert caught.value.code is ErrorCode.NO_SPEECH
    assert caught.value.details["dynamic_range_db"] < 12.0


def test_speech_over_background_noise_is_found(english_samples: np.ndarray) -> None:
    noisy = english_samples + np.random.default_rng(2).normal(0.0, 0.01, english_samples.size).astype(
        np.float32
    )

    track = track_mouth(noisy, SAMPLE_RATE, FPS)
    check_speech(track)

    assert track.speech_seconds > 1.5
    assert track.jaw_open[:3].max() < 0.15  # the noise alone does not open the mouth


def test_track_length_follows_the_frames_asked_for(english_samples: np.ndarray) -> None:
    track = track_mouth(english_samples, SAMPLE_RATE, FPS, n_frames=40)

    assert track.n_frames == 40
    assert all(len(getattr(track, name)) == 40 for name in ("lip_width", "speech", "emphasis", "pitch"))
