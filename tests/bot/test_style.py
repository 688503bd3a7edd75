"""Styles in the bot: caption hashtags, the remembered choice, button data, the job payload, texts."""

from __future__ import annotations

import pytest

from bot.callbacks import motion_data, parse_motion, parse_style, style_data
from bot.request import VERSION, PhotoRef, RenderJob, UnreadableRequest, render_job, track_from
from bot.styles import (
    KEYWORDS,
    MOTION_STEPS,
    StyleChoice,
    caption_style,
    choice_of,
    motion_label,
    style_label,
)
from bot.texts import CATALOG, t
from generator.types import MOTION_RANGE, STYLES
from storage import User


@pytest.mark.parametrize(
    ("caption", "style", "words"),
    [
        ("#calm Hello there", "calm", "Hello there"),
        ("Hello #LIVELY there", "lively", "Hello there"),
        ("#serious", "serious", ""),
        ("#平静 你好", "calm", "你好"),
        ("你好 #开朗", "cheerful", "你好"),
        ("#tag #cheerful #calm hi", "cheerful", "#tag hi"),  # the first style wins, both are removed
    ],
)
def test_a_style_hashtag_in_a_caption_names_the_style_and_is_not_spoken(
    caption: str, style: str, words: str
) -> None:
    assert caption_style(caption) == (style, words)


@pytest.mark.parametrize(
    "caption",
    ["Stay calm", "calm", "#calmly now", "#平静你好", "issue#calm", "##calm", "", "Hello #friends"],
)
def test_captions_without_a_style_hashtag_are_left_as_written(caption: str) -> None:
    assert caption_style(caption) == (None, caption)


def test_every_style_has_an_english_and_a_chinese_hashtag() -> None:
    for style in STYLES:
        assert KEYWORDS[style] == style
        assert KEYWORDS[t(f"style_{style}", "zh")] == style
    assert {t(f"style_{style}", "zh") for style in STYLES} == {"自然", "平静", "活泼", "严肃", "开朗"}


def test_the_remembered_choice_falls_back_to_natural_at_normal_motion() -> None:
    assert choice_of(None) == StyleChoice("natural", 1.0)
    assert choice_of(User(id=1)) == StyleChoice("natural", 1.0)
    assert choice_of(User(id=1, style="lively", motion=1.5)) == StyleChoice("lively", 1.5)
    # values /style does not offer (a later version's, or a hand-edited row) are not passed on
    assert choice_of(User(id=1, style="angry", motion=1.9)) == StyleChoice("natural", 1.0)


def test_motion_steps_lie_inside_the_generators_range() -> None:
    low, high = MOTION_RANGE
    assert MOTION_STEPS == {"less": 0.5, "normal": 1.0, "more": 1.5}
    assert all(low <= value <= high for value in MOTION_STEPS.values())


def test_button_data_round_trips_and_forged_data_is_refused() -> None:
    for style in STYLES:
        assert parse_style(style_data(style)) == style
    for motion in MOTION_STEPS.values():
        assert parse_motion(motion_data(motion)) == motion
    for forged in ("style:angry", "style:", "style:calm:1", "motion:1.9", "motion:2", "motion:-1.0", None):
        assert parse_style(forged) is None and parse_motion(forged) is None


def test_style_and_motion_survive_the_job_payload_and_old_payloads_read_as_natural() -> None:
    job = render_job(
        language="en",
        photo=PhotoRef("p", "pu"),
        tracks=[track_from("voice", 7, file_id="v")],
        style="cheerful",
        motion=0.5,
    )
    payload = job.to_payload()
    assert (payload["style"], payload["motion"], payload["version"]) == ("cheerful", 0.5, VERSION)
    assert RenderJob.from_payload(payload) == job
    del payload["style"], payload["motion"]  # written before styles existed
    old = RenderJob.from_payload(payload)
    assert (old.style, old.motion) == ("natural", 1.0)


@pytest.mark.parametrize(
    "damage", [{"style": "angry"}, {"style": None}, {"motion": 2.5}, {"motion": "1.0"}, {"motion": True}]
)
def test_a_payload_with_an_unknown_style_or_motion_is_refused(damage: dict[str, object]) -> None:
    payload = render_job(
        language="en", photo=PhotoRef("p", "pu"), tracks=[track_from("voice", 7, file_id="v")]
    ).to_payload()
    with pytest.raises(UnreadableRequest):
        RenderJob.from_payload({**payload, **damage})


def test_style_texts_exist_in_chinese() -> None:
    for key in ("style_menu", "style_set", "style_for_photo", "cmd_style"):
        assert CATALOG[key]["zh"] != CATALOG[key]["en"]
    assert style_label("lively", "zh") == "活泼"
    assert motion_label(1.5, "zh") == "多动一点"
    assert "/style" in t("help", "zh") and "/style" in t("help", "en")
    assert all(f"#{t(f'style_{s}', 'zh')}" in t("style_menu", "zh") for s in STYLES)
    assert all(f"#{s}" in t("style_menu", "en") for s in STYLES)
