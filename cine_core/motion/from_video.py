"""Motion from a short video of the scene: the clip's average optical flow becomes the Eulerian
field, the pixels it shows moving become the moving region.

The clip is read once, streamed and downscaled by ffmpeg to :data:`ANALYSIS_SIDE` pixels
(:func:`~cine_core.io.video.stream_clip`), as luma. Then:

1. **Shake.** Corners of the first frame (the reference) are tracked into every frame (pyramidal
   Lucas-Kanade from the reference, started from the previous frame's homography, with a
   forward-backward check) and a homography per frame is fitted with RANSAC. Corners on the
   fluid agree with it only now and then: the homographies are fitted again from the corners
   that were inliers in most frames, the still texture.
2. **Flow.** Each frame is warped into the reference's pixels and the dense optical flow between
   consecutive stabilised frames is computed (OpenCV's DIS, :data:`DIS_PRESET`; chosen by
   measurement, see ``tools/measure_video_flow.py`` and docs/performance.md). The per-pixel
   median over the clip is the field: turbulence and the odd failed frame do not pull it.
3. **What moves.** A pixel moves when its median flow is above the clip's noise (measured on the
   pixels that stand still) and its flow points the same way over time (the length of the mean
   flow over the mean length, :data:`MIN_CONSISTENCY`).
4. **The photo.** The reference frame is registered to the photo (SIFT matches, homography
   with RANSAC); a clip of another view is refused. The field is carried into the photo's
   pixels through that homography and converted from the clip's frame rate to the output's.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from ..errors import CineError
from ..io.annotations import HintArrow, MotionAnnotation
from ..io.images import to_uint8_image
from ..io.motion_rules import starts_inside
from ..io.video import MAX_CLIP_SECONDS, read_clip_header, stream_clip
from .flow import ARROW_PIXELS_PER_FRAME_UNIT, eulerian_flow, masked_blur, motion_regions

Progress = Callable[[str, float], None]

#: Long side (pixels) the clip is analysed at, whatever its own size: flow fields are smooth,
#: and 640 pixels keep a 10 s clip within seconds and a few hundred megabytes. A smaller clip is
#: enlarged to it: DIS works from patches of a fixed size at half this resolution, which would
#: smear a small clip's moving region over its still border.
ANALYSIS_SIDE = 640
#: Most frame pairs whose flow is computed: a longer clip uses every k-th pair (the median needs
#: them all in memory, as float16: 120 pairs of 640x360 take 110 MB).
MAX_PAIRS = 120
#: Frame rate assumed when the clip's header gives none.
DEFAULT_CLIP_FPS = 30.0
#: OpenCV DIS preset of the flow between stabilised frames (see the module docstring).
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
#: Corners tracked to find the camera's shake.
SHAKE_CORNERS = 600
#: A corner counts as still texture when it fits a frame's homography in at least this share of
#: the frames it was tracked in.
STILL_INLIER_SHARE = 0.8
#: Direction agreement over time of a moving pixel: |mean flow| / mean |flow|, 1 when every
#: frame moves it the same way, about 1/sqrt(frames) for noise.
MIN_CONSISTENCY = 0.4
#: ... and its median speed must exceed this many times the clip's noise (the median speed of
#: the pixels that stand still), at least :data:`MIN_SPEED` analysis pixels per clip frame.
NOISE_FACTOR = 4.0
MIN_SPEED = 0.03
#: ... and its levels must change between consecutive stabilised frames by more than this many
#: times the median change of the other pixels, at least :data:`MIN_CHANGE` levels on average.
CHANGE_FACTOR = 2.0
MIN_CHANGE = 1.0
#: How far DIS spreads a motion beyond its texture, as a fraction of the analysed long side
#: (its 8-pixel patches at half resolution, with some margin: 16 pixels at 640).
FLOW_SPREAD = 0.025
#: Moving parts smaller than this share of the analysed frame are dropped (specks of noise).
MIN_PART = 0.002
#: The velocity of a clip falls to zero over this fraction of the long side towards its still
#: border (:func:`~cine_core.motion.flow.feather_flow`): the measured field already slows
#: there (optical flow spreads across the border); the ramp only smooths the region's cut.
#: The hint flow's 3 % slowed cascade's falls, a patchwork of water and rock, by 20 %.
FEATHER_FRACTION = 0.01
#: Registration to the photo: the fewest SIFT matches that fit the homography.
MIN_MATCHES = 15


@dataclass
class ClipMotion:
    """The average motion of a clip, in the pixels of its first frame at analysis size.

    Attributes:
        flow: (2, h, w) float32 median flow, analysis pixels per clip frame.
        moving: (h, w) bool, the pixels the clip shows moving.
        reference: (h, w) uint8 luma of the first frame (what the photo is registered to).
        fps: the clip's frame rate.
        frames: frames read.
        pairs: frame pairs whose flow was averaged.
        noise: median speed of the still pixels, analysis pixels per clip frame.
        shake: largest displacement of the camera from the first frame, analysis pixels.
    """

    flow: np.ndarray
    moving: np.ndarray
    reference: np.ndarray
    fps: float
    frames: int
    pairs: int
    noise: float
    shake: float


@dataclass
class VideoMotion:
    """A clip's motion carried into the photo's pixels.

    Attributes:
        flow: (2, H, W) float32 velocity, photo pixels per output frame, over the whole photo
            (noise where nothing moves; :attr:`regions` says where it counts).
        regions: (H, W) int32 connected moving parts, 0 = still (or not in the clip).
        covered: (H, W) bool, the photo's pixels the clip shows.
        summary: one line for the user.
    """

    flow: torch.Tensor
    regions: np.ndarray
    covered: np.ndarray
    summary: str


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) the clip is analysed at: the long side :data:`ANALYSIS_SIDE`, both even."""
    factor = ANALYSIS_SIDE / max(width, height)
    return max(16, 2 * round(width * factor / 2)), max(16, 2 * round(height * factor / 2))


#: Lucas-Kanade window and pyramid levels of the shake tracking.
_LK_WINDOW = (21, 21)
_LK_LEVELS = 3


def _track_homography(reference: np.ndarray, corners: np.ndarray, frame: np.ndarray,
                      guess: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track ``corners`` (N, 1, 2) of ``reference`` into ``frame``
    starting from ``guess`` (3x3, reference -> frame); returns the RANSAC homography, the tracked
    points (N, 2) and a bool (N,) of the corners tracked and fitting it."""
    start = cv2.perspectiveTransform(corners, guess)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
    tracked, found, _ = cv2.calcOpticalFlowPyrLK(reference, frame, corners, start, winSize=_LK_WINDOW,
                                                 maxLevel=_LK_LEVELS, criteria=criteria,
                                                 flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    good = found[:, 0] == 1
    fits = np.zeros(len(corners), bool)
    if good.sum() < 8:
        return guess, tracked[:, 0], fits
    homography, inliers = cv2.findHomography(corners[good], tracked[good], cv2.RANSAC, 1.0)
    if homography is None:
        return guess, tracked[:, 0], fits
    fits[np.flatnonzero(good)[inliers[:, 0] > 0]] = True
    return homography, tracked[:, 0], fits


def stabilise(frames: list[np.ndarray], progress: Progress) -> list[np.ndarray]:
    """Homographies (3x3, reference pixels -> frame pixels) of the camera's shake, one per frame;
    the first frame is the reference.

    Fitted twice: over every corner tracked from the first frame, then over the corners that fit
    in at least :data:`STILL_INLIER_SHARE` of the frames (still texture), so a fluid that
    slides as a whole cannot carry the camera with it.
    """
    reference = frames[0]
    corners = cv2.goodFeaturesToTrack(reference, SHAKE_CORNERS, 0.005, max(4, reference.shape[1] // 100))
    identity = np.eye(3)
    if corners is None or len(corners) < 8:
        return [identity] * len(frames)  # no texture to hold on to: the camera is taken as still
    corners = corners.astype(np.float32)
    homographies, tracks, fits = [identity], [corners[:, 0]], [np.ones(len(corners), bool)]
    for index, frame in enumerate(frames[1:], start=1):
        homography, tracked, fit = _track_homography(reference, corners, frame, homographies[-1])
        homographies.append(homography)
        tracks.append(tracked)
        fits.append(fit)
        if index % 16 == 0:
            progress("video", 0.4 + 0.2 * index / len(frames))
    still = np.mean(fits, axis=0) >= STILL_INLIER_SHARE
    if still.sum() < 8:
        return homographies
    refitted = [identity]
    for homography, tracked, fit in zip(homographies[1:], tracks[1:], fits[1:]):
        use = still & fit
        if use.sum() >= 8:
            homography, _ = cv2.findHomography(corners[use], tracked[use][:, None], 0)
        refitted.append(homography if homography is not None else identity)
    return refitted


def _warp_to_reference(frame: np.ndarray, homography: np.ndarray) -> np.ndarray:
    height, width = frame.shape
    return cv2.warpPerspective(frame, homography, (width, height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _largest_shift(homographies: list[np.ndarray], width: int, height: int) -> float:
    corners = np.array([[[0, 0]], [[width, 0]], [[0, height]], [[width, height]]], np.float32)
    return float(max(np.abs(cv2.perspectiveTransform(corners, h) - corners).max() for h in homographies))


def _frame_count(path: str, header) -> int:
    """The clip's frames: from its header, else counted by decoding it once."""
    if header.fps > 0 and header.duration > 0:
        return max(1, round(header.fps * header.duration))
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.count_frames_and_secs(path)[0]
    except (OSError, RuntimeError, ValueError):
        raise CineError(f"cannot read video {os.path.basename(path)}: the file is damaged") from None


def clip_motion(path: str, progress: Progress) -> ClipMotion:
    """Read ``path`` and measure its average motion (see the module docstring).

    Memory: the luma at analysis size of the frames whose flow is computed (at most
    2 x :data:`MAX_PAIRS`: 240 x 640 x 360 bytes, 55 MB) and their flows as float16 (110 MB).

    Raises:
        CineError: a missing, unreadable, too large or too long clip, or one of fewer than 2 frames.
    """
    header = read_clip_header(path)
    size = analysis_size(*header.size)
    fps = header.fps if header.fps > 0 else DEFAULT_CLIP_FPS
    # Pairs (0, 1), (k, k + 1), (2k, 2k + 1) ... spread over the clip: at most MAX_PAIRS of them.
    stride = max(1, math.ceil((_frame_count(path, header) - 1) / MAX_PAIRS))
    max_frames = int(MAX_CLIP_SECONDS * max(fps, DEFAULT_CLIP_FPS)) + 1
    progress("video", 0.0)
    kept, count = [], 0
    for count, frame in enumerate(stream_clip(path, size, max_frames), start=1):
        if (count - 1) % stride < 2:
            kept.append((count - 1, frame))
        if count % 32 == 0:
            progress("video", 0.4 * min(1.0, count * stride / max(1, len(kept) * MAX_PAIRS)))
    if count < 2:
        raise CineError(f"the video has {count} frame{'s' * (count != 1)}; its motion needs at least 2 "
                        f"(a second or more of the moving scene)")
    indices = [index for index, _ in kept]
    frames = [frame for _, frame in kept]
    homographies = stabilise(frames, progress)
    starts = [n for n in range(len(indices) - 1) if indices[n + 1] == indices[n] + 1 and indices[n] % stride == 0]
    width, height = size
    flows = np.empty((len(starts), 2, height, width), np.float16)
    total = np.zeros((2, height, width), np.float32)
    lengths = np.zeros((height, width), np.float32)
    change = np.zeros((height, width), np.float32)
    solver = cv2.DISOpticalFlow_create(DIS_PRESET)
    for number, start in enumerate(starts):
        first = _warp_to_reference(frames[start], homographies[start])
        second = _warp_to_reference(frames[start + 1], homographies[start + 1])
        flow = solver.calc(first, second, None).transpose(2, 0, 1)
        flows[number] = flow
        total += flow
        lengths += np.sqrt(flow[0] ** 2 + flow[1] ** 2)
        change += cv2.absdiff(first, second)
        progress("video", 0.6 + 0.35 * (number + 1) / len(starts))
    median = np.empty((2, height, width), np.float32)
    for row in range(0, height, 64):  # in bands: the float32 copy of the stack stays small
        median[:, row:row + 64] = np.median(flows[:, :, row:row + 64].astype(np.float32), axis=0)
    del flows
    consistency = np.linalg.norm(total, axis=0) / np.maximum(lengths, 1e-6)
    speed = np.linalg.norm(median, axis=0)
    change = cv2.GaussianBlur(change / len(starts), (0, 0), 1.0)
    moving, noise = _moving_pixels(speed, consistency, change, len(starts))
    progress("video", 1.0)
    return ClipMotion(median, moving, frames[0], fps, count, len(starts), noise,
                      _largest_shift(homographies, width, height))


def _moving_pixels(speed: np.ndarray, consistency: np.ndarray, change: np.ndarray,
                   pairs: int) -> tuple[np.ndarray, float]:
    """(h, w) bool moving pixels and the noise speed (see the module docstring, step 3)."""
    # Noise: the median speed of the pixels whose flow does not keep a direction (still texture,
    # sky without detail); with too few of them, the slowest tenth of the frame.
    wandering = consistency < MIN_CONSISTENCY
    values = speed[wandering] if wandering.mean() > 0.05 else np.sort(speed, axis=None)[:max(1, speed.size // 10)]
    noise = float(np.median(values))
    agree = MIN_CONSISTENCY if pairs >= 4 else 0.0  # a pair or two cannot show a steady direction
    steady = (speed > max(NOISE_FACTOR * noise, MIN_SPEED)) & (consistency >= agree)
    moving = steady
    # Optical flow spreads a moving texture's motion a patch wide onto the still texture beside
    # it; still texture keeps its levels from frame to frame. But so does smooth fluid (a sheet
    # of water): steady pixels whose levels barely change are kept farther than that spread
    # from every pixel without steady flow.
    if (~steady).any():
        moving = steady & (change > max(CHANGE_FACTOR * float(np.median(change[~steady])), MIN_CHANGE))
        inside = cv2.distanceTransform(steady.astype(np.uint8), cv2.DIST_L2, 3) > FLOW_SPREAD * max(speed.shape)
        moving |= inside
    moving = cv2.morphologyEx(moving.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    return _without_specks(moving, MIN_PART), noise


def _without_specks(mask: np.ndarray, fraction: float) -> np.ndarray:
    """``mask`` without connected parts, nor holes, smaller than ``fraction`` of the image."""
    smallest = max(1, int(fraction * mask.size))
    for value in (True, False):  # drop small parts, then fill small holes
        target = mask if value else ~mask
        count, labels, stats, _ = cv2.connectedComponentsWithStats(target.astype(np.uint8), connectivity=8)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < smallest)
        small = small[small > 0]
        if len(small):
            mask = mask.copy()
            mask[np.isin(labels, small)] = not value
    return mask


def _grey_for_matching(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """(h, w) uint8 luma at ``long_side`` pixels (the photo, for matching against the clip)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    factor = long_side / max(grey.shape)
    if factor < 1:
        grey = cv2.resize(grey, (round(grey.shape[1] * factor), round(grey.shape[0] * factor)),
                          interpolation=cv2.INTER_AREA)
    return grey


def register_clip(reference: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Homography (3x3) from the clip's reference frame pixels to the photo's pixels.

    Args:
        reference: (h, w) uint8 luma of the clip's first frame at analysis size.
        photo: (H, W, 3) uint8 RGB photo at working size.

    Raises:
        CineError: the clip does not show the photo's view (too few matches fit one homography,
            or the fitted one folds, squashes or misses the photo).
    """
    long_side = max(reference.shape)
    grey = _grey_for_matching(photo, long_side)
    to_photo = np.diag([photo.shape[1] / grey.shape[1], photo.shape[0] / grey.shape[0], 1.0])
    sift = cv2.SIFT_create(nfeatures=3000)
    clip_points, clip_features = sift.detectAndCompute(reference, None)
    photo_points, photo_features = sift.detectAndCompute(grey, None)
    matches = []
    if clip_features is not None and photo_features is not None and len(photo_features) >= 2:
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(clip_features, photo_features, k=2)
        matches = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    fitting, homography = 0, None
    if len(matches) >= MIN_MATCHES:
        source = np.float32([clip_points[m.queryIdx].pt for m in matches])[:, None]
        target = np.float32([photo_points[m.trainIdx].pt for m in matches])[:, None]
        homography, inliers = cv2.findHomography(source, target, cv2.RANSAC, 0.006 * long_side + 1.0)
        fitting = int(inliers.sum()) if homography is not None else 0
    problem = None
    if fitting < MIN_MATCHES:
        problem = f"only {fitting} of its points match the photo's"
    else:
        homography = to_photo @ homography
        problem = _implausible(homography, reference.shape, photo.shape[:2])
    if problem:
        raise CineError(f"the video does not show the photo's view ({problem}); film the same view as the "
                        f"photo, from the same place")
    return homography


def _implausible(homography: np.ndarray, clip_shape: tuple[int, int], photo_shape: tuple[int, int]) -> str | None:
    """Why a clip -> photo homography cannot be the same view, or None."""
    height, width = clip_shape
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])[:, None]
    mapped = cv2.perspectiveTransform(corners, homography)[:, 0]
    if not cv2.isContourConvex(mapped.astype(np.float32)):
        return "the matching points fold the picture"
    scale = math.sqrt(abs(cv2.contourArea(mapped)) / (width * height))
    photo_area = photo_shape[0] * photo_shape[1]
    frame = np.float32([[0, 0], [photo_shape[1], 0], [photo_shape[1], photo_shape[0]], [0, photo_shape[0]]])
    overlap, _ = cv2.intersectConvexConvex(mapped.astype(np.float32), frame)
    if overlap < 0.25 * photo_area:
        return f"it covers {100 * overlap / photo_area:.0f} % of the photo"
    if not 0.1 <= scale <= 20:
        return "the matching points squash the picture"
    return None


def to_photo(motion: ClipMotion, homography: np.ndarray, photo_size: tuple[int, int],
             output_fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clip's field and moving pixels in the photo's pixels.

    Each photo pixel p looks up the clip's flow f at q = H^-1 p and moves to H(q + f): the
    displacement in photo pixels per clip frame, then times clip fps / output fps.

    Returns:
        flow: (2, H, W) float32 photo pixels per output frame;
        moving: (H, W) bool;
        covered: (H, W) bool, the pixels the clip shows.
    """
    width, height = photo_size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    points = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2)
    inverse = np.linalg.inv(homography)
    source = cv2.perspectiveTransform(points, inverse).reshape(height, width, 2)
    map_x, map_y = source[..., 0], source[..., 1]
    clip_h, clip_w = motion.moving.shape
    # Pixel centres are whole numbers: the clip's picture reaches half a pixel beyond them.
    covered = (map_x >= -0.5) & (map_x <= clip_w - 0.5) & (map_y >= -0.5) & (map_y <= clip_h - 0.5)
    sampled = np.stack([cv2.remap(c, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                        for c in motion.flow])
    moved = cv2.perspectiveTransform((source + sampled.transpose(1, 2, 0)).reshape(-1, 1, 2), homography)
    flow = (moved.reshape(height, width, 2) - np.stack([xs, ys], axis=-1)).transpose(2, 0, 1)
    flow = flow * (motion.fps / output_fps) * covered[None]
    moving = cv2.remap(motion.moving.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
    return flow.astype(np.float32), moving & covered, covered


def video_motion(photo: torch.Tensor, path: str, output_fps: float, progress: Progress = lambda s, f: None) -> VideoMotion:
    """The motion a clip of the scene shows, in the photo's pixels (see the module docstring).

    Args:
        photo: (3, H, W) photo in [0, 1] at working size.
        path: the clip (any video ffmpeg decodes).
        output_fps: frame rate of the cinemagraph: the clip's speed per second is kept.

    Raises:
        CineError: a bad clip (see :func:`clip_motion`) or one of another view (:func:`register_clip`).
    """
    if not output_fps > 0:
        raise CineError("the output frame rate must be positive")
    motion = clip_motion(path, progress)
    rgb = to_uint8_image(photo)
    homography = register_clip(motion.reference, rgb)
    height, width = rgb.shape[:2]
    flow, moving, covered = to_photo(motion, homography, (width, height), output_fps)
    moving = _without_specks(moving, MIN_PART)
    regions = cv2.connectedComponents(moving.astype(np.uint8), connectivity=8)[1].astype(np.int32)
    sigma = max(1.0, 0.005 * float(np.hypot(width, height)))
    flow = np.where(moving[None], masked_blur(flow, moving.astype(np.float32), sigma), flow)
    seen = f"{motion.frames} frames at {motion.fps:g} fps"
    if covered.mean() < 0.99:
        seen += f", shows {100 * covered.mean():.0f} % of the photo"
    if moving.any():
        speed = float(np.linalg.norm(flow[:, moving], axis=0).mean())
        summary = (f"{100 * moving.mean():.0f} % of the photo moves, {speed:.2f} px/frame on average "
                   f"({seen}, camera shake up to {motion.shake:.1f} px removed)")
    else:
        summary = f"nothing moves in the video ({seen})"
    return VideoMotion(torch.from_numpy(np.ascontiguousarray(flow)), regions, covered, summary)


def sample_arrows(flow: torch.Tensor, regions: np.ndarray, spacing: float) -> list[HintArrow]:
    """Hint arrows sampled from a field on a grid, for showing (and editing) it as arrows.

    One arrow per grid cell of ``spacing`` pixels whose centre lies well inside a moving region,
    at the cell's mean velocity, with the length the hint convention gives that velocity
    (:data:`~cine_core.motion.flow.ARROW_PIXELS_PER_FRAME_UNIT`).

    Args:
        flow: (2, H, W) pixels per frame.
        regions: (H, W) int region numbers, 0 = still.
        spacing: grid step in pixels.
    """
    moving = regions > 0
    inner = cv2.distanceTransform(moving.astype(np.uint8), cv2.DIST_L2, 3) >= 0.25 * spacing
    field = flow.numpy()
    arrows = []
    height, width = moving.shape
    step = max(2, int(spacing))
    for y in range(step // 2, height, step):
        for x in range(step // 2, width, step):
            if not inner[y, x]:
                continue
            cell = moving[max(0, y - step // 2):y + step // 2 + 1, max(0, x - step // 2):x + step // 2 + 1]
            window = field[:, max(0, y - step // 2):y + step // 2 + 1, max(0, x - step // 2):x + step // 2 + 1]
            dx, dy = (window[:, cell].mean(axis=1) * ARROW_PIXELS_PER_FRAME_UNIT).tolist()
            if math.hypot(dx, dy) >= 1.0:
                arrows.append(HintArrow((float(x), float(y)), (x + dx, y + dy)))
    return arrows


def with_annotation(video: VideoMotion, annotation: MotionAnnotation) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip's flow and moving regions, where the user's mask and arrows win where given.

    A user's mask replaces the clip's moving region (the clip's velocity fills it); a region
    with user arrows starting inside it takes its velocity from those arrows, as without a clip;
    an arrow starting outside every region moves its own neighbourhood.

    Args:
        video: the clip's motion at the annotation's size.
        annotation: the user's mask and arrows (either may be missing).

    Returns:
        (2, H, W) flow, zero outside the regions, and (H, W) int32 region numbers.
    """
    size = annotation.size
    flow = video.flow.numpy().copy()
    if annotation.mask is not None:
        regions = motion_regions(annotation)
    else:
        regions = video.regions.copy()
        outside = [h for h in annotation.hints if not starts_inside(h.start, regions > 0)]
        if outside:
            around = motion_regions(MotionAnnotation(size, None, outside)) > 0
            regions[around & (regions == 0)] = int(regions.max()) + 1
    for label in np.unique(regions[regions > 0]):
        region = regions == label
        arrows = [h for h in annotation.hints if starts_inside(h.start, region)]
        if arrows:
            flow[:, region] = eulerian_flow(MotionAnnotation(size, region, arrows)).numpy()[:, region]
    flow *= regions[None] > 0
    return torch.from_numpy(flow), torch.from_numpy(regions.astype(np.int32))
