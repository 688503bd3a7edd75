"""The catalog: every message in both languages, with the same placeholders; language choice."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot.texts import CATALOG, LANGUAGES, language_of, t
from generator.types import ErrorCode


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_every_message_exists_in_every_language_with_the_same_placeholders(key: str) -> None:
    entry = CATALOG[key]
    assert set(entry) == set(LANGUAGES)
    assert all(entry[lang].strip() for lang in LANGUAGES)
    assert _fields(entry["en"]) == _fields(entry["zh"])


def test_every_generator_refusal_a_user_can_meet_has_a_message() -> None:
    for code in ErrorCode:
        assert str(code) in CATALOG, code


@pytest.mark.parametrize(
    ("code", "lang"),
    [("zh-hans", "zh"), ("zh-CN", "zh"), ("zh", "zh"), ("en", "en"), ("de", "en"), (None, "en"), ("", "en")],
)
def test_language_follows_telegram_language_code(code: str | None, lang: str) -> None:
    assert language_of(code) == lang


def test_t_formats_in_the_chosen_language() -> None:
    assert t("queued", "en", position=3) == "Got it — you are number 3 in the queue."
    assert "3" in t("queued", "zh", position=3) and "队" in t("queued", "zh", position=3)
    assert t("face_button", "fr", number=2) == "Face 2"  # unknown language falls back to English


def test_every_key_the_bot_asks_for_is_in_the_catalog() -> None:
    used: set[str] = set()
    for source in (Path(__file__).resolve().parents[2] / "bot").glob("*.py"):
        used |= set(re.findall(r"\bt\(\s*\"([a-z0-9_]+)\"", source.read_text()))
    assert used, "no t() calls found: the pattern is out of date"
    assert used - set(CATALOG) == set()
