"""Weight-free detection of what moves in a landscape photo, and how (automatic motion, used by
:func:`cine_core.pipeline.run.find_motion` when no motion mask is given).

A photo given without any motion annotation still becomes a cinemagraph: this module finds the
regions that plausibly move and turns each into a :class:`~cine_core.io.annotations.MotionAnnotation`
region with synthetic hint arrows, so the one flow implementation (:mod:`cine_core.motion.flow`) makes
the velocity field, and the arrows stay editable (the Blender add-on shows them as objects).

Cues, all computed on a small copy of the photo (the regions are smooth; edges are refined at
full size):

* **sky**: the depth estimate's sky cue (bright, smooth, touching the top border) grown over
  pixels that look like sky (smooth, and bright or blue, not green) and are connected to the top;
  clouds enclosed by it join it; it lies above the horizon.
* **sea / lake**: below the horizon (the sky's lower edge), wide, smooth regions whose texture
  runs horizontally (waves, ripples, reflections) or whose colour mirrors the sky; or, with no
  sky at all, a frame-filling horizontal texture.
* **waterfall**: bright, unsaturated, vertically streaked regions below the sky.

Whatever is found is cleaned at full resolution: thin structures crossing it are cut out with
top-hat filters (dark branches and wires, or thin things of another hue, in the sky; upright
dark or bright blades, reeds and masts in water), and the edge is pulled in by a pixel or two so that the ground next to a
region does not move with it. People, buildings, vegetation and rock are rejected by the cues:
they are textured in every direction, green, or dark.

Motion per kind (speeds in pixels per frame at 1280 pixels of width, then the arrows' L / 50):

* clouds drift slowly sideways, faster high up than near the horizon (perspective);
* sea and lakes move towards the camera (down the image), faster in the foreground;
* waterfalls fall.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..depth.estimate import sky_mask
from ..io.annotations import HintArrow, MotionAnnotation
from ..io.images import to_numpy_image
from ..io.motion_rules import starts_inside
from .flow import ARROW_PIXELS_PER_FRAME_UNIT, motion_regions
from .fluidity import thin_coloured, thin_structures, thin_width

#: Long side of the copy the cues are computed on.
WORK_SIDE = 384
#: Kinds of region, in label order, with the default motion of each: unit direction (x, y) in
#: the image (x right, y down) and the speed range (far, near) in pixels per frame at 1280 px.
KINDS: dict[str, tuple[tuple[float, float], tuple[float, float], str]] = {
    "sky": ((-1.0, 0.0), (0.5, 1.0), "drifting"),
    "sea": ((0.0, 1.0), (0.4, 1.4), "towards the camera"),
    "waterfall": ((0.0, 1.0), (1.5, 1.5), "falling"),
    # Only the segmentation network tells rivers apart: they flow away, up the image.
    "river": ((0.0, -1.0), (0.3, 1.0), "flowing away from the camera"),
}
#: Colour step (RGB distance, median over the columns) that marks a horizon inside the sky.
HORIZON_STEP = 0.06
#: Smooth water mirrors the sky: just below the horizon light meets it at grazing angles, where
#: water reflects most of it (Fresnel reflectance of water: 0.61 at 85 degrees of incidence,
#: 0.78 at 88), so there it has at least this share of the linear brightness of the sky just
#: above the horizon. Land lit by that sky returns at most its albedo (grass and soil 0.1-0.3):
#: a dark field under a grey storm sky is as smooth as calm water, but far darker.
MIN_REFLECTANCE = 0.45
#: Waves are told from other horizontal texture by their blue: the mean blue of a part exceeds
#: its mean red by this much (the seas of the shared scenes and photos: 0.11-0.39). Grey ground
#: in a storm's cold light, streaked sideways by a moving camera's blur, is 0.04 bluer.
WAVES_BLUE = 0.06
#: Smallest region kept, as a fraction of the image.
MIN_AREA = 0.01
#: Guessed arrows per region: a grid of rows x columns over it. Speed varies with the row
#: (perspective); each arrow costs time in the flow's interpolation, so few are used.
ARROW_GRID = (3, 1)


@dataclass
class DetectedMotion:
    """What :func:`detect_motion` found, at the photo's working size.

    Attributes:
        size: (width, height).
        kinds: (H, W) int32, 0 = still, else 1 + index into :data:`KINDS` (sky, sea, waterfall, river).
        horizon: row of the horizon in pixels (the sky's lower edge), or None without sky.
    """

    size: tuple[int, int]
    kinds: np.ndarray
    horizon: float | None = None

    def fraction(self, kind: str) -> float:
        """Share of the image covered by ``kind``."""
        return float((self.kinds == list(KINDS).index(kind) + 1).mean())

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: every found region."""
        return self.kinds > 0


# ------------------------------------------------------------------------------------ cues

def _local_std(grey: np.ndarray, size: int) -> np.ndarray:
    mean = cv2.blur(grey, (size, size))
    return np.sqrt(np.maximum(cv2.blur(grey * grey, (size, size)) - mean * mean, 0.0))


def _horizontality(grey: np.ndarray, sigma: float) -> np.ndarray:
    """From the structure tensor, in [-1, 1]: 1 where stripes run horizontally, -1 vertically."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    return (jyy - jxx) / (jxx + jyy + 1e-6)


def _components(mask: np.ndarray, min_pixels: int) -> list[np.ndarray]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [labels == i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_pixels]


def _fill_enclosed(mask: np.ndarray, allowed: np.ndarray, max_fraction: float) -> np.ndarray:
    """``mask`` plus the holes it encloses that are ``allowed`` (mostly) and not too large."""
    holes = ~mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    filled = mask.copy()
    limit = max_fraction * mask.size
    for i in range(1, count):
        if i in border or stats[i, cv2.CC_STAT_AREA] > limit:
            continue
        hole = labels == i
        if allowed[hole].mean() > 0.6:
            filled |= hole
    return filled


def _detect_sky(rgb: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """(h, w) bool sky of the small image ``rgb`` (h, w, 3) in [0, 1].

    Smooth sky-coloured pixels connected to the top border or to the depth estimate's sky cue,
    grown (hysteresis) over bright white cloud that is a little more textured, plus the clouds
    and haze they enclose. It stops at the bottom fifth unless it spans the frame there (a photo
    of the sky alone): below a horizon, sky colours are reflections.
    """
    height = rgb.shape[0]
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=2)
    saturation = (value - rgb.min(axis=2)) / np.maximum(value, 1e-6)
    blueish = (blue > red + 0.04) & (blue >= green - 0.02) & (value > 0.25)
    bright_grey = (value > np.quantile(value, 0.5)) & (saturation < 0.35)
    vegetation = (green > red + 0.02) & (green > blue + 0.02)
    skylike = (texture < 0.035) & (blueish | bright_grey) & ~vegetation
    cloud = (texture < 0.2) & (value > max(0.7, float(np.quantile(value, 0.8)))) & (saturation < 0.2)
    seed = sky_mask(rgb) & skylike
    count, labels = cv2.connectedComponents(skylike.astype(np.uint8), connectivity=8)
    keep = (set(np.unique(labels[0])) | set(np.unique(labels[seed]))) - {0}
    sky = np.isin(labels, list(keep))
    count, labels = cv2.connectedComponents((sky | cloud).astype(np.uint8), connectivity=8)
    sky = np.isin(labels, list(set(np.unique(labels[sky])) - {0}))
    cut = int(0.8 * height)
    if sky[cut].mean() < 0.5:
        sky[cut:] = False
    return _fill_enclosed(sky, (saturation < 0.4) & (texture < 0.08), 0.05)


def _sky_horizon(sky: np.ndarray) -> float | None:
    """Row of the horizon: the lowest sky pixel of each column with sky, at the 80th percentile
    over those columns; None with sky in under 30 % of the columns or along the bottom row."""
    columns = sky.any(axis=0)
    if columns.mean() < 0.3 or sky[-1].mean() > 0.5:
        return None
    lowest = sky.shape[0] - 1 - np.argmax(sky[::-1], axis=0)
    # Over mountains, trees and buildings the sky ends above the horizon: take the lower part.
    return float(np.quantile(lowest[columns], 0.8))


def _split_at_horizon(rgb: np.ndarray, sky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split calm sea or lake off the sky it joined: (sky, water) of the small image ``rgb``.

    Calm water under a clear sky is as smooth and as blue as the sky, so the sky grows over it.
    The horizon shows as a level line where the colour steps, the same step in every column
    (the sky's own gradient is gentle, clouds and grass in front of it differ from column to
    column): the row with the largest median step over the columns where sky lies on both
    sides. Below it, the sky is water when it is bluish and darker or more saturated than the
    sky just above, spans a third of the width, and leaves sky above it.
    """
    height, width = sky.shape
    reach = max(1, height // 100)
    water = np.zeros_like(sky)
    steps = np.zeros(height)
    smooth = cv2.GaussianBlur(rgb, (0, 0), 1.0)
    for row in range(max(reach, height // 10), height - reach):
        both = sky[row - reach] & sky[row + reach]
        if both.mean() >= 0.3:
            step = np.median(smooth[row + reach, both] - smooth[row - reach, both], axis=0)
            steps[row] = float(np.linalg.norm(step))
    row = int(np.argmax(steps))
    if steps[row] < HORIZON_STEP or steps[row] < 4.0 * float(np.median(steps[steps > 0] if steps.any() else [0.0])):
        return sky, water
    above = sky.copy()
    above[row:] = False
    below = sky & ~above
    if above.sum() < 0.2 * sky.sum() or not below.any():
        return sky, water
    sky_colour, water_colour = np.median(rgb[above & (np.arange(height)[:, None] >= row - height // 10)], axis=0), \
        np.median(rgb[below], axis=0)
    value = lambda c: float(c.max())  # noqa: E731
    saturation = lambda c: (float(c.max()) - float(c.min())) / max(float(c.max()), 1e-6)  # noqa: E731
    bluish = water_colour[2] >= water_colour[0]
    deeper = value(water_colour) < value(sky_colour) - 0.03 or saturation(water_colour) > saturation(sky_colour) + 0.05
    wide = below.any(axis=0).mean() >= 1 / 3
    tall = below.any(axis=1).sum() >= 0.03 * height  # not the sky's blend into the land below
    if bluish and deeper and wide and tall:
        return above, below
    return sky, water


def _linear(value: float) -> float:
    """Linear light of an sRGB-encoded brightness in [0, 1] (the 2.2 power law)."""
    return value ** 2.2


def _detect_sea(rgb: np.ndarray, sky: np.ndarray, texture: np.ndarray, horizontal: np.ndarray,
                horizon: float | None) -> np.ndarray:
    """(h, w) bool sea/lake.

    With a horizon: the smooth band below it, grown downwards over pixels of its colour (or the
    sky's, mirrored) that are not vegetation; a part is kept when it starts at the band, is wide
    (or reaches a side of the frame) and looks wet. Without one: the whole frame when its texture
    runs horizontally almost everywhere (a close-up of waves).
    """
    height, width = sky.shape
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=2)
    vegetation = (green > red + 0.03) & (green > blue + 0.03)
    smooth_rgb = cv2.GaussianBlur(rgb, (0, 0), 2.0)
    if horizon is None:
        waves = (horizontal > 0.3) & ~vegetation
        if waves.mean() < 0.9 or float(np.mean(horizontal)) < 0.6:
            return np.zeros_like(sky)
        return cv2.morphologyEx(waves.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)) > 0
    rows = np.arange(height)[:, None]
    top = int(horizon) + 1
    reach = max(2, int(0.05 * height))  # the band's height, below and above the horizon
    band = (rows >= top) & (rows < top + reach) & ~sky & ~vegetation
    if band.sum() < 0.3 * width:
        return np.zeros_like(sky)
    smooth_band = band & (texture < 0.06)
    if smooth_band.sum() < 0.2 * width:
        return np.zeros_like(sky)
    reference = np.median(smooth_rgb[smooth_band], axis=0)
    sky_colour = np.median(rgb[sky], axis=0)
    sky_near_horizon = sky & (rows >= top - reach)
    sky_at_horizon = float(np.median(value[sky_near_horizon if sky_near_horizon.any() else sky]))
    distance = np.linalg.norm(smooth_rgb - reference, axis=2)
    mirror = np.linalg.norm(smooth_rgb - sky_colour, axis=2) < 0.1
    waves = (horizontal > 0.3) & (texture < 0.15)
    # Smooth water close to the band's colour, or waves with more latitude (their colour varies).
    candidate = (rows >= top) & ~sky & ~vegetation & ((((distance < 0.12) | mirror) & (texture < 0.08))
                                                      | ((distance < 0.2) & waves))
    candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    sea = np.zeros_like(sky)
    for part in _components(candidate, int(MIN_AREA * sky.size)):
        ys, xs = np.nonzero(part)
        wide = np.ptp(xs) + 1 >= 0.3 * width or xs.min() == 0 or xs.max() == width - 1
        # Water shows itself: it is bluish with texture running horizontally (grey and brown
        # rock with horizontal strata is not), or it mirrors the sky's colour or is calm (as
        # smooth as the sky), and then, just below the horizon, it is nearly as bright as the
        # sky just above it (:data:`MIN_REFLECTANCE`).
        red_mean, _, blue_mean = rgb[part].mean(axis=0)
        near_horizon = part & (rows < top + reach)
        reflects = bool(near_horizon.any()) and \
            _linear(float(np.median(value[near_horizon]))) >= MIN_REFLECTANCE * _linear(sky_at_horizon)
        calm = texture[part].mean() < 0.01
        looks_wet = (reflects and (mirror[part].mean() > 0.3 or calm)
                     or (horizontal[part].mean() > 0.3 and blue_mean > red_mean + WAVES_BLUE))
        if wide and looks_wet and ys.min() <= top + 0.05 * height:
            sea |= part
    return sea


def _detect_waterfall(rgb: np.ndarray, sky: np.ndarray, texture: np.ndarray,
                      horizontal: np.ndarray) -> np.ndarray:
    """(h, w) bool falling water: the brightest unsaturated parts, not sky, that are streaked
    vertically (falls) or large and foamy (the white water they feed)."""
    value = rgb.max(axis=2)
    saturation = (value - rgb.min(axis=2)) / np.maximum(value, 1e-6)
    white = (value > max(0.6, float(np.quantile(value, 0.85)))) & (saturation < 0.25)
    candidate = white & ~cv2.dilate(sky.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    streaks = horizontal < -0.2
    falls = np.zeros_like(sky)
    for part in _components(candidate, int(0.3 * MIN_AREA * sky.size)):
        ys, _ = np.nonzero(part)
        streaked = np.ptp(ys) + 1 >= 0.1 * sky.shape[0] and streaks[part].mean() > 0.3 and texture[part].mean() > 0.02
        foamy = part.mean() > 0.05 and texture[part].mean() > 0.05
        if streaked or foamy:
            falls |= part
    return falls


def found_regions(rgb: torch.Tensor, kinds: np.ndarray) -> DetectedMotion:
    """Clean found regions at full size, whichever method found them.

    Thin structures crossing them (:func:`thin_structures`: branches and wires in the sky,
    blades and reeds in water, not the troughs and crests of waves; in the sky also those of
    another hue, :func:`thin_coloured`) and a margin at their edge are removed from them;
    regions below :data:`MIN_AREA` are dropped.

    Args:
        rgb: (3, H, W) photo in [0, 1].
        kinds: (H, W) int labels, 0 = still, else 1 + index into :data:`KINDS`.
    """
    image = to_numpy_image(rgb).astype(np.float32)
    height, width = kinds.shape
    kinds = kinds.astype(np.int32).copy()
    grey = image.mean(axis=2)
    thin = thin_width(height, width)
    blocked = np.zeros(kinds.shape, bool)
    for index in range(1, len(KINDS) + 1):
        region = kinds == index
        if region.any():
            thin_here = thin_structures(grey, thin, in_water=index > 1)
            if index == 1:  # in the sky only what is darker than the sky (not the shading of
                # clouds), or of another hue
                thin_here &= grey < 0.8 * float(np.median(grey[region]))
                thin_here |= thin_coloured(image, thin)
            blocked |= region & thin_here
    kinds[cv2.dilate(blocked.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
    margin = max(1, round(0.002 * max(width, height)))
    inner = cv2.erode((kinds > 0).astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    kinds[~inner] = 0
    for index in range(1, len(KINDS) + 1):
        region = kinds == index
        if region.any() and region.mean() < MIN_AREA:
            kinds[region] = 0
    return DetectedMotion((width, height), kinds, _sky_horizon(kinds == 1))


def detect_motion(rgb: torch.Tensor) -> DetectedMotion:
    """Find sky, sea/lake and waterfalls in a photo without any weights.

    Args:
        rgb: (3, H, W) photo in [0, 1] at working resolution.

    Returns:
        The regions at (W, H), each pixel labelled with its kind (see :data:`KINDS`).
    """
    image = to_numpy_image(rgb).astype(np.float32)
    height, width = image.shape[:2]
    factor = min(1.0, WORK_SIDE / max(height, width))
    small = cv2.resize(image, (max(16, round(width * factor)), max(16, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    grey = small.mean(axis=2)
    texture = _local_std(grey, 5)
    horizontal = _horizontality(grey, 3.0)
    sky, below_horizon = _split_at_horizon(small, _detect_sky(small, texture))
    sea = _detect_sea(small, sky, texture, horizontal, _sky_horizon(sky)) | below_horizon
    falls = _detect_waterfall(small, sky, texture, horizontal) & ~sea
    sky &= ~(sea | falls)
    # Upsample each region softly and give every pixel the kind that covers it most.
    soft = np.stack([np.full((height, width), 0.5, np.float32)] + [
        cv2.resize(region.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        for region in (sky, sea, falls)])
    return found_regions(rgb, np.argmax(soft, axis=0))


# ---------------------------------------------------------------------------------- motion

@dataclass
class AutoMotion:
    """The found regions as an annotation the flow stage takes, and what to tell the user.

    Attributes:
        annotation: mask, one region per kind (plus one per user arrow outside them), and the
            arrows: the user's where they start inside a region, else guessed ones.
        guessed: (H, W) bool, the pixels whose arrows were guessed (not the user's arrows or words);
            the motion network predicts these without hints.
        summary: one line, e.g. ``"sky 41 % drifting left, sea 12 % towards the camera"``;
            empty when nothing was found.
        found: the regions by kind, as found.
    """

    annotation: MotionAnnotation
    guessed: np.ndarray
    summary: str
    found: DetectedMotion


def _arrow_points(region: np.ndarray, rows: int, columns: int) -> list[tuple[int, int]]:
    """(x, y) points of ``region`` nearest to a rows x columns grid over its bounding box, away
    from its edges (duplicates dropped)."""
    inner = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(inner >= min(4.0, float(inner.max())))
    points = []
    for row in np.linspace(ys.min(), ys.max(), rows + 2)[1:-1]:
        for col in np.linspace(xs.min(), xs.max(), columns + 2)[1:-1]:
            nearest = int(np.argmin((ys - row) ** 2 + (xs - col) ** 2))
            points.append((int(xs[nearest]), int(ys[nearest])))
    return list(dict.fromkeys(points))


def _speed(kind: str, y: float, top: float, bottom: float, horizon: float | None) -> float:
    """Pixels per frame at 1280 px of width: perspective makes far motion slower."""
    far, near = KINDS[kind][1]
    if kind == "sky":  # far at the horizon, near at the top of the frame
        low = horizon if horizon is not None else bottom
        closeness = 1.0 - (y - top) / max(low - top, 1.0)
    else:  # far at the top of the region, near at its bottom
        closeness = (y - top) / max(bottom - top, 1.0)
    return far + (near - far) * float(np.clip(closeness, 0.0, 1.0))


def _describe(kind: str, vector: np.ndarray, guessed: bool) -> str:
    if guessed and kind != "sky":
        return KINDS[kind][2]
    dx, dy = vector / max(float(np.hypot(*vector)), 1e-9)
    ways = [w for w, on in (("up", dy < -0.38), ("down", dy > 0.38), ("left", dx < -0.38), ("right", dx > 0.38)) if on]
    way = "-".join(ways) or "still"
    return f"{KINDS['sky'][2]} {way}" if kind == "sky" else f"moving {way}"


def auto_annotation(found: DetectedMotion, hints: list[HintArrow] | None = None,
                    direction: tuple[float, float, float] | None = None) -> AutoMotion:
    """Turn the found regions into a motion annotation with arrows.

    Each kind becomes one region with a grid of :data:`ARROW_GRID` arrows along its default motion
    (:data:`KINDS`), longer where it is nearer the camera. ``hints`` (the user's arrows, at the
    same size) override the guess in the region they start in; a hint starting outside every
    region moves its own neighbourhood, as hints without a mask do. ``direction`` (words,
    from :func:`~cine_core.motion.directions.parse_direction`) replaces the guessed direction of every
    region without the user's arrows.
    """
    width, height = found.size
    hints = list(hints or [])
    regions = np.zeros((height, width), np.int32)
    guessed = np.zeros((height, width), bool)
    arrows: list[HintArrow] = []
    parts = []
    scale = width / 1280.0

    for index, kind in enumerate(KINDS, start=1):
        region = found.kinds == index
        if not region.any():
            continue
        label = int(regions.max()) + 1
        regions[region] = label
        theirs = [h for h in hints if starts_inside(h.start, region)]
        if theirs:
            arrows += theirs
            vector = np.mean([np.subtract(h.end, h.start) for h in theirs], axis=0)
            parts.append(f"{kind} {100 * region.mean():.0f} % {_describe(kind, vector, False)} (your arrows)")
            continue
        ys, _ = np.nonzero(region)
        unit, factor = np.array(KINDS[kind][0]), 1.0
        if direction is not None:
            unit, factor = np.array(direction[:2]), direction[2]
        else:
            guessed |= region
        for x, y in _arrow_points(region, *ARROW_GRID):
            length = _speed(kind, y, ys.min(), ys.max(), found.horizon) * factor * scale * ARROW_PIXELS_PER_FRAME_UNIT
            arrows.append(HintArrow((float(x), float(y)), (x + unit[0] * length, y + unit[1] * length)))
        parts.append(f"{kind} {100 * region.mean():.0f} % {_describe(kind, unit, direction is None)}")
    outside = [h for h in hints if not starts_inside(h.start, regions > 0)]
    if outside:
        around = motion_regions(MotionAnnotation((width, height), None, outside)) > 0
        regions[around & (regions == 0)] = int(regions.max()) + 1
        arrows += outside
    mask = regions > 0
    annotation = MotionAnnotation((width, height), mask if mask.any() else None, arrows,
                                  regions if mask.any() else None)
    return AutoMotion(annotation, guessed, ", ".join(parts), found)
