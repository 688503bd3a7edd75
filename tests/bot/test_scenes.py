"""Scene texts and small helpers; the flows themselves are tested end to end in tests/e2e/test_scenes.py."""

from __future__ import annotations

import string

import pytest

from bot import scenes
from bot.texts import CATALOG, t


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(scenes.SCENE_TEXTS))
def test_scene_texts_are_in_the_catalog_in_both_languages(key: str) -> None:
    entry = CATALOG[key]
    assert set(entry) == {"en", "zh"}
    assert all(entry[lang].strip() for lang in ("en", "zh"))
    assert _fields(entry["en"]) == _fields(entry["zh"])


def test_every_scene_command_has_a_menu_description() -> None:
    for command in scenes.SCENE_COMMANDS:
        assert t(f"cmd_{command}", "en") and t(f"cmd_{command}", "zh")


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0"), (2.0, "2"), (2.46, "2.5"), (9.96, "10"), (14.6, "15")]
)
def test_seconds_read_naturally(seconds: float, shown: str) -> None:
    assert scenes.format_seconds(seconds) == shown
