"""The rules every front end applies to the user's motion: how long a hint arrow must be,
which region an arrow steers, what is missing for anything to move, and which pixels move.

Imports neither PyTorch nor OpenCV: the Blender add-on checks arrows and regions with it before
the core's dependencies are installed. The functions take NumPy arrays or PyTorch tensors.
"""
from __future__ import annotations

import math

#: Shorter hint arrows (in photo pixels) give no direction: a click rather than a drag.
MIN_ARROW_LENGTH = 0.5

#: What :func:`motion_problem` finds missing.
NOTHING_MOVES = "nothing moves"
EMPTY_REGION = "empty region"
NO_DIRECTION = "no direction"


def has_length(start: tuple[float, float], end: tuple[float, float]) -> bool:
    """Whether an arrow from ``start`` to ``end`` (x, y pixels) is long enough to give a direction."""
    return math.hypot(end[0] - start[0], end[1] - start[1]) >= MIN_ARROW_LENGTH


def starts_inside(start: tuple[float, float], region) -> bool:
    """Whether an arrow starting at ``start`` (x, y) steers ``region`` ((H, W), non-zero inside):
    the pixel it starts on, or the nearest border pixel when it starts beyond the image."""
    height, width = region.shape
    x = min(max(int(round(start[0])), 0), width - 1)
    y = min(max(int(round(start[1])), 0), height - 1)
    return bool(region[y, x])


def motion_problem(mask, num_hints: int, has_direction: bool) -> str | None:
    """What keeps an annotation from moving anything, or None when it moves.

    Args:
        mask: (H, W) bool moving region, or None when there is none.
        num_hints: the number of hint arrows.
        has_direction: whether a direction was given in words.

    Returns:
        :data:`NOTHING_MOVES` (neither region nor arrows), :data:`EMPTY_REGION` (a region with
        no pixel in it), :data:`NO_DIRECTION` (a region with neither arrows nor a direction),
        or None.
    """
    if mask is None and num_hints == 0:
        return NOTHING_MOVES
    if mask is not None and not mask.any():
        return EMPTY_REGION
    if num_hints == 0 and not has_direction:
        return NO_DIRECTION
    return None


def motion_mask(flow):
    """(H, W) bool: the pixels of a (2, H, W) flow field that move."""
    return (flow != 0).any(0)
