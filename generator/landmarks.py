"""Index sets into MediaPipe's 478-point face mesh, defined once for every stage.

Loops (`*_OUTER`, `*_INNER`, `*_EYE`, `FACE_OVAL`) are ordered polygons, so they can be filled or
warped as shapes. "Left" and "right" are the subject's own: the subject's left eye appears on the
image's right. Indices 468–477 (the irises) exist only with `refine_landmarks=True`, which
`analysis.py` always uses. `tests/generator/test_landmarks.py` checks every loop against
MediaPipe's own connection sets, so a typo here cannot slip through.
"""

from __future__ import annotations

#: Number of points in a refined face mesh.
N_LANDMARKS = 478

# --- mouth -------------------------------------------------------------------------------------
#: Outer lip contour, from the right mouth corner (61) along the lower lip, back along the upper lip.
LIPS_OUTER: tuple[int, ...] = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375,
    291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
)  # fmt: skip
#: Inner lip contour (the mouth opening), from the right inner corner (78) along the lower lip.
LIPS_INNER: tuple[int, ...] = (
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324,
    308, 415, 310, 311, 312, 13, 82, 81, 80, 191,
)  # fmt: skip
#: The inner-lip points of the lower lip, right corner to left corner (corners included).
LIPS_INNER_LOWER: tuple[int, ...] = LIPS_INNER[:11]
#: The inner-lip points of the upper lip, left corner to right corner (corners included).
LIPS_INNER_UPPER: tuple[int, ...] = (*LIPS_INNER[10:], LIPS_INNER[0])
#: The outer-lip points of the lower lip, right corner to left corner.
LIPS_OUTER_LOWER: tuple[int, ...] = LIPS_OUTER[:11]
#: The outer-lip points of the upper lip, left corner to right corner.
LIPS_OUTER_UPPER: tuple[int, ...] = (*LIPS_OUTER[10:], LIPS_OUTER[0])
#: Middle of the upper and lower inner lip: their distance is the mouth opening.
UPPER_LIP_INNER_MID = 13
LOWER_LIP_INNER_MID = 14
#: Middle of the upper and lower outer lip.
UPPER_LIP_OUTER_MID = 0
LOWER_LIP_OUTER_MID = 17
#: Mouth corners, outer contour (subject's right, subject's left).
MOUTH_CORNER_RIGHT = 61
MOUTH_CORNER_LEFT = 291
#: Mouth corners, inner contour.
MOUTH_INNER_CORNER_RIGHT = 78
MOUTH_INNER_CORNER_LEFT = 308
#: Every lip point, outer and inner.
LIPS: tuple[int, ...] = tuple(sorted(set(LIPS_OUTER) | set(LIPS_INNER)))

# --- eyes --------------------------------------------------------------------------------------
#: Subject's right eye (image left), from the outer corner (33) along the lower lid, back along the upper.
RIGHT_EYE: tuple[int, ...] = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
)  # fmt: skip
#: Subject's left eye (image right), from the inner corner (362) along the lower lid, back along the upper.
LEFT_EYE: tuple[int, ...] = (
    362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398,
)  # fmt: skip
#: Upper-lid points of each eye (corner to corner), what a blink pulls down.
RIGHT_EYE_UPPER: tuple[int, ...] = (133, 173, 157, 158, 159, 160, 161, 246, 33)
LEFT_EYE_UPPER: tuple[int, ...] = (263, 466, 388, 387, 386, 385, 384, 398, 362)
#: Lower-lid points of each eye (corner to corner).
RIGHT_EYE_LOWER: tuple[int, ...] = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_LOWER: tuple[int, ...] = (362, 382, 381, 380, 374, 373, 390, 249, 263)
#: Points for the eye aspect ratio, (corner, corner, upper, lower, upper, lower, upper, lower) per eye:
#: EAR = mean of the three vertical lid gaps over the corner-to-corner width.
RIGHT_EYE_EAR: tuple[int, ...] = (33, 133, 160, 144, 159, 145, 158, 153)
LEFT_EYE_EAR: tuple[int, ...] = (362, 263, 385, 380, 386, 374, 387, 373)
#: Irises (refined mesh only): centre first, then four points on the rim.
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)

# --- brows -------------------------------------------------------------------------------------
#: Subject's right brow (image left): upper edge outer→inner, then lower edge inner→outer.
RIGHT_BROW: tuple[int, ...] = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
#: Subject's left brow (image right): upper edge outer→inner, then lower edge inner→outer.
LEFT_BROW: tuple[int, ...] = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)

# --- face outline --------------------------------------------------------------------------------
#: Face oval, clockwise in the image from the top of the forehead (10).
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288,
    397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136,
    172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
#: The jaw line, part of the oval from ear (image right, 454) round the chin (152) to ear (234):
#: what moves when the mouth opens.
JAW: tuple[int, ...] = FACE_OVAL[FACE_OVAL.index(454) : FACE_OVAL.index(234) + 1]
#: Chin tip, forehead top, nose tip, nose bridge (between the eyes).
CHIN = 152
FOREHEAD = 10
NOSE_TIP = 1
NOSE_BRIDGE = 168
#: Cheek extremes, image left (subject's right) and image right: their distance is the face width.
CHEEK_RIGHT = 234
CHEEK_LEFT = 454

#: Six points for head pose against `CANONICAL_POSE_POINTS`: nose tip, chin, eye outer corners,
#: mouth corners.
POSE_POINTS: tuple[int, ...] = (NOSE_TIP, CHIN, 33, 263, MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT)
