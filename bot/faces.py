"""Draws numbered boxes on the faces of a photo, so a user can pick who speaks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

#: Longest side of the picture sent back; Telegram recompresses anything larger anyway.
MAX_SIDE = 1280
_COLOUR = (0, 200, 255)  # BGR amber: readable on skin, hair and most backgrounds


def draw_numbered_faces(image: Path | str | bytes, boxes: Sequence[Sequence[int]]) -> bytes:
    """Returns a JPEG of `image` with `boxes` (x, y, w, h in photo pixels) outlined and numbered 1..n."""
    if isinstance(image, bytes):
        picture = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    else:
        # imread applies the EXIF orientation, the same frame the analysis measured boxes in.
        picture = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if picture is None:
        raise ValueError("unreadable image")
    scale = min(1.0, MAX_SIDE / max(picture.shape[:2]))
    if scale < 1.0:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    thickness = max(2, round(max(picture.shape[:2]) / 300))
    for number, (x, y, w, h) in enumerate(boxes, start=1):
        x0, y0 = round(x * scale), round(y * scale)
        x1, y1 = round((x + w) * scale), round((y + h) * scale)
        cv2.rectangle(picture, (x0, y0), (x1, y1), _COLOUR, thickness)
        label = str(number)
        font_scale = max(0.6, (x1 - x0) / 120)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        # The label sits on a filled tab above the box, or inside it at the top edge.
        top = y0 - th - base - 2 * thickness if y0 - th - base - 2 * thickness >= 0 else y0
        cv2.rectangle(
            picture, (x0, top), (x0 + tw + 2 * thickness, top + th + base + 2 * thickness), _COLOUR, -1
        )
        cv2.putText(
            picture,
            label,
            (x0 + thickness, top + th + thickness),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit BGR image
        raise ValueError("could not encode the picture")
    return encoded.tobytes()
