"""Stage 3b, visemes: the shape of the mouth for each sound, per video frame.

Six channels, 0 at rest: how far the jaw opens, lips spread (/i/) or rounded and pushed forward
(/u/, /w/, Mandarin "ü"), lips pressed together (m, b, p), lower lip tucked under the upper
teeth (f, v), the tongue tip showing (th, l), and how far the teeth part. Two sources:

- **A phoneme timeline** (typed text through TTS): each IPA symbol maps to a mouth target through
  one table (English and Mandarin as espeak-ng and piper write them); diphthongs split in two.
- **The recording alone** (voice notes), language-independent: the jaw follows loudness scaled by
  the first formant (F1 rises as the jaw drops: /a/ opens about twice as far as /i/); spread and
  rounding follow the second formant (high F2: spread front vowels; low F2 with low F1: rounded
  back vowels), read on vowel nuclei (voiced, and loud or the loudest sound of their syllable),
  with "close" judged against the recording's own close vowels; LPC formants come from
  `librosa.lpc`. Closures start as dark stretches (the
  sound above 1 kHz drops away: a stop's silence, a nasal's hum); a small network shipped in
  `closure_model.json` (fitted by `bench/visemes.py --fit`) tells m, b and p from t, d, k, g
  and n by the release, the murmur's colour, F2 and mean-normalised MFCCs (`librosa.feature`).

Coarticulation is the same for both: rounding anticipates its vowel by up to ~150 ms (the lips
purse before the sound starts), the jaw opens fast and closes a little slower, and closures stay
crisp: a bilabial holds the lips shut on at least one whole video frame, never averaged away.
"""

from __future__ import annotations

import functools
import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from generator.types import PhonemeSpan

#: Every array here: per-hop or per-frame values (bool masks included; NumPy checks the rest).
FloatArray = npt.NDArray[Any]

#: Sample rate the formant analysis runs at: formants F1 and F2 live under 3 kHz.
FORMANT_RATE = 10_000
#: LPC order for FORMANT_RATE (2 poles per kHz plus 2).
LPC_ORDER = 12
#: Typical adult (male) formants, Hz, scaled per speaker: F1 from a close vowel to an open one;
#: F2 above which lips spread; F1 under which a vowel with a lower F2 is rounded.
F1_CLOSE, F1_OPEN = 320.0, 700.0
F2_SPREAD = 1900.0
#: F2 under which a close vowel is rounded (fully 300 Hz lower).
F2_ROUND = 1950.0
F1_ROUND = 470.0
F3_ROUND = 2650.0
#: The recording's close vowels: this percentile of its vowel nuclei's F1 (see `_close_f1_offset`),
#: and the most (Hz) F1_ROUND rises where they sit above F1_CLOSE. The 20th reaches mid vowels in
#: lines with few close vowels and rounds their schwas: on the dev split's ordinary lines the lips
#: rounded 0.215 on average over sounds made with unrounded lips (0.169 before, 0.177 at the 10th).
CLOSE_F1_PERCENTILE = 10.0
CLOSE_F1_MAX_OFFSET = 60.0
#: A vowel nucleus quieter than the speaker's loud syllables (see `_nuclei`): at least this loud
#: ([0, 1] of them), and within NUCLEUS_DROP of the loudest voiced hop NUCLEUS_REACH (seconds)
#: either side.
NUCLEUS_FLOOR = 0.25
NUCLEUS_DROP = 0.12
NUCLEUS_REACH = 0.1
#: Shortest lip closure for a bilabial from a phoneme timeline, seconds.
MIN_CLOSURE = 0.07
#: A closure candidate: energy above 1 kHz this far (dB) under the loudest of the 300 ms around it.
CLOSURE_DARK_DB = 12.0
#: How long the lips stay shut for a closure heard from the sound alone, seconds: one video frame
#: around the closure's quietest moment (see `_closures`), two in a dark stretch at least
#: CLOSURE_LONG long. A short stop's silence reads as loud as the syllables either side of it to
#: a listener (and to `generator.evaluate`, over 80 ms): every frame more the lips stay shut there
#: pulls the mouth out of step with the sound (two frames everywhere: `bench/visemes.py`'s track r
#: 0.51-0.65 on the dev m/b/p lines against 0.61-0.71, for 2 % more bilabials closed). A long stretch
#: (a cluster like "mp b", a pause before a p) is quiet long enough to hold two.
CLOSURE_HOLD = 0.04
CLOSURE_HOLD_LONG = 0.08
CLOSURE_LONG = 0.16
#: A dark stretch closes the lips only where it is quieter than this (speech-band loudness,
#: [0, 1]): a nasal hums at about 0.6, vowels reach 1.
CLOSURE_MAX_LEVEL = 0.75
#: A phrase-initial murmur sits this far (dB) above 1 kHz under the vowel that follows it.
ONSET_HUM_DB = 20.0
#: From a phoneme timeline the jaw follows loudness, scaled by each sound's opening: OPEN_FLOOR +
#: OPEN_SLOPE x its target jaw height, less SPREAD_JAW_CLOSE x its spread and ROUND_JAW_CLOSE x
#: its rounding if it is close (see `_timeline_jaw`): /a/ 1.44, schwa 1.16, /u/ 0.71, /i/ 0.50.
OPEN_FLOOR, OPEN_SLOPE = 0.8, 0.72
SPREAD_JAW_CLOSE = 0.5
ROUND_JAW_CLOSE = 0.3
#: How far (seconds) a timeline's lip closure may move to where the sound is least.
CLOSURE_SNAP = 0.04
#: How early the lips start rounding before a rounded sound, seconds.
ROUND_LEAD = 0.15


@dataclass(frozen=True)
class Viseme:
    """A mouth target: the shape a sound is made with (every channel in [0, 1], spread in [-1, 1])."""

    jaw: float = 0.0
    spread: float = 0.0  # + spread lips, - nothing (rounding has its own channel)
    round: float = 0.0
    pressed: float = 0.0
    lip_teeth: float = 0.0
    tongue: float = 0.0


REST = Viseme()

_V = Viseme
#: IPA (stress, length, tone and diacritics stripped) → mouth target. English and Mandarin as
#: espeak-ng and piper spell them; espeak-ng's Mandarin voice writes retroflexes as "s.", "ts.".
VISEMES: dict[str, Viseme] = {
    # close front: spread, jaw nearly shut
    "i": _V(jaw=0.15, spread=0.9),
    "ɪ": _V(jaw=0.3, spread=0.7),
    "y": _V(jaw=0.25, round=1.0),  # Mandarin ü: /i/ with rounded lips
    "j": _V(jaw=0.15, spread=0.6),
    "ɥ": _V(jaw=0.2, round=0.9),
    # mid front
    "e": _V(jaw=0.5, spread=0.7),
    "ɛ": _V(jaw=0.6, spread=0.5),
    "æ": _V(jaw=0.85, spread=0.4),
    # open
    "a": _V(jaw=1.0, spread=0.1),
    "ɑ": _V(jaw=1.0),
    "ɐ": _V(jaw=0.8),
    "ʌ": _V(jaw=0.75),
    "ɒ": _V(jaw=0.9, round=0.3),
    # mid central
    "ə": _V(jaw=0.5),
    "ɚ": _V(jaw=0.45, round=0.35),
    "ɜ": _V(jaw=0.5, round=0.2),
    "ɤ": _V(jaw=0.5, spread=0.1),  # Mandarin e
    # back rounded
    "o": _V(jaw=0.55, round=0.8),
    "ɔ": _V(jaw=0.75, round=0.6),
    "ʊ": _V(jaw=0.35, round=0.7),
    "u": _V(jaw=0.3, round=1.0),
    "ɯ": _V(jaw=0.3),
    "w": _V(jaw=0.15, round=1.0),
    # apical / retroflex vowels of Mandarin (si, shi): teeth nearly together, lips neutral-spread
    "ɨ": _V(jaw=0.2, spread=0.3),
    "ɿ": _V(jaw=0.2, spread=0.3),
    "ʅ": _V(jaw=0.2, spread=0.1, round=0.2),
    "ɻ": _V(jaw=0.25, round=0.3),
    # bilabials: lips pressed shut
    "p": _V(pressed=1.0),
    "b": _V(pressed=1.0),
    "m": _V(pressed=1.0),
    # labiodentals: lower lip to the upper teeth
    "f": _V(jaw=0.1, lip_teeth=1.0),
    "v": _V(jaw=0.1, lip_teeth=1.0),
    # dentals and laterals: the tongue tip shows
    "θ": _V(jaw=0.2, tongue=1.0, spread=0.2),
    "ð": _V(jaw=0.2, tongue=1.0, spread=0.2),
    "l": _V(jaw=0.35, tongue=0.6),
    # alveolars and sibilants: teeth close, lips a little spread
    "t": _V(jaw=0.2, spread=0.2),
    "d": _V(jaw=0.2, spread=0.2),
    "n": _V(jaw=0.2, spread=0.1),
    "s": _V(jaw=0.1, spread=0.5),
    "z": _V(jaw=0.1, spread=0.5),
    "ɾ": _V(jaw=0.3),
    # postalveolars and retroflexes: lips pushed forward
    "ʃ": _V(jaw=0.15, round=0.7),
    "ʒ": _V(jaw=0.15, round=0.7),
    "ʂ": _V(jaw=0.15, round=0.45),
    "ʐ": _V(jaw=0.15, round=0.45),
    "ɹ": _V(jaw=0.2, round=0.5),
    "r": _V(jaw=0.25, round=0.3),
    # palatals (Mandarin j, q, x): spread
    "ɕ": _V(jaw=0.1, spread=0.6),
    "ʑ": _V(jaw=0.1, spread=0.6),
    "ç": _V(jaw=0.15, spread=0.5),
    # velars and glottals: the jaw half-way, lips take the neighbours' shape
    "k": _V(jaw=0.3),
    "ɡ": _V(jaw=0.3),
    "g": _V(jaw=0.3),
    "ŋ": _V(jaw=0.3),
    "x": _V(jaw=0.3),
    "χ": _V(jaw=0.3),
    "h": _V(jaw=0.4),
    "ʔ": _V(jaw=0.2),
}
#: Multi-letter symbols read as one sound before splitting into letters (affricates, retroflexes).
_DIGRAPHS: dict[str, tuple[str, ...]] = {
    "tʃ": ("ʃ",),
    "dʒ": ("ʒ",),
    "ts.": ("ʂ",),
    "s.": ("ʂ",),
    "z.": ("ʐ",),
    "i.": ("ʅ",),
    "ts": ("s",),
    "dz": ("z",),
    "tɕ": ("ɕ",),
    "dʑ": ("ʑ",),
    "tʂ": ("ʂ",),
    "ɝ": ("ɚ",),
}
_STRIP = set("ˈˌːˑ-_'0123456789ʰ˞")


def phoneme_visemes(phoneme: str) -> list[Viseme]:
    """The mouth targets of one phoneme, in order (two for a diphthong); empty for a pause.

    Stress, length, tone and aspiration marks are ignored; an unknown letter is a neutral,
    half-open mouth rather than an error, so new voices never break a render.
    """
    text = unicodedata.normalize("NFD", phoneme)
    text = "".join(ch for ch in text if ch not in _STRIP and not unicodedata.combining(ch))
    if text.endswith("h") and len(text) > 1 and text[:-1] in {"p", "t", "k", "ts", "ts.", "tɕ", "tʂ"}:
        text = text[:-1]  # espeak-ng writes Mandarin aspiration as a trailing h
    out: list[Viseme] = []
    i = 0
    while i < len(text):
        for size in (3, 2):
            if text[i : i + size] in _DIGRAPHS:
                out.extend(VISEMES[s] for s in _DIGRAPHS[text[i : i + size]])
                i += size
                break
        else:
            ch = text[i]
            if ch in VISEMES:
                out.append(VISEMES[ch])
            elif ch.isalpha():
                out.append(Viseme(jaw=0.35))
            i += 1
    return out


@dataclass(frozen=True)
class VisemeTrack:
    """Per-video-frame mouth channels (see the module docstring); every array has n_frames values."""

    jaw: FloatArray  # [0, 1]
    spread: FloatArray  # [0, 1]
    round: FloatArray  # [0, 1]
    pressed: FloatArray  # [0, 1], crisp: 1 on closure frames
    lip_teeth: FloatArray  # [0, 1]
    tongue: FloatArray  # [0, 1]

    @property
    def lip_width(self) -> FloatArray:
        """Spread minus rounding, [-1, 1]: how much wider (+) or narrower (-) than at rest."""
        return np.clip(self.spread - self.round, -1.0, 1.0).astype(np.float32)


def track_visemes(
    audio: FloatArray,
    sample_rate: int,
    hop_rate: int,
    energy: FloatArray,
    speech: FloatArray,
    fps: int,
    n_frames: int,
    phonemes: Sequence[PhonemeSpan] | None = None,
) -> VisemeTrack:
    """The mouth channels per video frame, from the phoneme timeline when given, else the sound.

    `energy` ([0, 1], speech-band loudness above the noise floor) and `speech` (voice activity)
    are per analysis hop at `hop_rate`; the jaw follows `energy` in both paths, so the mouth
    stays locked to the sound even where a TTS timeline is off by a few milliseconds.
    """
    n_hops = len(energy)
    if phonemes is not None and not any(span.phoneme for span in phonemes):
        phonemes = None  # word edges alone (edge-tts without phonemes) say nothing about shapes
    if phonemes:
        targets = _phoneme_targets(phonemes, n_hops, hop_rate)
        jaw = _timeline_jaw(targets, energy, speech)
        spread, rounded = targets[:, 1], targets[:, 2]
        pressed = _snap_closures(targets[:, 3], energy, hop_rate)
        lip_teeth, tongue = targets[:, 4], targets[:, 5]
    else:
        jaw, spread, rounded, pressed, lip_teeth = _acoustic_targets(
            audio, sample_rate, hop_rate, energy, speech
        )
        tongue = np.zeros(n_hops)
    # Closing wins: a pressed or tucked lip cannot also hang open.
    jaw = jaw * (1.0 - pressed) * (1.0 - 0.8 * lip_teeth)
    jaw = _coarticulate(jaw, hop_rate, attack_ms=25.0, release_ms=60.0)
    spread = ndimage.gaussian_filter1d(spread, 0.04 * hop_rate, mode="nearest")
    rounded = _anticipate(rounded, hop_rate)
    # Lips cannot spread and purse at once: where both leak in from neighbouring sounds, the
    # stronger shape wins (an /i/ between r and w stays spread).
    spread, rounded = spread * (1.0 - 0.7 * rounded), rounded * (1.0 - 0.7 * spread)
    lip_teeth = ndimage.gaussian_filter1d(lip_teeth, 0.02 * hop_rate, mode="nearest")
    tongue = ndimage.gaussian_filter1d(tongue, 0.03 * hop_rate, mode="nearest")

    sampler = _FrameSampler(n_hops, hop_rate, fps, n_frames)
    jaw_f = sampler.mean(jaw)
    # A closure shows on every frame it covers for more than a quarter: crisp, never averaged.
    # From the sound alone a closure must fill half a frame: a frame that is mostly the vowel
    # before or after stays open, so the lips never shut on audible sound.
    covered = sampler.mean(pressed)
    pressed_f = (covered > (0.25 if phonemes else 0.5)).astype(np.float64)
    # A closure heard shorter than half a frame still shows: on the frame it covers most.
    labels, count = ndimage.label(covered > 0.0)
    for k, piece in enumerate(ndimage.find_objects(labels)[:count], start=1):
        frames = np.flatnonzero(labels[piece[0]] == k) + piece[0].start
        if not pressed_f[frames].any():
            pressed_f[frames[np.argmax(covered[frames])]] = 1.0
        if not phonemes and len(frames) > 2 and pressed_f[frames].sum() < 2:
            # A closure held for two frames' worth of sound (CLOSURE_HOLD_LONG) that straddles
            # three frames shows on the two it covers most, not only the middle one.
            ranked = frames[np.argsort(-covered[frames], kind="stable")]
            pressed_f[ranked[:2]] = 1.0
    jaw_f = jaw_f * (1.0 - pressed_f)
    return VisemeTrack(
        jaw=np.clip(jaw_f, 0.0, 1.0).astype(np.float32),
        spread=np.clip(sampler.mean(spread) * (1.0 - pressed_f), 0.0, 1.0).astype(np.float32),
        round=np.clip(sampler.mean(rounded), 0.0, 1.0).astype(np.float32),
        pressed=pressed_f.astype(np.float32),
        lip_teeth=np.clip(sampler.mean(lip_teeth), 0.0, 1.0).astype(np.float32),
        tongue=np.clip(sampler.mean(tongue), 0.0, 1.0).astype(np.float32),
    )


# --- from phonemes -------------------------------------------------------------------------------


def _phoneme_targets(phonemes: Sequence[PhonemeSpan], n_hops: int, hop_rate: int) -> FloatArray:
    """(n_hops, 6) targets: each phoneme's viseme(s) over its own span, rest between phonemes."""
    out = np.zeros((n_hops, 6), np.float64)
    for span in phonemes:
        shapes = phoneme_visemes(span.phoneme)
        if not shapes or span.end <= span.start:
            continue
        a, b = span.start * hop_rate, span.end * hop_rate
        if shapes[0].pressed and b - a < MIN_CLOSURE * hop_rate:
            # TTS engines time a stop from its burst; the lips shut before it, so the closure
            # starts earlier and lasts at least two video frames' worth.
            a = b - MIN_CLOSURE * hop_rate
        edges = np.linspace(a, b, len(shapes) + 1)
        for shape, lo, hi in zip(shapes, edges[:-1], edges[1:], strict=True):
            i0 = max(0, math.floor(lo + 0.5))
            i1 = min(n_hops, max(i0 + 1, math.floor(hi + 0.5)))
            if i0 >= n_hops:
                continue
            out[i0:i1] = (shape.jaw, shape.spread, shape.round, shape.pressed, shape.lip_teeth, shape.tongue)
    return out


def _timeline_jaw(targets: FloatArray, energy: FloatArray, speech: FloatArray) -> FloatArray:
    """The jaw per hop from a phoneme timeline's targets: loudness, scaled by each sound's opening.

    Loudness leads, as in the acoustic path. In running speech the jaw undershoots the heights
    sounds are made with in isolation (it has no time to reach them), so each sound's own height
    only scales loudness, and loud open and mid vowels alike open the mouth wide. Close vowels
    are the exception: spread ones (/i/, /e/) draw the lips back over a nearly shut jaw however
    loud they are, rounded ones (/u/, ü, w) purse them over a half-shut one.
    """
    height, spread, rounded = targets[:, 0], targets[:, 1], targets[:, 2]
    opening = (
        (OPEN_FLOOR + OPEN_SLOPE * height)
        * (1.0 - SPREAD_JAW_CLOSE * spread)
        * (1.0 - ROUND_JAW_CLOSE * rounded * np.clip((0.5 - height) / 0.2, 0.0, 1.0))
    )
    jaw: FloatArray = np.minimum(_level(energy, speech) ** 0.8 * opening, 1.0)
    return jaw


def _snap_closures(pressed: FloatArray, energy: FloatArray, hop_rate: int) -> FloatArray:
    """Each lip closure of a timeline moved (at most CLOSURE_SNAP) to where the sound is least.

    With the lips shut the sound drops (a stop's silence, a nasal's hum), so that is where they
    meet. A timeline can be off by tens of milliseconds there: piper's is espeak-ng's timeline
    warped onto piper's voice, and a stop is timed from its burst.
    """
    reach = round(CLOSURE_SNAP * hop_rate)
    if reach < 1 or not pressed.any():
        return pressed
    n = len(pressed)
    out = np.zeros(n)
    labels, count = ndimage.label(pressed > 0.5)
    for (piece,) in ndimage.find_objects(labels)[:count]:
        a, b = int(piece.start), int(piece.stop)
        shifts = range(max(-reach, -a), min(reach, n - b) + 1)
        # The quietest place wins; ties (a closure in silence) keep the timeline's own place.
        best = min(shifts, key=lambda k: (float(np.mean(energy[a + k : b + k])), abs(k)))
        out[a + best : b + best] = 1.0
    return out


# --- from the sound ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sound:
    """What the acoustic path reads from a recording, per hop."""

    spec: FloatArray  # power spectrogram (freq x hops)
    freqs: FloatArray
    f1: FloatArray  # formants, Hz, divided by the speaker's scale (NaN where none)
    f2: FloatArray
    f3: FloatArray
    f2_raw: FloatArray  # F2 as measured
    voiced: FloatArray  # bool: harmonics under 1.2 kHz outweigh hiss above 4 kHz
    level: FloatArray  # loudness relative to the speaker's loud syllables, [0, 1]


def _listen(
    audio: FloatArray, sample_rate: int, hop_rate: int, energy: FloatArray, speech: FloatArray
) -> _Sound:
    """Formants (scaled to an adult male's), spectrum, voicing and relative loudness per hop."""
    n_hops = len(energy)
    f1, f2, f3 = _formants(audio, sample_rate, hop_rate, n_hops)
    spec, freqs = _spectrum(audio, sample_rate, sample_rate / hop_rate, n_hops)
    voice_band = spec[(freqs >= 80) & (freqs < 1200)].sum(axis=0) + 1e-10
    high = spec[(freqs >= 4000) & (freqs < 8000)].sum(axis=0) + 1e-10
    # Voiced: the voice's harmonics under 1.2 kHz outweigh any hiss above 4 kHz.
    voiced = (voice_band > 3.0 * high) & np.isfinite(f2)
    # Loudness relative to this speaker's loud syllables (so a quiet recording opens as far as a
    # loud one).
    level = _level(energy, speech)
    # Vowel nuclei: voiced and near this speaker's loud syllables (l, z, n are quieter and would
    # read as rounded or front vowels of their own).
    vowel = speech & voiced & (level > 0.6)
    scale = _speaker_scale(audio, sample_rate, vowel, hop_rate)
    return _Sound(spec, freqs, f1 / scale, f2 / scale, f3 / scale, f2, voiced, level)


def sound_closure_candidates(
    audio: FloatArray, sample_rate: int, hop_rate: int, energy: FloatArray, speech: FloatArray
) -> list[tuple[int, int, FloatArray]]:
    """`closure_candidates` of a recording, as the voice-note path sees them (for fitting the score)."""
    if len(audio) < sample_rate // 20:
        return []
    sound = _listen(audio, sample_rate, hop_rate, energy, speech)
    return closure_candidates(sound.spec, sound.freqs, energy, speech, hop_rate, sound.f2)


def _acoustic_targets(
    audio: FloatArray, sample_rate: int, hop_rate: int, energy: FloatArray, speech: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Jaw, spread, rounding, pressed and lip-to-teeth per hop, from loudness, formants and spectrum."""
    n_hops = len(energy)
    if len(audio) < sample_rate // 20:  # under 50 ms: nothing to read a vowel from
        zeros = np.zeros(n_hops)
        return zeros, zeros, zeros, zeros, zeros
    sound = _listen(audio, sample_rate, hop_rate, energy, speech)
    spec, freqs, level, voiced_lpc = sound.spec, sound.freqs, sound.level, sound.voiced
    f1n, f2n, f3n = sound.f1, sound.f2, sound.f3
    low = spec[(freqs >= 80) & (freqs < 500)].sum(axis=0) + 1e-10
    mid = spec[(freqs >= 1000) & (freqs < 4000)].sum(axis=0) + 1e-10
    high = spec[(freqs >= 4000) & (freqs < 8000)].sum(axis=0) + 1e-10
    # Vowel nuclei, where the formants say what the lips do. The voice's harmonics must outweigh
    # the hiss above 4 kHz, but only just: a breathy voice's /i/ carries nearly as much noise up
    # there as voice under 1.2 kHz (espeak-ng's klatt voices, `linda`).
    voice_band = spec[(freqs >= 80) & (freqs < 1200)].sum(axis=0) + 1e-10
    vowel = _nuclei(level, speech, (voice_band > high) & np.isfinite(f2n), hop_rate)
    # Close is judged against this voice's own close vowels (the jaw's opening is not: a voice's
    # F1 still rises as its jaw drops).
    close_f1 = F1_ROUND + _close_f1_offset(f1n, vowel)
    openness = np.clip((f1n - F1_CLOSE) / (F1_OPEN - F1_CLOSE), 0.0, 1.0)
    # High F2 with a low F1 is a spread front vowel (/i/, /e/). A close vowel with a lower F2 is
    # rounded: /u/ and /o/, Mandarin u and ü (American English fronts /u/ to F2 ~1600 Hz, still
    # well under /i/'s ~2300 Hz). Open vowels (/a/) are never rounded, whatever their F2.
    front = np.clip((f2n - F2_SPREAD) / 250.0, 0.0, 1.0)
    close = np.clip((close_f1 - f1n) / 120.0, 0.0, 1.0)
    # Rounding lengthens the vocal tract and lowers F3 too (/u/ ~2300 Hz, /i/ ~3000 Hz): the cue
    # that survives a fronted /u/.
    # An F3 hugging F2 is one broad peak split in two by the LPC fit, not a third formant.
    f3n = np.where(f3n - f2n > 350.0, f3n, np.nan)
    low_f3 = np.clip((F3_ROUND - np.nan_to_num(f3n, nan=F3_ROUND)) / 300.0, 0.0, 1.0)
    # ...but only where F2 is not already high: a deep voice's /i/ has F3 near 2600 Hz too
    # (piper's English voice), and its F2 above 2 kHz says spread, not rounded.
    low_f3 = low_f3 * np.clip((F2_ROUND + 200.0 - np.nan_to_num(f2n, nan=0.0)) / 300.0, 0.0, 1.0)
    rounded = np.maximum(np.clip((F2_ROUND - f2n) / 300.0, 0.0, 1.0), low_f3) * close
    front = front * (1.0 - low_f3)
    # Hold the vowel estimates over short gaps in voicing, fading them out in consonants.
    openness = _hold(np.where(vowel, openness, np.nan), hop_rate)
    front = _hold(np.where(vowel, front, np.nan), hop_rate)
    rounded = _hold(np.where(vowel, rounded, np.nan), hop_rate)

    # Fricatives (s, f, sh, x, q): loud in the noise band, made with an almost closed jaw.
    hiss = np.clip((10.0 * np.log10(high / (low + mid)) + 6.0) / 12.0, 0.0, 1.0) * (~voiced_lpc)
    voiced_w = np.clip(energy / 0.5, 0.0, 1.0)
    jaw = np.minimum(level**0.8 * (0.7 + 0.5 * openness), 1.0) * (1.0 - 0.25 * front) * (1.0 - 0.5 * hiss)
    spread = np.clip(front * voiced_w + 0.3 * hiss, 0.0, 1.0)
    rounded = rounded * voiced_w
    pressed = _closures(spec, freqs, energy, speech, hop_rate, f2n)
    # A weak, flat hiss with nothing low (f, v): the lower lip under the teeth.
    weak = (energy > 0.05) & (energy < 0.55)
    lip_teeth = (hiss > 0.5) & weak & (10.0 * np.log10(high / mid) < 3.0)
    lip_teeth = ndimage.binary_opening(lip_teeth, np.ones(4, bool)).astype(np.float64) * 0.8
    return jaw, spread, rounded, pressed, lip_teeth


def _nuclei(level: FloatArray, speech: FloatArray, voiced: FloatArray, hop_rate: int) -> FloatArray:
    """Vowel hops: voiced speech near this speaker's loud syllables, or the loudest voiced sound
    around it (within NUCLEUS_DROP of the loudest voiced hop NUCLEUS_REACH either side).

    l, z and n are quieter than the vowels next to them and would read as rounded or front vowels
    of their own. Some vowels are quiet too: espeak-ng's klatt voices say /u/ some 15 dB under
    their /a/ (a level of 0.4-0.5), so a vowel is also the loudest voiced sound of its syllable.
    """
    voiced_speech = speech & voiced
    loudest = ndimage.maximum_filter1d(
        np.where(voiced_speech, level, 0.0), size=2 * round(NUCLEUS_REACH * hop_rate) + 1, mode="nearest"
    )
    local = (level > NUCLEUS_FLOOR) & (level >= loudest - NUCLEUS_DROP)
    out: FloatArray = voiced_speech & ((level > 0.6) | local)
    return out


def _close_f1_offset(f1: FloatArray, vowel: FloatArray) -> float:
    """How far (Hz, at most CLOSE_F1_MAX_OFFSET) this recording's close vowels sit above F1_CLOSE.

    F1 says how close a vowel is, but where a close vowel's F1 sits varies by voice beyond what
    the speaker scale takes out: LPC reads F1 high on a high or breathy voice, and espeak-ng's
    klatt voices make /i/ and /u/ with F1 near 380-400 Hz (320 Hz or less in its other voices).
    The low end of the recording's own vowel F1s (CLOSE_F1_PERCENTILE) is its close vowels; F1
    under which a back vowel reads as rounded (F1_ROUND) rises by as much as they sit above
    F1_CLOSE, so such a voice's /u/ still reads as close. Never downwards: a low F1 is close
    already. Capped, because a recording with few close vowels has a higher low end of its own.
    """
    values = f1[vowel & np.isfinite(f1)]
    if values.size < 10:
        return 0.0
    low = float(np.percentile(values, CLOSE_F1_PERCENTILE))
    return float(np.clip(low - F1_CLOSE, 0.0, CLOSE_F1_MAX_OFFSET))


def _level(energy: FloatArray, speech: FloatArray) -> FloatArray:
    """Loudness relative to this speaker's loud syllables (90th percentile) in [0, 1]."""
    loud = energy[speech & (energy > 0)]
    return np.clip(energy / max(float(np.percentile(loud, 90)) if loud.size else 1.0, 0.3), 0.0, 1.0)


def _formants(
    audio: FloatArray, sample_rate: int, hop_rate: int, n_hops: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """F1, F2, F3 (Hz) per hop by LPC at FORMANT_RATE (NaN where the hop is silent or has none)."""
    y = librosa.resample(np.asarray(audio, np.float32), orig_sr=sample_rate, target_sr=FORMANT_RATE)
    y = librosa.effects.preemphasis(y, coef=0.7)  # tilt the spectrum so F2 is not lost under F1
    win = round(0.025 * FORMANT_RATE)
    hop = FORMANT_RATE / hop_rate
    starts = np.round(np.arange(n_hops) * hop).astype(np.int64)
    # The caller's hop count is rounded at its own rate (22050 Hz gives 220-sample hops for
    # 220.5), so the last hops may start past the audio: pad far enough for every window.
    tail = max(win + int(hop), int(starts[-1]) + win - len(y) - win // 2 if n_hops else 0)
    padded = np.pad(y, (win // 2, tail))
    frames = padded[starts[:, None] + np.arange(win)[None, :]] * np.hamming(win)[None, :]
    power = (frames**2).mean(axis=1)
    ok = power > 1e-9
    f1 = np.full(n_hops, np.nan)
    f2 = np.full(n_hops, np.nan)
    f3 = np.full(n_hops, np.nan)
    if not ok.any():
        return f1, f2, f3
    frames = frames[ok] + 1e-6 * np.random.default_rng(0).standard_normal((int(ok.sum()), win))
    a = librosa.lpc(frames.astype(np.float64), order=LPC_ORDER, axis=-1)
    # Roots of every LPC polynomial at once: eigenvalues of the companion matrices.
    companion = np.zeros((len(a), LPC_ORDER, LPC_ORDER))
    companion[:, 0, :] = -a[:, 1:] / a[:, :1]
    companion[:, np.arange(1, LPC_ORDER), np.arange(LPC_ORDER - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    freq = np.angle(roots) * FORMANT_RATE / (2 * np.pi)
    bandwidth = -np.log(np.abs(roots) + 1e-12) * FORMANT_RATE / np.pi
    good = (freq > 200.0) & (freq < 4000.0) & (bandwidth < 600.0)
    freq = np.where(good, freq, np.inf)
    freq.sort(axis=1)
    idx = np.flatnonzero(ok)
    found = np.isfinite(freq[:, 1])
    f1[idx[found]], f2[idx[found]] = freq[found, 0], freq[found, 1]
    f3[idx] = np.where(np.isfinite(freq[:, 2]), freq[:, 2], np.nan)
    return f1, f2, f3


def _speaker_scale(audio: FloatArray, sample_rate: int, vowel: FloatArray, hop_rate: int) -> float:
    """How much higher this speaker's formants sit than an adult male's (a shorter vocal tract).

    Judged from the voice's pitch (librosa's YIN), not from the formants themselves: a sentence
    of only /i/ would otherwise talk itself into a child's scale and lose its spread lips.
    Women's formants sit about 15-20 % above men's, children's more.
    """
    if vowel.sum() < 10:
        return 1.0
    hop = max(1, round(sample_rate / hop_rate))
    f0 = librosa.yin(
        np.asarray(audio, np.float32),
        fmin=70.0,
        fmax=400.0,
        sr=sample_rate,
        frame_length=1024,
        hop_length=hop,
    )
    f0 = f0[: len(vowel)][vowel[: len(f0)]]
    if f0.size < 10:
        return 1.0
    return float(np.clip((np.median(f0) / 120.0) ** 0.3, 1.0, 1.25))


def _spectrum(audio: FloatArray, sample_rate: int, hop: float, n_hops: int) -> tuple[FloatArray, FloatArray]:
    """Power spectrogram (freq x hops) with one column per analysis hop."""
    n_fft = 512 if sample_rate <= 24_000 else 1024
    spec = np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft, hop_length=round(hop))) ** 2
    if spec.shape[1] < n_hops:
        spec = np.pad(spec, ((0, 0), (0, n_hops - spec.shape[1])))
    return spec[:, :n_hops], librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)


#: What the bilabial score reads off each dark stretch (see `closure_candidates`), in this order.
CLOSURE_FEATURES: tuple[str, ...] = (
    "burst_hiss",  # release: dB above 4 kHz against 1-4 kHz (t, k, ch hiss; p, b do not)
    "burst_tilt",  # release: dB at 2-4 kHz against 1-2 kHz
    "murmur_tilt",  # inside: dB at 2-4 kHz against 1-2 kHz (m hums low; n, ng higher)
    "murmur_low",  # inside: dB under 1 kHz against above it
    "murmur_bass",  # inside: dB at 80-300 Hz against 300-1000 Hz
    "f2_onset",  # second formant (speaker-scaled, kHz) just after the release: low out of the lips
    "f2_offset",  # second formant (speaker-scaled, kHz) just before the stretch: low into the lips
    "depth",  # how dark (dB under the loudest 300 ms around it, at most 60)
    "duration",  # hops
    "murmur_hiss",  # inside: dB above 4 kHz against 1-4 kHz (breath and room noise)
    "burst_jump_high",  # dB the release rises above 4 kHz over the stretch (t's burst jumps)
    "burst_jump_mid",  # dB the release rises at 1-4 kHz over the stretch
    # cepstral coefficients 1-8 (recording mean removed; see _cepstra) inside the stretch, over its
    # release (40 ms), the sound after it (50-120 ms on) and the sound before it (60 ms)
    *(f"{where}_c{k}" for where in ("inside", "release", "after", "before") for k in range(1, 9)),
)
#: The bilabial score: a small neural network (one hidden layer) over the standardised features,
#: with the probability it is read at. Fitted by `python bench/visemes.py --fit` on the dev split
#: (its own voices and sentences); the held-out split measures it. Shipped with the package.
CLOSURE_MODEL_PATH = Path(__file__).with_name("closure_model.json")


@dataclass(frozen=True)
class ClosureModel:
    """P(this dark stretch is the lips shut), from its features (see CLOSURE_MODEL_PATH)."""

    mean: FloatArray  # (features,)
    spread: FloatArray  # (features,)
    hidden_weight: FloatArray  # (features, hidden)
    hidden_bias: FloatArray  # (hidden,)
    out_weight: FloatArray  # (hidden,)
    out_bias: float
    threshold: float  # probability above which a stretch closes the lips

    def probability(self, features: FloatArray) -> FloatArray:
        """P(bilabial) per row of `features` (one row per dark stretch)."""
        hidden = np.maximum(
            ((features - self.mean) / self.spread) @ self.hidden_weight + self.hidden_bias, 0.0
        )
        logit = np.clip(hidden @ self.out_weight + self.out_bias, -50.0, 50.0)
        p: FloatArray = 1.0 / (1.0 + np.exp(-logit))
        return p


@functools.cache
def closure_model() -> ClosureModel:
    """The shipped bilabial score (read once per process)."""
    data = json.loads(CLOSURE_MODEL_PATH.read_text())
    if list(data["features"]) != list(CLOSURE_FEATURES):
        raise RuntimeError(f"{CLOSURE_MODEL_PATH.name} was fitted on other features; refit it")
    return ClosureModel(
        mean=np.array(data["mean"], np.float64),
        spread=np.array(data["spread"], np.float64),
        hidden_weight=np.array(data["hidden_weight"], np.float64),
        hidden_bias=np.array(data["hidden_bias"], np.float64),
        out_weight=np.array(data["out_weight"], np.float64),
        out_bias=float(data["out_bias"]),
        threshold=float(data["threshold"]),
    )


def closure_candidates(
    spec: FloatArray,
    freqs: FloatArray,
    energy: FloatArray,
    speech: FloatArray,
    hop_rate: int,
    f2n: FloatArray,
) -> list[tuple[int, int, FloatArray]]:
    """Dark stretches inside speech that could be a closed mouth: (first hop, end hop, features).

    With the lips shut no sound above 1 kHz gets out (a stop's silence, a nasal's hum), so every
    bilabial is a stretch 20-400 ms long whose energy above 1 kHz drops CLOSURE_DARK_DB under
    the loudest 300 ms around it. So are t, d, k, g, n and ng: `CLOSURE_FEATURES` describe what
    tells them apart (how the stop releases, how the murmur is coloured, where F2 points).
    """
    n = len(energy)
    if n < 10:
        return []

    def band(lo: float, hi: float) -> FloatArray:
        summed: FloatArray = spec[(freqs >= lo) & (freqs < hi)].sum(axis=0) + 1e-10
        return summed

    bright_db = 10.0 * np.log10(band(1000, 8000))
    low, mid, high = band(80, 1000), band(1000, 4000), band(4000, 8000)
    b12, b24, bass, lowmid = band(1000, 2000), band(2000, 4000), band(80, 300), band(300, 1000)
    around = ndimage.maximum_filter1d(bright_db, size=round(0.3 * hop_rate), mode="nearest")
    dark = bright_db < around - CLOSURE_DARK_DB
    dark &= ndimage.binary_dilation(speech, np.ones(round(0.1 * hop_rate), bool))
    labels, count = ndimage.label(dark)
    shortest, longest = round(0.02 * hop_rate), round(0.4 * hop_rate)
    cepstra = _cepstra(spec, freqs, speech)
    out: list[tuple[int, int, FloatArray]] = []
    for a, b in ((int(s.start), int(s.stop)) for (s,) in ndimage.find_objects(labels)[:count]):
        if not shortest <= b - a <= longest:
            continue
        release = slice(b, min(n, b + round(0.04 * hop_rate)))
        inside = slice(a, b)
        after = slice(b + round(0.05 * hop_rate), b + round(0.12 * hop_rate))
        before = slice(max(0, a - round(0.06 * hop_rate)), a)

        features = [
            _ratio(high, mid, release),
            _ratio(b24, b12, release),
            _ratio(b24, b12, inside),
            _ratio(low, mid + high, inside),
            _ratio(bass, lowmid, inside),
            _median_khz(f2n[release]),
            _median_khz(f2n[max(0, a - round(0.04 * hop_rate)) : a]),
            min(float(np.max(around[inside] - bright_db[inside])), 60.0),
            float(b - a),
            _ratio(high, mid, inside),
            _jump(high, inside, release),
            _jump(mid, inside, release),
        ]
        for where in (inside, release, after, before):
            features += _mean_cepstrum(cepstra, where)
        out.append((a, b, np.array(features)))
    return out


#: Cepstral coefficients per stretch (1..N_CEPSTRA of 26 mel bands; c0, the loudness, is left out).
N_CEPSTRA = 8  # CLOSURE_FEATURES names them


def _cepstra(spec: FloatArray, freqs: FloatArray, speech: FloatArray) -> FloatArray:
    """MFCCs 1..N_CEPSTRA per hop, less their mean over speech (cepstral mean normalisation).

    Subtracting the recording's own mean takes out what is the same in every sound of it (the
    microphone, the room, the speaker's vocal tract and breathiness), as speech recognisers do.
    """
    sample_rate = round(2 * float(freqs[-1]))
    n_fft = 2 * (len(freqs) - 1)
    top = min(8000.0, sample_rate / 2)
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=26, fmin=80.0, fmax=top)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel @ spec, top_db=80.0), n_mfcc=N_CEPSTRA + 1)[1:]
    voiced = speech[: mfcc.shape[1]]
    centre = mfcc[:, voiced].mean(axis=1, keepdims=True) if voiced.any() else mfcc.mean(axis=1, keepdims=True)
    normalised: FloatArray = mfcc - centre
    return normalised


def _mean_cepstrum(cepstra: FloatArray, where: slice) -> list[float]:
    part = cepstra[:, where]
    return [float(v) for v in part.mean(axis=1)] if part.shape[1] else [0.0] * len(cepstra)


def _ratio(x: FloatArray, y: FloatArray, where: slice) -> float:
    """dB of x over y summed over `where` (0 where it holds no hops)."""
    return float(10.0 * np.log10(x[where].sum() / y[where].sum())) if x[where].size else 0.0


def _jump(x: FloatArray, inside: slice, release: slice) -> float:
    """dB the release's mean rises over the stretch's (0 where the recording ends first)."""
    return float(10.0 * np.log10(x[release].mean() / x[inside].mean())) if x[release].size else 0.0


def _median_khz(f: FloatArray) -> float:
    """Median of the finite values in kHz; 1.5 kHz (a neutral tract) where there are none."""
    f = f[np.isfinite(f)]
    return float(np.median(f)) / 1000.0 if f.size else 1.5


def _closures(
    spec: FloatArray,
    freqs: FloatArray,
    energy: FloatArray,
    speech: FloatArray,
    hop_rate: int,
    f2n: FloatArray,
) -> FloatArray:
    """Hops with the lips shut: dark stretches inside speech that score as bilabials.

    Never where the speaker is loud: a stretch whose own loudness is near the speaker's loud
    syllables is a vowel the formant tracker lost, not a closed mouth.
    """
    n = len(energy)
    out = np.zeros(n)
    candidates = closure_candidates(spec, freqs, energy, speech, hop_rate, f2n)
    model = closure_model()
    scores = model.probability(np.array([f for _, _, f in candidates])) if candidates else np.zeros(0)
    for (a, b, _), score in zip(candidates, scores.tolist(), strict=True):
        if float(np.mean(energy[a:b])) > CLOSURE_MAX_LEVEL or score <= model.threshold:
            continue
        # The lips meet for CLOSURE_HOLD, not the whole stretch: a nasal hums on through its
        # closure and a stop's silence is short against the 80 ms a listener hears loudness
        # over, so a mouth held shut over all of it reads as out of step with the sound. Before
        # a phrase that opens with p or b, the pause is the closure.
        long_stretch = b - a >= round(CLOSURE_LONG * hop_rate)
        hold = round((CLOSURE_HOLD_LONG if long_stretch else CLOSURE_HOLD) * hop_rate)
        if b - a <= hold:
            start = a
        elif float(np.mean(speech[a:b])) >= 0.5:
            # Around the quietest moment (energy over 80 ms, as a listener hears a syllable's
            # loudness) of the stretch's second half: the lips meet where the sound is least. The
            # second half, since a stretch scores as a bilabial mostly by how it ends (its release,
            # where F2 heads): in "black bag" or "stopped" the silence of another stop (k, t) runs
            # on into the b or p, and the lips shut late in it.
            half = (a + b) // 2
            quiet = ndimage.uniform_filter1d(energy, round(0.08 * hop_rate), mode="nearest")[half:b]
            start = min(max(a, half + int(np.argmin(quiet)) - hold // 2), b - hold)
        elif speech[b : b + round(0.03 * hop_rate)].any():
            start = b - hold  # shut at the end of the pause, opened by the phrase's first sound
        else:
            continue  # the silence before or after an utterance: the mouth rests there
        out[start : min(b, start + hold)] = 1.0
    if n < 10:
        return out
    bright_db = 10.0 * np.log10(spec[(freqs >= 1000) & (freqs < 8000)].sum(axis=0) + 1e-10)
    # A phrase that starts with m, b or p: the lips are shut before the first sound and open
    # on it. An m hums with nothing above 1 kHz before the vowel brightens.
    starts = np.flatnonzero(np.diff(np.concatenate([[False], speech]).astype(np.int8)) == 1)
    lead = round(0.06 * hop_rate)
    for s in starts.tolist():
        ahead = bright_db[s : s + round(0.3 * hop_rate)]
        if ahead.size < round(0.1 * hop_rate):
            continue
        brightest = float(ahead.max())
        # The first hops that stay dark while the low band hums: a nasal murmur.
        murmur = 0
        while murmur < ahead.size and ahead[murmur] < brightest - ONSET_HUM_DB and energy[s + murmur] > 0.05:
            murmur += 1
        if round(0.03 * hop_rate) <= murmur <= round(0.2 * hop_rate):
            out[max(0, s - lead) : s + murmur] = 1.0
    return out


def _hold(x: FloatArray, hop_rate: int) -> FloatArray:
    """Fills NaN gaps shorter than ~150 ms from both sides (smoothly), longer ones with 0."""
    valid = np.isfinite(x)
    if not valid.any():
        return np.zeros_like(x)
    filled = np.where(valid, x, 0.0)
    weight = valid.astype(np.float64)
    sigma = 0.035 * hop_rate
    num = ndimage.gaussian_filter1d(filled, sigma, mode="constant")
    den = ndimage.gaussian_filter1d(weight, sigma, mode="constant")
    held: FloatArray = np.where(den > 0.05, num / np.maximum(den, 1e-6), 0.0) * np.clip(den / 0.3, 0.0, 1.0)
    return held


# --- coarticulation ------------------------------------------------------------------------------


def _anticipate(x: FloatArray, hop_rate: int) -> FloatArray:
    """Rounding that starts up to ROUND_LEAD before its sound and lets go quicker after it."""
    early = _follow(x[::-1], hop_rate, attack_ms=20.0, release_ms=1000.0 * ROUND_LEAD / 2.0)[::-1]
    late = _follow(x, hop_rate, attack_ms=20.0, release_ms=50.0)
    return np.maximum(early, late)


def _coarticulate(x: FloatArray, hop_rate: int, attack_ms: float, release_ms: float) -> FloatArray:
    """Zero-phase mouth inertia: a follower forwards and backwards, averaged."""
    forward = _follow(x, hop_rate, attack_ms, release_ms)
    backward = _follow(x[::-1], hop_rate, attack_ms, release_ms)[::-1]
    mean: FloatArray = 0.5 * (forward + backward)
    return mean


def _follow(x: FloatArray, hop_rate: int, attack_ms: float, release_ms: float) -> FloatArray:
    """One-pole envelope follower with separate rise and fall time constants."""
    a_up = math.exp(-1000.0 / (attack_ms * hop_rate))
    a_down = math.exp(-1000.0 / (release_ms * hop_rate))
    out = np.empty(len(x), dtype=np.float64)
    y = 0.0
    for i, v in enumerate(np.asarray(x, np.float64).tolist()):
        a = a_up if v > y else a_down
        y = a * y + (1.0 - a) * v
        out[i] = y
    return out


class _FrameSampler:
    """Averages a hop-rate signal over each video frame's own time span [i/fps, (i+1)/fps)."""

    def __init__(self, n_hops: int, hop_rate: int, fps: int, n_frames: int) -> None:
        edges = np.round(np.arange(n_frames + 1) * hop_rate / fps).astype(np.int64)
        self.starts = np.clip(edges[:-1], 0, max(n_hops - 1, 0))
        self.stops = np.clip(np.maximum(edges[1:], edges[:-1] + 1), 1, max(n_hops, 1))
        self.stops = np.maximum(self.stops, self.starts + 1)
        self.n_hops = n_hops

    def mean(self, x: FloatArray) -> FloatArray:
        x = np.nan_to_num(np.asarray(x, dtype=np.float64))
        if self.n_hops == 0:
            return np.zeros(len(self.starts))
        csum = np.concatenate([[0.0], np.cumsum(x)])
        averaged: FloatArray = (csum[self.stops] - csum[self.starts]) / (self.stops - self.starts)
        return averaged
