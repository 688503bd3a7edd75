"""The performance styles users pick: the motion steps /style offers, caption keywords, and which
style and motion a render uses.

A render uses the user's remembered choice (/style, stored on their row), except that a photo whose
caption named a style with a hashtag (#calm, #平静 …) uses that style for its own videos; the
remembered choice stays. A group scene renders with the remembered choice of the member who
started it (only they can render it), since a scene has no caption of its own.

Keywords are hashtags, not bare words, because a caption's words are also the text the photo
speaks: "Stay calm" must be said, not taken as an order. The hashtag is removed from the words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.runtime import Runtime
from bot.texts import LANGUAGES, t
from generator.types import STYLES, Style
from storage import User, users

#: The motion scales /style offers, by name (texts: motion_<name>); 1.0 is the style as designed.
MOTION_STEPS: Final = {"less": 0.5, "normal": 1.0, "more": 1.5}

#: Caption hashtags naming a style: the style ids and every catalog language's label (#calm, #平静).
KEYWORDS: Final[dict[str, Style]] = {
    **{style: style for style in STYLES},
    **{t(f"style_{style}", lang).lower(): style for style in STYLES for lang in LANGUAGES},
}

# A hashtag as Telegram sees one: "#" after a non-word character, then letters, digits or "_".
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


@dataclass(frozen=True)
class StyleChoice:
    """How the person performs: a style and a motion scale."""

    style: Style = "natural"
    motion: float = 1.0


def choice_of(user: User | None) -> StyleChoice:
    """The user's remembered choice; the default for a new user and for values /style no longer offers."""
    if user is None:
        return StyleChoice()
    style = user.style if user.style in STYLES else "natural"
    motion = user.motion if user.motion is not None and user.motion in MOTION_STEPS.values() else 1.0
    return StyleChoice(style, motion)


async def remembered(rt: Runtime, user_id: int) -> StyleChoice:
    """The style and motion the user picked with /style (the default if they never did)."""
    async with rt.db.read_session() as s:
        return choice_of(await users.get_user(s, user_id))


def with_photo_style(choice: StyleChoice, photo_style: str | None) -> StyleChoice:
    """What a render uses: the user's remembered choice, its style replaced by the photo's keyword."""
    if photo_style in STYLES:
        return StyleChoice(photo_style, choice.motion)
    return choice


def caption_style(caption: str) -> tuple[Style | None, str]:
    """The style a caption's hashtag names (the first one) and the caption without those hashtags."""
    found: list[Style] = []

    def take(match: re.Match[str]) -> str:
        style = KEYWORDS.get(match.group(1).lower())
        if style is None:
            return match.group(0)  # another hashtag: part of the words
        found.append(style)
        return ""

    rest = _HASHTAG.sub(take, caption)
    if not found:
        return None, caption
    return found[0], " ".join(rest.split())


def style_label(style: str, lang: str) -> str:
    """A style's name in the user's language."""
    return t(f"style_{style}", lang)


def motion_label(motion: float, lang: str) -> str:
    """A motion step's name in the user's language."""
    name = next((name for name, value in MOTION_STEPS.items() if value == motion), "normal")
    return t(f"motion_{name}", lang)
