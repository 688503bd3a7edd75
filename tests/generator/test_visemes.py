"""The mouth takes the shape of the sounds: the phoneme table, coarticulation, and rendered clips.

Rendered tests speak sentences full of one vowel (spread /i/, rounded /u/, open /a/) with voices
the tuning never heard (these sentences are not the ones the thresholds were set on), render the
astronaut at 512 px from the sound alone (the voice-note path), re-detect her face mesh on every
frame and check the issue's bars with `generator.evaluate.evaluate_visemes`. Besides espeak-ng's
own English and Mandarin voices they speak through its klatt source (the `+klatt` variant: a
breathier voice, quiet /u/, close vowels with a higher F1), whose voice the dev split holds but
not these sentences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.visemes import (
    HELDOUT_SETS,
    HELDOUT_VOICES,
    Clip,
    build_clip,
    false_closures,
    track_closures,
    track_lip_sync,
)
from generator import render
from generator.evaluate import LabelledSpan, VisemeReport, evaluate_video, evaluate_visemes
from generator.intake import SAMPLE_RATE, load_audio
from generator.speech import track_mouth
from generator.types import AudioTrack, PhonemeSpan, RenderRequest
from generator.visemes import CLOSURE_FEATURES, closure_model, phoneme_visemes, track_visemes
from tests.generator.media import sentences, synthesize_mandarin, write_audio

FPS = 25
HOP_RATE = 100

#: Held-out sentences, one vowel class each, per espeak-ng voice.
SENTENCES = {
    "en-us": {
        "spread": ["Eve sees the green leaves.", "Keep the key, Pete, we need three."],
        "round": ["Lou knew the rude goose.", "Sue, do you use two shoes?"],
        "open": ["Ah, calm Carl, start the car.", "Father saw the large dark hall."],
    },
    "cmn": {
        "spread": ["一起洗衣，七里地。", "弟弟记习题。"],
        "round": ["读书不哭，姑姑住屋。", "五个兔子路上走。"],
        "open": ["哈哈，他拉大沙发。", "大哥打卡，他怕辣。"],
    },
}
#: The espeak-ng voices the rendered tests speak SENTENCES in (the part before "+" picks them).
RENDERED_VOICES = ["en-us", "cmn", "en-us+klatt", "cmn+klatt"]


# --- the table -----------------------------------------------------------------------------------


def test_phonemes_map_to_mouth_shapes_in_english_and_mandarin() -> None:
    (i,) = phoneme_visemes("ˈiː")
    (u,) = phoneme_visemes("uː")
    (a,) = phoneme_visemes("ˈɑː")
    (m,) = phoneme_visemes("m")
    (f,) = phoneme_visemes("f")
    (th,) = phoneme_visemes("θ")
    assert i.spread > 0.5 and i.round == 0 and i.jaw < 0.5
    assert u.round > 0.5 and u.spread == 0
    assert a.jaw >= 2 * i.jaw
    assert m.pressed == 1.0 and f.lip_teeth == 1.0 and th.tongue == 1.0
    # Mandarin as espeak-ng writes it: ü is rounded, retroflex and aspirated affricates are known.
    (yu,) = phoneme_visemes("ˈy")
    assert yu.round > 0.5
    (ch,) = phoneme_visemes("ts.h")
    assert ch == phoneme_visemes("s.")[0]
    assert len(phoneme_visemes("ˈɑu")) == 2  # a diphthong moves from open to rounded
    assert phoneme_visemes("ɑu")[1].round > 0.5


def test_unknown_symbols_and_pauses_never_fail() -> None:
    assert phoneme_visemes("") == []
    assert phoneme_visemes("ˈ") == []
    assert all(0.0 <= s.jaw <= 1.0 for s in phoneme_visemes("ʘǃ☃q"))


def _timeline_track(spans: list[PhonemeSpan], seconds: float = 1.5) -> tuple[np.ndarray, ...]:
    n_hops = round(seconds * HOP_RATE)
    energy = np.zeros(n_hops)
    for span in spans:
        energy[round(span.start * HOP_RATE) : round(span.end * HOP_RATE)] = 0.8
    speech = energy > 0
    n_frames = round(seconds * FPS)
    audio = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    track = track_visemes(audio, SAMPLE_RATE, HOP_RATE, energy, speech, FPS, n_frames, spans)
    return track.jaw, track.pressed, track.round, track.spread


def test_a_bilabial_closes_the_lips_fully_on_whole_frames() -> None:
    # "apa": espeak-ng times a stop from its burst, 30 ms long; the lips must still shut.
    spans = [PhonemeSpan(0.2, 0.5, "a"), PhonemeSpan(0.5, 0.53, "p"), PhonemeSpan(0.53, 0.8, "a")]
    jaw, pressed, _, _ = _timeline_track(spans)
    closed = np.flatnonzero(pressed == 1.0)
    assert len(closed) >= 2  # at least two whole frames
    assert set(closed) <= set(range(round(0.4 * FPS), round(0.6 * FPS)))
    assert np.all(jaw[closed] == 0.0)
    assert jaw[round(0.35 * FPS)] > 0.5 and jaw[round(0.7 * FPS)] > 0.5  # and opens around it


def test_a_timeline_closure_shuts_the_lips_where_the_sound_drops() -> None:
    # "apa" whose timeline times the p 40 ms early (piper's is espeak-ng's, warped): the lips
    # shut over the 70 ms before its burst, 0.46-0.53 s (frames 11 and 12), but the sound drops
    # at 0.50-0.57 s (frames 12 and 13).
    spans = [PhonemeSpan(0.2, 0.5, "a"), PhonemeSpan(0.5, 0.53, "p"), PhonemeSpan(0.53, 0.8, "a")]
    n_hops = round(1.5 * HOP_RATE)
    energy = np.zeros(n_hops)
    energy[round(0.2 * HOP_RATE) : round(0.8 * HOP_RATE)] = 0.8
    energy[round(0.5 * HOP_RATE) : round(0.57 * HOP_RATE)] = 0.05
    audio = np.zeros(round(1.5 * SAMPLE_RATE), np.float32)
    track = track_visemes(audio, SAMPLE_RATE, HOP_RATE, energy, energy > 0, FPS, round(1.5 * FPS), spans)

    assert set(np.flatnonzero(track.pressed == 1.0)) == {12, 13}
    assert track.jaw[11] > 0.3  # the vowel before it still sounds, with the mouth open


def test_timeline_jaw_follows_loudness_and_closes_for_spread_vowels() -> None:
    def jaws(*sounds: tuple[str, float]) -> list[float]:
        """The jaw in the middle of each 0.4 s sound (phoneme, loudness), spoken in a row."""
        seconds = 0.2 + 0.4 * len(sounds)
        energy = np.zeros(round(seconds * HOP_RATE))
        spans = []
        for k, (phoneme, level) in enumerate(sounds):
            start = 0.1 + 0.4 * k
            energy[round(start * HOP_RATE) : round((start + 0.4) * HOP_RATE)] = level
            spans.append(PhonemeSpan(start, start + 0.4, phoneme))
        audio = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
        n_frames = round(seconds * FPS)
        track = track_visemes(audio, SAMPLE_RATE, HOP_RATE, energy, energy > 0, FPS, n_frames, spans)
        return [float(track.jaw[round((0.3 + 0.4 * k) * FPS)]) for k in range(len(sounds))]

    # Loud open and mid vowels open wide (the jaw undershoots mid heights in running speech), a
    # quiet one far less; a spread vowel stays nearly shut however loud, a rounded close one
    # (/u/) half-way.
    loud_a, loud_schwa, quiet_a, loud_i, loud_u = jaws(
        ("a", 0.8), ("ə", 0.8), ("a", 0.3), ("i", 0.8), ("u", 0.8)
    )
    assert loud_a > 0.9 and loud_schwa > 0.8
    assert quiet_a < loud_schwa - 0.2
    assert loud_i < 0.6 * loud_a
    assert loud_i < loud_u < 0.8 * loud_a


def test_lips_round_before_a_rounded_vowel_starts() -> None:
    spans = [PhonemeSpan(0.2, 0.6, "i"), PhonemeSpan(0.6, 0.9, "t"), PhonemeSpan(0.9, 1.2, "u")]
    _, _, rounded, spread = _timeline_track(spans)
    before = round(0.82 * FPS)  # inside the t, 80 ms before the u
    assert rounded[before] > 0.2
    assert rounded[round(1.0 * FPS)] > 0.8
    assert spread[round(0.4 * FPS)] > 0.6 and rounded[round(0.4 * FPS)] < 0.1


# --- rendered clips, from the sound alone ----------------------------------------------------------


def vowel_note(voice: str, path: Path) -> tuple[Path, list[tuple[float, float, str]]]:
    """The voice's spread, round and open sentences as one OGG/Opus voice note, and their spans."""
    parts = []
    rate = 0
    for label, texts in SENTENCES[voice.split("+")[0]].items():
        for text in texts:
            samples, rate = synthesize_mandarin(text, voice=voice)
            parts.append((label, samples))
    audio, spans = sentences(parts, rate)
    return write_audio(path, audio, rate, codec="libopus", container="ogg"), spans


@pytest.fixture(scope="module")
def vowel_clips(tmp_path_factory: pytest.TempPathFactory, astronaut_path: Path) -> dict[str, VisemeReport]:
    """Per voice: the astronaut saying the spread, round and open sentences, evaluated."""
    folder = tmp_path_factory.mktemp("visemes")
    reports = {}
    for voice in RENDERED_VOICES:
        recording, spans = vowel_note(voice, folder / f"{voice}.ogg")
        result = render(
            RenderRequest(astronaut_path, [AudioTrack(recording)], max_side=512), folder / f"{voice}.mp4"
        )
        labelled = [LabelledSpan(start, end, label) for start, end, label in spans]
        reports[voice] = evaluate_visemes(evaluate_video(result.path), labelled)
    return reports


@pytest.mark.slow
@pytest.mark.parametrize("voice", RENDERED_VOICES)
def test_rendered_lips_spread_for_i_and_purse_for_u(voice: str, vowel_clips: dict[str, VisemeReport]) -> None:
    report = vowel_clips[voice]
    assert report.spread_vs_round >= 0.15, report.summary()


@pytest.mark.slow
@pytest.mark.parametrize("voice", RENDERED_VOICES)
def test_rendered_jaw_opens_wider_for_a_than_for_i(voice: str, vowel_clips: dict[str, VisemeReport]) -> None:
    report = vowel_clips[voice]
    assert report.open_vs_close >= 1.5, report.summary()


@pytest.mark.parametrize("voice", ["en-us+klatt", "cmn+klatt"])
def test_a_klatt_voice_purses_the_lips_for_u_and_spreads_them_for_i(voice: str, tmp_path: Path) -> None:
    # espeak-ng's klatt source says /u/ some 15 dB under its /a/, with F1 near 400 Hz: next to
    # the /a/ lines the track once took it for neither a vowel nor a close one and left the lips
    # unrounded (lip_round 0.02-0.04 over the /u/ lines, against 0.83 in the plain en-us voice).
    note, spans = vowel_note(voice, tmp_path / "note.ogg")
    samples, _ = load_audio(note)  # as a voice note reaches the generator: 16 kHz

    track = track_mouth(samples, SAMPLE_RATE, FPS)

    times = (np.arange(track.n_frames) + 0.5) / FPS
    frames = {label: np.zeros(track.n_frames, bool) for label in ("spread", "round")}
    for start, end, label in spans:
        if label in frames:
            frames[label] |= (times >= start) & (times < end) & track.speech
    rounding = {label: float(track.lip_round[m].mean()) for label, m in frames.items()}
    width = {label: float(track.lip_width[m].mean()) for label, m in frames.items()}
    assert rounding["round"] > rounding["spread"] + 0.3, rounding
    assert width["spread"] > width["round"] + 0.7, width


@pytest.mark.parametrize(
    "kind", ["empty", "one sample", "20 ms", "white noise", "square wave", "silence", "dc offset", "clicks"]
)
@pytest.mark.parametrize("with_timeline", [False, True])
def test_odd_recordings_and_timelines_never_break_the_mouth(kind: str, with_timeline: bool) -> None:
    rng = np.random.default_rng(0)
    second = np.arange(SAMPLE_RATE)
    audio = {
        "empty": np.zeros(0),
        "one sample": np.ones(1),
        "20 ms": rng.standard_normal(SAMPLE_RATE // 50),
        "white noise": 0.3 * rng.standard_normal(SAMPLE_RATE),
        "square wave": np.sign(np.sin(second / 10.0)),
        "silence": np.zeros(SAMPLE_RATE),
        "dc offset": np.full(SAMPLE_RATE, 0.5),
        "clicks": (second % 4000 == 0).astype(float),
    }[kind].astype(np.float32)
    # A timeline as a broken engine might send it: reversed, empty, past the end, unknown symbols.
    timeline = (
        (
            PhonemeSpan(0.0, 0.5, "m"),
            PhonemeSpan(0.5, 0.4, "a"),
            PhonemeSpan(5.0, 6.0, "u"),
            PhonemeSpan(0.1, 0.2, "☃"),
        )
        if with_timeline
        else None
    )

    track = track_mouth(audio, SAMPLE_RATE, FPS, phonemes=timeline)

    for name in ("jaw_open", "lip_width", "lip_round", "lips_pressed", "lip_teeth", "tongue"):
        values = getattr(track, name)
        assert len(values) == track.n_frames and np.all(np.isfinite(values)), name
        assert values.min() >= -1.0 and values.max() <= 1.0, name


def test_long_recordings_at_a_rate_with_fractional_hops_track_to_the_end() -> None:
    # 22050 Hz (piper's rate) has 220.5 samples per 10 ms hop; a 30 s recording once indexed past
    # the end of its formant frames.
    rate = 22050
    t = np.arange(30 * rate) / rate
    syllables = 0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    audio = (syllables + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)

    track = track_mouth(audio, rate, FPS)

    assert track.n_frames == 30 * FPS
    assert track.jaw_open[-2 * FPS :].max() > 0.2  # still following the syllables at the end


# --- closures heard in voice notes, on voices and lines the fit never heard --------------------------


@pytest.fixture(scope="module")
def held_out_notes() -> list[Clip]:
    """`bench/visemes.py`'s held-out voices (other variants and speeds than the fit's, piper's
    `joe` faster and slower) saying its held-out m/b/p-heavy and closure-free lines, each set sent
    as one OGG/Opus voice note and read back through the generator's intake (16 kHz)."""
    return [
        build_clip(voice, name, HELDOUT_SETS[name][voice.language])
        for voice in HELDOUT_VOICES
        for name in ("m/b/p", "no m/b/p")
    ]


@pytest.mark.parametrize(("language", "least_seen"), [("en", 0.75), ("zh", 0.9)])
def test_voice_notes_close_the_lips_on_most_held_out_bilabials(
    language: str, least_seen: float, held_out_notes: list[Clip]
) -> None:
    seen = total = 0
    for clip in held_out_notes:
        if clip.voice.language == language and clip.set_name == "m/b/p":
            k, n = track_closures(track_mouth(clip.audio, clip.rate, FPS), clip.spans)
            seen, total = seen + k, total + n

    # Measured on the track: English 177 of 220 (80 %), Mandarin 84 of 92 (91 %); shutting at the
    # quietest moment of the whole stretch instead of its second half 175 and 84; the score
    # fitted on the first dev split 173 of 220 and 87 of 92, before any fitted score 121 of 220
    # and 42 of 96.
    assert total >= 90
    assert seen / total >= least_seen, f"{seen}/{total} bilabials closed the lips"


@pytest.mark.parametrize(("language", "most_per_second"), [("en", 2.2), ("zh", 1.0)])
def test_voice_notes_rarely_close_the_lips_without_a_bilabial(
    language: str, most_per_second: float, held_out_notes: list[Clip]
) -> None:
    rates = [
        false_closures(track_mouth(clip.audio, clip.rate, FPS), clip.spans)
        for clip in held_out_notes
        if clip.voice.language == language and clip.set_name == "no m/b/p"
    ]

    # Measured per voice: English 0.5-1.8 a second (earlier builds 0.6-2.0), Mandarin 0-0.2; the
    # score fitted on the first dev split 0.3-2.2 (1.3) and 0-0.8. The bar: no worse than that.
    assert rates and max(rates) <= most_per_second, rates


@pytest.mark.parametrize("language", ["en", "zh"])
def test_voice_note_closures_leave_the_mouth_in_step_with_the_sound(
    language: str, held_out_notes: list[Clip]
) -> None:
    # Every frame the lips stay shut on a stop that still sounds loud (a listener hears loudness
    # over ~80 ms) moves the mouth away from the sound: closures are one frame in a short stop,
    # two in a long dark stretch. Gap as the astronaut is painted against the clip's loudness.
    figures = [
        (clip.voice.label, *track_lip_sync(track_mouth(clip.audio, clip.rate, FPS), clip))
        for clip in held_out_notes
        if clip.voice.language == language and clip.set_name == "m/b/p"
    ]

    # Measured: r 0.61-0.68 English, 0.56-0.67 Mandarin (the render reads 0.02-0.03 higher), best
    # lag 0; with two-frame closures everywhere (an earlier track): 0.51-0.64.
    assert figures and all(r >= 0.53 and abs(lag) <= 1 for _, r, lag in figures), figures


def test_the_shipped_closure_score_reads_the_features_the_detector_makes() -> None:
    model = closure_model()  # raises when the file was fitted on other features
    rng = np.random.default_rng(0)
    rows = model.mean + model.spread * rng.standard_normal((50, len(CLOSURE_FEATURES)))

    p = model.probability(rows)

    assert p.shape == (50,) and np.all((p >= 0.0) & (p <= 1.0))
    assert 0.0 < model.threshold < 1.0
