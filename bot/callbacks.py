"""Callback data of the bot's buttons: built and parsed in one place, never trusted.

A client can send any callback data with any message, so handlers check what the data names
(a photo, a scene, a face) against the chat and user the press came from before acting on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from bot.styles import MOTION_STEPS
from generator.types import STYLES, Style

_FACE = re.compile(r"face:(\d{1,18}):(\d{1,3}|all)")
_SCENE = re.compile(r"scene:(\d{1,18}):(?:(claim):(\d{1,3})|(render)|(trim))")


@dataclass(frozen=True)
class FacePick:
    """A press on the private face picker: which stored photo, which face (None: all together)."""

    media_id: int
    face: int | None


@dataclass(frozen=True)
class SceneAction:
    """A press on a scene message: claim (with a face), render, or trim (render the first seconds)."""

    scene_id: int
    action: str
    face: int | None = None


def face_data(media_id: int, face: int | None) -> str:
    """Callback data for a face-picker button (None: all together)."""
    return f"face:{media_id}:{'all' if face is None else face}"


def parse_face(data: str | None) -> FacePick | None:
    """The face pick a button's data names, or None if it is not one of ours."""
    match = _FACE.fullmatch(data or "")
    if match is None:
        return None
    media_id, choice = match.groups()
    return FacePick(int(media_id), None if choice == "all" else int(choice))


def scene_data(scene_id: int, action: str, face: int | None = None) -> str:
    """Callback data for a scene button."""
    return f"scene:{scene_id}:{action}" + (f":{face}" if face is not None else "")


def parse_scene(data: str | None) -> SceneAction | None:
    """The scene action a button's data names, or None if it is not one of ours."""
    match = _SCENE.fullmatch(data or "")
    if match is None:
        return None
    scene_id, claim, face, render, trim = match.groups()
    return SceneAction(int(scene_id), claim or render or trim, None if face is None else int(face))


# --- /style ---------------------------------------------------------------------------------------

_STYLE = re.compile(r"style:([a-z]{1,16})")
_MOTION = re.compile(r"motion:(\d\.\d)")


def style_data(style: str) -> str:
    """Callback data for a /style style button."""
    return f"style:{style}"


def parse_style(data: str | None) -> Style | None:
    """The style a button's data names, or None if it is not one /style offers."""
    match = _STYLE.fullmatch(data or "")
    if match is None or match.group(1) not in STYLES:
        return None
    return cast(Style, match.group(1))


def motion_data(motion: float) -> str:
    """Callback data for a /style motion button."""
    return f"motion:{motion:.1f}"


def parse_motion(data: str | None) -> float | None:
    """The motion scale a button's data names, or None if it is not one /style offers."""
    match = _MOTION.fullmatch(data or "")
    if match is None or float(match.group(1)) not in MOTION_STEPS.values():
        return None
    return float(match.group(1))
