"""Stage 3, speech: a recording in, a per-frame mouth-shape and prosody track out.

Nothing here knows a language:

- loudness of the speech band, measured against a noise floor that adapts to the recording, gives
  voice activity (and the NO_SPEECH verdict) and how far the jaw may open;
- the mouth's shape per frame (jaw, spread or rounded lips, closures, lip to teeth, tongue) comes
  from `generator.visemes`: from the phoneme timeline when the words are known, else from the
  formants and spectrum of the sound;
- pitch and energy peaks become emphasis events, which the motion plan turns into nods and brow
  raises.

Analysis runs at 100 hops a second and is then averaged onto video frames, so the mouth is never
shifted off the sound: every smoothing step is zero-phase (a forward and a backward pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from generator.types import ErrorCode, GeneratorError, PhonemeSpan
from generator.visemes import track_visemes

#: Analysis hops per second.
HOP_RATE = 100
#: Less speech than this (seconds) is not a voice note.
MIN_SPEECH_SECONDS = 0.3
#: Loud parts must stand this far above the noise floor (dB) to count as speech.
MIN_DYNAMIC_RANGE_DB = 12.0
#: Loudness range (dB below the speaker's peak) over which the jaw goes from closed to open.
JAW_RANGE_DB = 30.0
#: Anything quieter than this (dBFS, speech band) is silence whatever the floor says.
ABSOLUTE_SILENCE_DB = -62.0


@dataclass(frozen=True)
class SpeechTrack:
    """Per-video-frame mouth shapes and prosody for one recording.

    Every array has one value per output frame. Mouth values are 0 at rest.
    """

    fps: int
    jaw_open: NDArray[np.float32]  # [0, 1]: 0 closed (rest), 1 the widest this speaker opens
    lip_width: NDArray[np.float32]  # [-1, 1]: + spread (/i/), - narrowed (/u/)
    lip_round: NDArray[np.float32]  # [0, 1]: rounding / protrusion
    lips_pressed: NDArray[np.float32]  # [0, 1]: lips together for m, b, p (crisp: 1 on closure frames)
    lip_teeth: NDArray[np.float32]  # [0, 1]: lower lip tucked under the upper teeth (f, v)
    tongue: NDArray[np.float32]  # [0, 1]: tongue tip showing (th, l)
    speech: NDArray[np.bool_]  # bool: voice activity
    energy: NDArray[np.float32]  # [0, 1]: speech-band loudness above the noise floor
    pitch: NDArray[np.float32]  # semitones relative to the speaker's median; 0 where unvoiced
    emphasis: NDArray[np.float32]  # [0, 1]: impulses at stressed syllables, 0 elsewhere
    speech_seconds: float
    floor_db: float  # measured noise floor (dBFS, speech band)
    peak_db: float  # loud speech level (dBFS, speech band)

    @property
    def n_frames(self) -> int:
        return len(self.jaw_open)


def track_mouth(
    audio: NDArray[np.floating[Any]],
    sample_rate: int,
    fps: int,
    n_frames: int | None = None,
    phonemes: Sequence[PhonemeSpan] | None = None,
) -> SpeechTrack:
    """Turns a mono recording into per-frame mouth shapes, voice activity and prosody.

    `n_frames` defaults to the audio's length in frames, rounded up. `phonemes` (the TTS timeline
    of a known text, seconds from the recording's start) shapes the mouth exactly; without it the
    shapes come from the sound (`generator.visemes`).
    """
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if n_frames is None:
        n_frames = max(1, int(np.ceil(len(samples) * fps / sample_rate)))
    hop = max(1, round(sample_rate / HOP_RATE))
    loudness = measure_loudness(samples, sample_rate)
    level_db, floor_db, peak_db = loudness.level_db, loudness.floor_db, loudness.peak_db
    speech, energy = loudness.speech, loudness.energy
    floor_med = float(np.median(floor_db)) if floor_db.size else -100.0
    dynamic = peak_db - floor_med

    pitch = _pitch_semitones(samples, sample_rate, hop, len(level_db), speech & (energy > 0.2))

    to_frames = _FrameSampler(len(level_db), fps, n_frames)
    speech_f = to_frames(speech.astype(np.float32)) > 0.5
    energy_f = to_frames(energy)
    pitch_f = to_frames(pitch)
    mouth = track_visemes(samples, sample_rate, HOP_RATE, energy, speech, fps, n_frames, phonemes)
    return SpeechTrack(
        fps=fps,
        jaw_open=mouth.jaw,
        lip_width=mouth.lip_width,
        lip_round=mouth.round,
        lips_pressed=mouth.pressed,
        lip_teeth=mouth.lip_teeth,
        tongue=mouth.tongue,
        speech=speech_f,
        energy=energy_f.astype(np.float32),
        pitch=pitch_f.astype(np.float32),
        emphasis=_emphasis(energy_f, pitch_f, speech_f, fps).astype(np.float32),
        speech_seconds=float(speech.sum()) / HOP_RATE,
        floor_db=floor_med,
        peak_db=peak_db if dynamic > 0 else floor_med,
    )


@dataclass(frozen=True)
class Loudness:
    """Per analysis hop (HOP_RATE a second): how loud the speech band is, and where speech is."""

    level_db: NDArray[np.float64]  # speech-band power, dBFS
    floor_db: NDArray[np.float64]  # the adaptive noise floor, dBFS
    peak_db: float  # loud speech (95th percentile above the floor), dBFS
    energy: NDArray[np.float64]  # [0, 1]: loudness over the JAW_RANGE_DB under the peak
    speech: NDArray[np.bool_]  # voice activity


def measure_loudness(samples: NDArray[np.float32], sample_rate: int) -> Loudness:
    """Speech-band loudness against an adaptive noise floor, per hop, and voice activity."""
    hop = max(1, round(sample_rate / HOP_RATE))
    bands = _band_energies(samples, sample_rate, hop)
    level_db: NDArray[np.float64] = 10.0 * np.log10(bands["speech"] + 1e-10)
    floor_db = _noise_floor(level_db)
    loud = level_db[level_db > floor_db + 6.0]
    peak_db = float(np.percentile(loud, 95)) if loud.size else float(np.max(level_db, initial=-100.0))
    speech = _voice_activity(level_db, floor_db, peak_db)
    # A mouth spans about 30 dB of a voice: quieter than that below the peak, it is closed.
    low_db = np.maximum(floor_db + 3.0, peak_db - JAW_RANGE_DB)
    energy: NDArray[np.float64] = np.clip((level_db - low_db) / np.maximum(peak_db - low_db, 6.0), 0.0, 1.0)
    energy = np.where(level_db < ABSOLUTE_SILENCE_DB, 0.0, energy)
    return Loudness(level_db, floor_db, peak_db, energy, speech)


def check_speech(track: SpeechTrack) -> None:
    """Raises NO_SPEECH when a track holds silence or steady noise rather than a voice."""
    dynamic = track.peak_db - track.floor_db
    if track.speech_seconds < MIN_SPEECH_SECONDS or dynamic < MIN_DYNAMIC_RANGE_DB:
        raise GeneratorError(
            ErrorCode.NO_SPEECH,
            "the recording holds no speech",
            speech_seconds=round(track.speech_seconds, 2),
            dynamic_range_db=round(dynamic, 1),
            floor_db=round(track.floor_db, 1),
            peak_db=round(track.peak_db, 1),
        )


def silent_track(n_frames: int, fps: int) -> SpeechTrack:
    """A track for a face that does not speak: mouth at rest throughout."""
    zeros = np.zeros(n_frames, dtype=np.float32)
    return SpeechTrack(
        fps=fps,
        jaw_open=zeros,
        lip_width=zeros,
        lip_round=zeros,
        lips_pressed=zeros,
        lip_teeth=zeros,
        tongue=zeros,
        speech=np.zeros(n_frames, dtype=bool),
        energy=zeros,
        pitch=zeros,
        emphasis=zeros,
        speech_seconds=0.0,
        floor_db=-100.0,
        peak_db=-100.0,
    )


# --- analysis ------------------------------------------------------------------------------------


def _band_energies(audio: NDArray[np.float32], sample_rate: int, hop: int) -> dict[str, NDArray[np.float64]]:
    """Mean power per hop in the speech band and three sub-bands, plus the spectral centroid."""
    n_fft = 1 << int(np.ceil(np.log2(0.032 * sample_rate)))
    if audio.size == 0:
        audio = np.zeros(hop, dtype=np.float32)
    frames = _frames(audio, n_fft, hop) * np.hanning(n_fft).astype(np.float32)
    magnitude: NDArray[np.float64] = np.abs(np.fft.rfft(frames, axis=1))  # NumPy's FFT is double
    spec = (magnitude**2).T
    spec /= (n_fft / 4.0) ** 2  # a full-scale sine reads about 0 dB
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    nyq = sample_rate / 2.0

    def band(lo: float, hi: float) -> NDArray[np.float64]:
        sel = (freqs >= lo) & (freqs < min(hi, nyq))
        return spec[sel].sum(axis=0) if sel.any() else np.zeros(spec.shape[1])

    sel = (freqs >= 250.0) & (freqs < min(4000.0, nyq))
    speech_spec = spec[sel]
    centroid = (freqs[sel, None] * speech_spec).sum(axis=0) / (speech_spec.sum(axis=0) + 1e-12)
    return {
        "speech": band(100.0, 4000.0),
        "low": band(250.0, 900.0),
        "mid": band(900.0, 2600.0),
        "high": band(2600.0, 7000.0),
        "centroid": centroid,
    }


def _noise_floor(level_db: NDArray[np.float64]) -> NDArray[np.float64]:
    """The recording's noise floor per hop: a smoothed running minimum over about two seconds.

    It adapts to a fan that starts mid-message but not to syllables, which are far shorter.
    """
    if level_db.size == 0:
        return level_db
    width = min(len(level_db), 2 * HOP_RATE)
    floor: NDArray[np.float64] = ndimage.minimum_filter1d(level_db, size=width, mode="nearest")
    floor = ndimage.uniform_filter1d(floor, size=width, mode="nearest")
    # A clean studio recording has digital silence between words; a voice never sits near it.
    return np.maximum(floor, ABSOLUTE_SILENCE_DB - 20.0) + 2.0


def _voice_activity(
    level_db: NDArray[np.float64], floor_db: NDArray[np.float64], peak_db: float
) -> NDArray[np.bool_]:
    """Speech hops: clearly above the floor, with short gaps bridged and blips dropped."""
    threshold = np.maximum(floor_db + 8.0, peak_db - 35.0)
    active = (level_db > threshold) & (level_db > ABSOLUTE_SILENCE_DB)
    active = ndimage.binary_closing(active, structure=np.ones(15, dtype=bool))  # gaps < 150 ms
    opened: NDArray[np.bool_] = ndimage.binary_opening(active, structure=np.ones(5, dtype=bool))
    return opened  # blips < 50 ms dropped


def _pitch_semitones(
    audio: NDArray[np.float32], sample_rate: int, hop: int, n_hops: int, voiced: NDArray[np.bool_]
) -> NDArray[np.float32]:
    """Pitch per hop in semitones around the speaker's median; 0 where unvoiced.

    Normalised autocorrelation of voiced hops only (computed through the FFT): cheap, and good
    enough to find the rises and falls that drive nods; octave errors are smoothed away.
    """
    out = np.zeros(n_hops, dtype=np.float32)
    idx = np.flatnonzero(voiced[:n_hops])
    if idx.size < 5:
        return out
    length = 1 << int(np.ceil(np.log2(0.04 * sample_rate)))
    frames = _frames(audio, length, hop)[idx] * np.hanning(length).astype(np.float32)
    frames -= frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, n=2 * length, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :length]
    acf /= acf[:, :1] + 1e-12
    lo, hi = int(sample_rate / 450.0), min(length - 1, int(sample_rate / 70.0))
    lag = lo + np.argmax(acf[:, lo:hi], axis=1)
    strength = acf[np.arange(len(idx)), lag]
    f0 = sample_rate / lag
    good = strength > 0.3
    if good.sum() < 5:
        return out
    semis = 12.0 * np.log2(f0 / np.median(f0[good]))
    out[idx[good]] = np.clip(semis[good], -12.0, 12.0)
    filtered: NDArray[np.float32] = ndimage.median_filter(out, size=5)
    return filtered


def _frames(audio: NDArray[np.float32], length: int, hop: int) -> NDArray[np.float32]:
    """Overlapping windows centred on each hop (zero-padded at the ends): (hops, length)."""
    n_hops = 1 + len(audio) // hop
    padded = np.zeros(n_hops * hop + length, dtype=np.float32)
    padded[length // 2 : length // 2 + len(audio)] = audio
    view = np.lib.stride_tricks.sliding_window_view(padded, length)[::hop]
    return view[:n_hops].astype(np.float32)


def _emphasis(
    energy: NDArray[np.float64], pitch: NDArray[np.float64], speech: NDArray[np.bool_], fps: int
) -> NDArray[np.float32]:
    """Impulses at stressed syllables: loud and high-pitched peaks, at most about two a second."""
    out = np.zeros(len(energy), dtype=np.float32)
    if speech.sum() < 3:
        return out
    score = _zscore(energy, speech) + 0.5 * _zscore(pitch, speech)
    score = np.where(speech, _smooth(score, 60.0, rate=fps), -10.0)
    peaks, props = signal.find_peaks(score, height=0.8, distance=max(1, int(0.45 * fps)), prominence=0.5)
    out[peaks] = np.clip((props["peak_heights"] - 0.5) / 1.5, 0.2, 1.0)
    return out


# --- smoothing -----------------------------------------------------------------------------------


def _smooth(x: NDArray[np.float64], sigma_ms: float, rate: int = HOP_RATE) -> NDArray[np.float64]:
    """Zero-phase Gaussian smoothing."""
    smoothed: NDArray[np.float64] = ndimage.gaussian_filter1d(
        np.asarray(x, dtype=np.float64), sigma_ms * rate / 1000.0, mode="nearest"
    )
    return smoothed


def _zscore(x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    sel = x[mask]
    if sel.size < 2:
        return np.zeros_like(x, dtype=np.float64)
    scores: NDArray[np.float64] = (x - sel.mean()) / (sel.std() + 1e-6)
    return scores


class _FrameSampler:
    """Averages a hop-rate signal over each video frame's own time span [i/fps, (i+1)/fps)."""

    def __init__(self, n_hops: int, fps: int, n_frames: int) -> None:
        edges = np.round(np.arange(n_frames + 1) * HOP_RATE / fps).astype(np.int64)
        self.starts: NDArray[np.int64] = np.clip(edges[:-1], 0, max(n_hops - 1, 0))
        self.stops: NDArray[np.int64] = np.clip(np.maximum(edges[1:], edges[:-1] + 1), 1, max(n_hops, 1))
        self.n_hops = n_hops

    def __call__(self, x: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        if self.n_hops == 0:
            return np.zeros(len(self.starts))
        csum: NDArray[np.float64] = np.concatenate([[0.0], np.cumsum(np.asarray(x, dtype=np.float64))])
        stops = np.maximum(self.stops, self.starts + 1)
        means: NDArray[np.float64] = (csum[stops] - csum[self.starts]) / (stops - self.starts)
        return means
