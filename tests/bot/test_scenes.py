"""Scene texts and small helpers; the flows themselves are tested end to end in tests/e2e/test_scenes.py."""

from __future__ import annotations

import pytest

from bot import scenes
from bot.scene_view import format_seconds
from bot.texts import t


def test_every_scene_command_has_a_menu_description() -> None:
    for command in scenes.SCENE_COMMANDS:
        assert t(f"cmd_{command}", "en") and t(f"cmd_{command}", "zh")


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0"), (2.0, "2"), (2.46, "2.5"), (9.96, "10"), (14.6, "15")]
)
def test_seconds_read_naturally(seconds: float, shown: str) -> None:
    assert format_seconds(seconds) == shown
