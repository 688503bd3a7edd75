"""The /voice catalog: every language users can pick, each with an offline voice that can speak it."""

from __future__ import annotations

import pytest

from bot import voices


def test_catalog_offers_english_chinese_and_more_languages() -> None:
    grouped = voices.voices_by_language()

    assert list(grouped) == ["en", "zh", "es", "de", "fr", "ru", "ja"]
    assert all(len(group) >= 2 for group in grouped.values())
    assert voices.LANGUAGES["zh"] == "中文"
    assert {v.id for v in grouped["zh"]} >= {"zh-CN-XiaoxiaoNeural", "zh-CN-YunxiNeural"}


def test_offline_fallbacks_are_piper_for_english_and_espeak_otherwise() -> None:
    for voice in voices.VOICES:
        if voice.language == "en":
            assert (voice.offline.engine, voice.offline.name) == ("piper", voices.PIPER_ENGLISH)
        else:
            assert voice.offline.engine == "espeak-ng"
    assert voices.get_voice("zh-CN-XiaoxiaoNeural").offline.name == "cmn+f3"  # type: ignore[union-attr]


def test_voice_buttons_fit_telegram_callback_data() -> None:
    for voice in voices.VOICES:
        assert len(f"voice:{voice.id}".encode()) <= 64
        assert voice.label


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("zh-hans", "zh-CN-XiaoxiaoNeural"),
        ("zh-TW", "zh-CN-XiaoxiaoNeural"),
        ("en-GB", "en-US-AriaNeural"),
        ("de", "de-DE-KatjaNeural"),
        ("pt-br", "en-US-AriaNeural"),
        (None, "en-US-AriaNeural"),
    ],
)
def test_default_voice_follows_the_users_telegram_language(language_code: str | None, expected: str) -> None:
    assert voices.default_voice(language_code).id == expected


def test_chosen_voice_wins_and_unknown_ones_fall_back() -> None:
    assert voices.resolve_voice("ru-RU-DmitryNeural", "en").id == "ru-RU-DmitryNeural"
    assert voices.resolve_voice("gone-Voice", "fr").id == "fr-FR-DeniseNeural"
    assert voices.get_voice("voice:../../etc") is None
    assert voices.resolve_voice(None, "zh").label == "晓晓"
