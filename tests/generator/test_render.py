"""The CPU rig: the photo itself on the first frame, a moving mouth, a background that stays put."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from generator import landmarks as lm
from generator.analysis import analyze_image, segment_person
from generator.engine import Engine
from generator.motion import FaceMotion, MotionPlan, plan_motion
from generator.render import REUSE, CpuRigEngine, FaceRig, _chaikin, render_frames
from generator.speech import silent_track
from generator.types import ImageAnalysis

FPS = 25


@pytest.fixture(scope="module")
def astronaut(astronaut_rgb: np.ndarray) -> tuple[np.ndarray, ImageAnalysis, np.ndarray]:
    """The photo, its analysis and its person mask."""
    return astronaut_rgb, analyze_image(astronaut_rgb), segment_person(astronaut_rgb)


def posed_plan(n: int, **series: np.ndarray | float) -> MotionPlan:
    """One face (index 0) held in a pose given per frame (or as a constant); everything else still."""
    zeros = np.zeros(n, np.float32)

    def get(name: str, shape: tuple[int, ...] = ()) -> np.ndarray:
        value = np.asarray(series.get(name, 0.0), np.float32)
        if value.ndim == 0:
            return np.full((n, *shape), value, np.float32)
        return np.broadcast_to(value.reshape((-1, *shape)), (n, *shape)).copy()

    face = FaceMotion(
        face=0,
        speaking=True,
        engage=get("engage") if "engage" in series else np.ones(n, np.float32),
        jaw_open=get("jaw_open"),
        lip_width=get("lip_width"),
        lip_round=get("lip_round"),
        lips_pressed=get("lips_pressed"),
        lip_teeth=get("lip_teeth"),
        tongue=get("tongue"),
        speech=zeros > 0,
        talking=get("talking"),
        blink=get("blink"),
        blink_starts=(),
        gaze=get("gaze", (2,)),
        brow=get("brow"),
        head=get("head", (3,)),
        shift=get("shift", (2,)),
        body=get("body", (2,)),
        breath=get("breath"),
    )
    camera = get("camera", (3,))
    return MotionPlan(fps=FPS, n_frames=n, faces=[face], camera=camera, parallax=0.6)


def box_of(points: np.ndarray, pad: float = 0.0) -> tuple[slice, slice]:
    lo = np.floor(points.min(axis=0) - pad).astype(int)
    hi = np.ceil(points.max(axis=0) + pad).astype(int)
    return slice(lo[1], hi[1]), slice(lo[0], hi[0])


def test_first_frame_is_the_photo_itself(astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray]) -> None:
    image, analysis, mask = astronaut
    plan = plan_motion({0: silent_track(20, FPS)}, 20, FPS, seed=0)

    frames = render_frames(image, analysis, plan, mask)
    first = next(frames)

    np.testing.assert_array_equal(first, image)


@pytest.mark.parametrize("with_mask", [True, False])
def test_frames_are_streamed_not_collected(
    with_mask: bool, astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray]
) -> None:
    image, analysis, mask = astronaut
    plan = plan_motion({0: None}, 30, FPS, seed=0)

    frames = render_frames(image, analysis, plan, mask if with_mask else None)

    assert isinstance(frames, Iterator) and not isinstance(frames, list | tuple)
    shapes = [frame.shape for frame in frames]
    assert shapes == [image.shape] * 30


def test_open_jaw_moves_the_mouth_not_the_background(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    image, analysis, mask = astronaut
    points = analysis.faces[0].landmarks[:, :2]
    jaw = np.array([0.0, 0.5, 1.0, 0.3, 0.9], np.float32)

    frames = list(render_frames(image, analysis, posed_plan(5, jaw_open=jaw), mask))

    mouth = box_of(points[list(lm.LIPS_OUTER)], pad=2)
    eyes = box_of(points[list(lm.RIGHT_EYE) + list(lm.LEFT_EYE)], pad=2)
    face_h = np.ptp(points[:, 1])
    far = mask < 0.01  # background away from the person
    for frame, opening in zip(frames, jaw, strict=True):
        diff = np.abs(frame.astype(int) - image.astype(int)).sum(axis=2)
        if opening > 0.4:
            assert diff[mouth].mean() > 20  # the mouth changed a lot
        assert diff[eyes].mean() < 2  # the eyes did not follow the jaw
        assert diff[far].max() == 0  # the background did not wobble at all
    # The opening is dark (the painted cavity), and wider at 1.0 than at 0.5.
    centre = points[[lm.UPPER_LIP_INNER_MID, lm.LOWER_LIP_INNER_MID]].mean(axis=0)
    below = np.round(centre + np.array([0.0, 0.05 * face_h])).astype(int)
    assert frames[2][below[1], below[0]].mean() < 0.5 * image[below[1], below[0]].mean()
    assert dark_pixels(frames[2][mouth]) > 1.5 * dark_pixels(frames[1][mouth]) > 0


def dark_pixels(region: np.ndarray) -> int:
    return int((region.mean(axis=2) < 80).sum())


def test_a_photo_with_an_open_mouth_closes_it_at_rest(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    image, analysis, mask = astronaut
    face = analysis.faces[0]
    # Pretend the photo's mouth is wide open: the rig's resting mouth closes it.
    wide = face.landmarks.copy()
    lower = list(lm.LIPS_INNER_LOWER[1:-1]) + list(lm.LIPS_OUTER_LOWER[1:-1])
    gap = np.ptp(face.landmarks[list(lm.LIPS_OUTER), 0]) * 0.4
    wide[lower, 1] += gap
    opened = ImageAnalysis(analysis.width, analysis.height, [_replace(face, landmarks=wide)])
    engage = np.array([0.0, 1.0], np.float32)

    first, rest = render_frames(image, opened, posed_plan(2, engage=engage), mask)

    np.testing.assert_array_equal(first, image)  # the photo itself
    changed = np.abs(rest.astype(int) - image.astype(int)).sum(axis=2) > 30
    inner = box_of(wide[list(lm.LIPS_OUTER), :2], pad=1)
    assert changed[inner].mean() > 0.2  # the lips moved to close the gap


def _replace(face: object, **changes: object) -> object:
    import dataclasses

    return dataclasses.replace(face, **changes)  # type: ignore[type-var]


def test_a_blink_closes_both_eyes(astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray]) -> None:
    image, analysis, mask = astronaut
    points = analysis.faces[0].landmarks[:, :2]
    blink = np.array([0.0, 1.0], np.float32)

    _, closed = render_frames(image, analysis, posed_plan(2, blink=blink), mask)

    for eye in (lm.RIGHT_EYE, lm.LEFT_EYE):
        region = box_of(points[list(eye)])
        # The dark iris and lashes are covered by lid skin.
        assert dark_pixels(closed[region]) < 0.4 * max(dark_pixels(image[region]), 1)
    mouth = box_of(points[list(lm.LIPS_OUTER)], pad=2)
    np.testing.assert_array_equal(closed[mouth], image[mouth])


def test_head_and_camera_move_person_more_than_background(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    image, analysis, mask = astronaut
    points = analysis.faces[0].landmarks[:, :2]
    plan = posed_plan(2, shift=np.array([[0, 0], [0.04, 0.0]]), camera=np.array([[0, 0, 0], [0.004, 0, 0.0]]))

    _, moved = render_frames(image, analysis, plan, mask)

    face = box_of(points[list(lm.FACE_OVAL)])
    sky = (slice(10, 110), slice(400, 500))  # top right: wall behind her
    assert mask[sky].max() < 0.01
    face_dx = shift_between(image[face], moved[face])
    sky_dx = shift_between(image[sky], moved[sky])
    assert 1.0 < sky_dx < 3.0  # the camera drifted ~2 px
    assert face_dx > sky_dx + 3.0  # the head moved further (its own shift plus parallax)


def shift_between(before: np.ndarray, after: np.ndarray) -> float:
    """How far (px, x) the content of a patch moved."""
    a = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY).astype(np.float64)
    b = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY).astype(np.float64)
    (dx, _), _ = cv2.phaseCorrelate(a, b)
    return dx


def test_idle_faces_and_engines_plug_in(astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray]) -> None:
    image, analysis, mask = astronaut

    class StillEngine:
        """A stand-in for a GPU engine: the photo on every frame."""

        name = "still"

        def prepare(
            self, image: np.ndarray, analysis: ImageAnalysis, plan: MotionPlan, person_mask: np.ndarray | None
        ) -> Iterator[np.ndarray]:
            return (image for _ in range(plan.n_frames))

    engine: Engine = StillEngine()
    default: Engine = CpuRigEngine()
    plan = plan_motion({0: None}, 5, FPS, seed=0)

    assert [f.shape for f in render_frames(image, analysis, plan, mask, engine=engine)] == [image.shape] * 5
    assert default.name == "cpu-rig"


def test_the_rig_describes_a_frame_as_data_any_engine_can_draw(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    """At rest: nothing to draw; an open mouth: a coarse map and a painted interior inside the crop;
    the same pose again: the last drawing reused; a blink: lids painted, never reused."""
    image, analysis, mask = astronaut
    jaw = np.array([0.0, 0.8, 0.8, 0.8], np.float32)
    plan = posed_plan(4, jaw_open=jaw, blink=np.array([0, 0, 0, 0.9], np.float32))
    rig, motion = FaceRig(image, analysis.faces[0], mask), plan.faces[0]

    assert rig.describe(motion, 0) is None
    drawn = rig.describe(motion, 1)
    assert drawn is not None and drawn.back is not None and drawn.remember
    assert drawn.back.shape == (rig.grid.gh, rig.grid.gw, 2) and drawn.back.dtype == np.float32
    assert drawn.overlays, "an open mouth paints its interior"
    for overlay in drawn.overlays:
        x0, y0, x1, y1 = overlay.box
        assert 0 <= x0 < x1 <= rig.size[0] and 0 <= y0 < y1 <= rig.size[1]
        for layer in overlay.layers:
            assert layer.alpha.shape == (y1 - y0, x1 - x0, 1) and layer.alpha.min() >= 0.0
    assert rig.describe(motion, 2) is REUSE
    blinking = rig.describe(motion, 3)
    assert blinking is not None and blinking.back is not None and not blinking.remember
    assert len(blinking.overlays) == len(drawn.overlays) + 2  # one per eye


def test_shoulders_and_chest_rise_and_fall_with_breathing_while_the_wall_stays(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    image, analysis, mask = astronaut
    plan = plan_motion({0: None}, 10 * FPS, FPS, seed=3)
    plan.camera[:] = 0.0  # no camera drift: whatever moves below the chin is the body's own motion
    points = analysis.faces[0].landmarks[:, :2]
    chin_y = int(points[list(lm.FACE_OVAL), 1].max())
    face_h = float(np.ptp(points[list(lm.FACE_OVAL), 1]))
    cx = int(points[list(lm.FACE_OVAL), 0].mean())
    chest = (slice(chin_y + int(0.4 * face_h), chin_y + int(0.4 * face_h) + 64), slice(cx - 64, cx + 64))
    sky = (slice(10, 110), slice(400, 500))  # top right: the wall behind her
    assert mask[chest].mean() > 0.9 and mask[sky].max() < 0.01

    rises, wall_still = [], True
    for k, frame in enumerate(render_frames(image, analysis, plan, mask)):
        wall_still &= bool(np.array_equal(frame[sky], image[sky]))
        if k % 5 == 0:
            a = cv2.cvtColor(image[chest], cv2.COLOR_RGB2GRAY).astype(np.float64)
            b = cv2.cvtColor(frame[chest], cv2.COLOR_RGB2GRAY).astype(np.float64)
            (_, dy), _ = cv2.phaseCorrelate(a, b)
            rises.append(dy)

    assert wall_still
    rise = np.asarray(rises) - np.mean(rises)
    assert rise.std() > 0.25  # the chest visibly moves (pixels at 512 px)
    spectrum = np.abs(np.fft.rfft(rise))
    freqs = np.fft.rfftfreq(len(rise), d=5 / FPS)
    assert 0.1 <= freqs[1:][np.argmax(spectrum[1:])] <= 0.5  # at a breathing pace: one every 2-10 s


# --- the painted mouth, as a viewer looks at it ----------------------------------------------------


@pytest.fixture(scope="module")
def closed_mouth_1024() -> tuple[np.ndarray, ImageAnalysis, np.ndarray]:
    """Grace Hopper (lips closed in the photo) scaled up to 1024 px: a mouth about 120 px wide."""
    from bench.people import hopper

    photo = hopper()
    scale = 1024 / max(photo.shape[:2])
    size = (round(photo.shape[1] * scale) // 2 * 2, round(photo.shape[0] * scale) // 2 * 2)
    image = cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC)
    return image, analyze_image(image), segment_person(image)


def posed_mouth(
    photo: tuple[np.ndarray, ImageAnalysis, np.ndarray], **pose: float
) -> tuple[np.ndarray, np.ndarray, FaceRig]:
    """One frame with the face held in `pose`, its mesh points where the rig moved them, the rig."""
    image, analysis, mask = photo
    plan = posed_plan(1, talking=1.0, **pose)
    frame = next(iter(render_frames(image, analysis, plan, mask)))
    rig = FaceRig(image, analysis.faces[0], mask)
    d, _ = rig.displacements(plan.faces[0], 0)
    return frame, rig.points[: rig.n_mesh] + d[: rig.n_mesh] + rig.origin, rig


def teeth_runs(
    frame: np.ndarray, top: np.ndarray, bottom: np.ndarray, tint: float = 0.3
) -> list[tuple[int, int]]:
    """Stretches of tooth-coloured pixels (bright, nearly grey) from `top` down to `bottom`."""
    n = int(np.linalg.norm(bottom - top)) + 1
    pixels = np.array(
        [frame[round(y), round(x) - 1 : round(x) + 2].mean(axis=0) for x, y in np.linspace(top, bottom, n)]
    )
    luma = pixels.mean(axis=1)
    grey = np.ptp(pixels, axis=1) / np.maximum(pixels.max(axis=1), 1.0) < tint
    tooth = (luma > 0.6 * luma.max()) & grey
    dark = luma < 0.3 * luma.max()
    runs: list[tuple[int, int]] = []
    for k in np.flatnonzero(tooth):
        if runs and not dark[runs[-1][1] : k].any():
            runs[-1] = (runs[-1][0], int(k))
        else:
            runs.append((int(k), int(k)))
    return runs


def test_lower_teeth_show_when_the_jaw_is_wide_open_and_not_when_nearly_closed(
    closed_mouth_1024: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    """Down the middle of the mouth: upper teeth only when nearly closed (they overlap the lower
    ones); wide open, upper teeth, a dark gap, lower teeth; the gap grows with the jaw."""
    gaps = []
    for jaw, rows in ((0.3, 1), (0.7, 2), (1.0, 2)):
        frame, moved, rig = posed_mouth(closed_mouth_1024, jaw_open=jaw)
        runs = teeth_runs(frame, moved[lm.UPPER_LIP_INNER_MID], moved[lm.LOWER_LIP_INNER_MID])
        assert len(runs) == rows, (jaw, runs)
        if rows == 2:
            gaps.append(runs[1][0] - runs[0][1])
    assert gaps[1] > gaps[0] + 0.05 * rig.mouth_w  # the lower row rides down with the jaw


def test_the_open_mouth_darkens_toward_the_back_and_has_the_photo_s_grain(
    closed_mouth_1024: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    frame, moved, rig = posed_mouth(closed_mouth_1024, jaw_open=1.0)
    luma = frame.astype(np.float32).mean(axis=2)
    middle = 0.5 * (moved[lm.UPPER_LIP_INNER_MID] + moved[lm.LOWER_LIP_INNER_MID])
    left, right = moved[lm.MOUTH_INNER_CORNER_RIGHT], moved[lm.MOUTH_INNER_CORNER_LEFT]
    row = np.array([luma[round(middle[1]), round(x)] for x in np.linspace(left[0], right[0], 21)])
    back, sides = row[9:12].mean(), np.concatenate([row[2:5], row[16:19]]).mean()
    assert back < 0.5 * sides, row  # the throat is darkest; the cheeks by the corners catch light
    assert back < 30

    # Not a flat fill: the cavity has fine grain, as the skin round it does (scaled by brightness).
    def grain(patch: np.ndarray) -> float:
        fine = patch - cv2.GaussianBlur(patch, (0, 0), 1.0)
        return float(1.4826 * np.median(np.abs(fine - np.median(fine))))

    r = round(0.06 * rig.mouth_w)
    y, x = round(middle[1]), round(middle[0])
    cavity = luma[y - r : y + r, x - 2 * r : x + 2 * r]
    chin_y = round(moved[lm.LOWER_LIP_OUTER_MID][1] + 0.25 * rig.mouth_w)
    skin = luma[chin_y : chin_y + 2 * r, x - 2 * r : x + 2 * r]
    assert 0.15 * grain(skin) < grain(cavity) < grain(skin)


def test_painted_teeth_take_the_colour_of_the_photo_s_own(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    """The astronaut shows her upper teeth; the lower ones painted for a wide /a/ match them, and
    follow them when they are yellower."""
    image, analysis, mask = astronaut
    points = analysis.faces[0].landmarks[:, :2]
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(points[list(lm.LIPS_INNER)]).astype(np.int32)], (1,))
    yellowed = image.copy()
    yellowed[inside > 0] = np.clip(image[inside > 0] * np.array([1.0, 0.93, 0.7]), 0, 255).astype(np.uint8)

    def lower_teeth(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The painted lower teeth's colour, and the photo's own teeth's."""
        frame, moved, _ = posed_mouth((photo, analysis, mask), jaw_open=1.0, lip_width=0.4)
        top, bottom = moved[lm.UPPER_LIP_INNER_MID], moved[lm.LOWER_LIP_INNER_MID]
        runs = teeth_runs(frame, top, bottom, tint=0.45)  # yellowed teeth are less grey
        assert len(runs) == 2, runs  # her own upper teeth, painted lower ones
        line = np.linspace(top, bottom, int(np.linalg.norm(bottom - top)) + 1)
        row = np.array([frame[round(y), round(x)] for x, y in line[runs[1][0] : runs[1][1] + 1]], float)
        painted = row[np.argmax(row.sum(axis=1))]  # the brightest: clear of the lip's edge
        own = photo[inside > 0].astype(float)
        own = own[own.mean(axis=1) > np.percentile(own.mean(axis=1), 70)]
        return painted, np.median(own, axis=0)

    for photo in (image, yellowed):
        painted, own = lower_teeth(photo)
        # Same hue (blue against red within 0.06), a little dimmer: the lower row is in shadow.
        assert abs(painted[2] / painted[0] - own[2] / own[0]) < 0.06, (painted, own)
        assert 0.45 * own.mean() < painted.mean() <= own.mean()


def lip_lines(
    points: np.ndarray, inner_ids: tuple[int, ...], outer_ids: tuple[int, ...], fractions: tuple[float, ...]
) -> list[np.ndarray]:
    """Lines along a lip, each a fraction of the way from its inner line to its outer one."""
    inner, outer = points[list(inner_ids)], points[list(outer_ids)]
    return [_chaikin(inner + f * (outer - inner), rounds=3) for f in fractions]


def marker_rows(frame: np.ndarray, channel: int, columns: np.ndarray) -> np.ndarray:
    """Per column, the mean row of a pure-colour marker's pixels (pure in `channel`); NaN if none."""
    f = frame.astype(np.int32)
    hit = (f[..., channel] - np.delete(f, channel, axis=2).max(axis=2)) > 90
    rows = np.full(len(columns), np.nan)
    for k, x in enumerate(columns):
        ys = np.flatnonzero(hit[:, x])
        if len(ys):
            rows[k] = ys.mean()
    return rows


@pytest.mark.parametrize(
    ("inner_ids", "outer_ids"),
    [(lm.LIPS_INNER_LOWER, lm.LIPS_OUTER_LOWER), (lm.LIPS_INNER_UPPER[::-1], lm.LIPS_OUTER_UPPER[::-1])],
    ids=["lower", "upper"],
)
def test_a_closed_mouth_opened_wide_keeps_its_lips_whole(
    inner_ids: tuple[int, ...],
    outer_ids: tuple[int, ...],
    closed_mouth_1024: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    """Grace Hopper's closed lips, opened to /a/: each lip moves as a whole, its red band as thick
    as in the photo, not dragged into a thin line. Measured with two lines drawn on the photo's
    lip (green half-way out from where the lips meet, blue by its outer edge): across
    the middle of the mouth both still show on the frame, as far apart as on the photo."""
    image, analysis, mask = closed_mouth_1024
    points = analysis.faces[0].landmarks[:, :2]
    marked = image.copy()
    lines = lip_lines(points, inner_ids, outer_ids, (0.5, 0.95))
    for line, colour in zip(lines, ((0, 255, 0), (0, 0, 255)), strict=True):
        cv2.polylines(marked, [np.round(line * 8).astype(np.int32)], False, colour, 2, cv2.LINE_8, shift=3)
    frame, _, rig = posed_mouth((marked, analysis, mask), jaw_open=1.0)
    middle = points[lm.UPPER_LIP_INNER_MID, 0]
    span = np.linspace(middle - 0.3 * rig.mouth_w, middle + 0.3 * rig.mouth_w, 25)
    columns = np.round(span).astype(int)
    was = marker_rows(marked, 2, columns) - marker_rows(marked, 1, columns)
    now = marker_rows(frame, 2, columns) - marker_rows(frame, 1, columns)
    seen = np.isfinite(now)
    assert seen.mean() > 0.9, now  # neither line hidden under the painted opening
    ratio = float(np.median(now[seen] / was[seen]))
    assert 0.8 < ratio < 1.25, (ratio, now / was)


def test_no_streaks_beside_the_corners_of_a_mouth_opened_wide(
    closed_mouth_1024: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    """Beside the corners of Grace Hopper's mouth opened to /a/, the skin keeps its wrinkles:
    stretched into vertical streaks, it would lose its detail up and down (the change from one
    row to the next) while keeping it across."""
    image, analysis, _ = closed_mouth_1024
    frame, _, rig = posed_mouth(closed_mouth_1024, jaw_open=1.0)
    points = analysis.faces[0].landmarks[:, :2]
    w = rig.mouth_w

    def detail(picture: np.ndarray, corner: np.ndarray, side: float) -> float:
        """Vertical over horizontal detail in a patch beside and below a corner."""
        x0 = round(corner[0] + side * 0.1 * w - (0.3 * w if side < 0 else 0))
        y0 = round(corner[1] - 0.1 * w)
        gray = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float64)
        patch = gray[y0 : y0 + round(0.5 * w), x0 : x0 + round(0.3 * w)]
        return float(np.abs(np.diff(patch, axis=0)).mean() / np.abs(np.diff(patch, axis=1)).mean())

    for corner_id, side in ((lm.MOUTH_CORNER_RIGHT, -1.0), (lm.MOUTH_CORNER_LEFT, 1.0)):
        corner = points[corner_id]
        before, after = detail(image, corner, side), detail(frame, corner, side)
        assert after > 0.65 * before, (corner_id, before, after)


def test_rounded_lips_do_not_outline_the_photo_s_teeth_in_dark(
    astronaut: tuple[np.ndarray, ImageAnalysis, np.ndarray],
) -> None:
    """The astronaut smiles with her teeth showing; for /o/ the lips round and the jaw half opens.
    Beside the ends of her teeth (the inner quarter-width by each corner of the opening) the frame
    is about as dark as the photo was there: the painted cavity does not wrap her teeth in a thin
    dark horseshoe."""
    image, analysis, _ = astronaut
    points = analysis.faces[0].landmarks[:, :2]
    frame, moved, rig = posed_mouth(astronaut, jaw_open=0.55, lip_width=-0.8, lip_round=0.8)
    opening = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(points[list(lm.LIPS_INNER)]).astype(np.int32)], (1,))
    teeth_luma = float(np.percentile(image.astype(np.float64).mean(axis=2)[opening > 0], 90))

    def dark_beside_ends(picture: np.ndarray, pts: np.ndarray) -> list[float]:
        luma = picture.astype(np.float64).mean(axis=2)
        inside = np.zeros(luma.shape, np.uint8)
        cv2.fillPoly(inside, [np.round(pts[list(lm.LIPS_INNER)]).astype(np.int32)], (1,))
        xs = np.arange(luma.shape[1])
        shares = []
        for corner, inward in ((lm.MOUTH_INNER_CORNER_RIGHT, 1.0), (lm.MOUTH_INNER_CORNER_LEFT, -1.0)):
            offset = inward * (xs - pts[corner, 0])
            region = (inside > 0) & ((offset >= 0) & (offset <= 0.25 * rig.mouth_w))[None, :]
            shares.append(float(((luma < 0.35 * teeth_luma) & region).sum() / max(int(region.sum()), 1)))
        return shares

    for was, now in zip(dark_beside_ends(image, points), dark_beside_ends(frame, moved), strict=True):
        assert now <= was + 0.1, (was, now)


def test_jaw_weights_spread_evenly_between_fixed_points_and_survive_duplicates() -> None:
    """The rig's smooth weights: half-way between a fixed 0 and a fixed 1 is about a half, and a
    point lying exactly on another (the triangulation leaves it out) keeps its value, no NaN."""
    from generator.render import _harmonic

    xs, ys = np.meshgrid(np.arange(5.0), np.arange(5.0))
    points = np.column_stack([xs.ravel(), ys.ravel()])
    points = np.vstack([points, points[12]])  # a duplicate of the middle point, free
    fixed = np.zeros(len(points), bool)
    values = np.zeros(len(points))
    fixed[points[:, 0] == 0] = True
    fixed[points[:, 0] == 4] = True
    values[points[:, 0] == 4] = 1.0
    anchors = np.array([[-10.0, -10.0], [14.0, -10.0], [14.0, 14.0], [-10.0, 14.0]])

    out = _harmonic(points, fixed, values, anchors)

    assert np.all(np.isfinite(out))
    assert 0.3 < out[12] < 0.7  # the middle column
    assert np.all(np.diff(out[10:15]) > 0)  # rising from the fixed 0 to the fixed 1
