"""Contact sheets: 100 % crops of a clip at a few loop times, beside the real frames, for a person
to look at (defects such as soft fluid, travelling region edges or stray points show at full
resolution, not in a downscaled frame)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

#: Loop times shown, as fractions of the loop.
SHEET_TIMES = (0.0, 1.0 / 3.0, 0.5, 2.0 / 3.0)
SHEET_TIME_NAMES = ("0", "1/3", "1/2", "2/3")
#: Side of the square crop in pixels of the evaluated frames (shown at 100 %).
CROP_SIDE = 256
#: The crop is placed where this fraction of it is moving region: both fluid and the still
#: content around it (where edges and escaped points show) are in view.
CROP_COVERAGE = 0.6
_GAP = 4


def sheet_frames(count: int) -> list[int]:
    """Frame indices of :data:`SHEET_TIMES` in a loop of ``count`` frames (frame m = time m / N)."""
    return [min(count - 1, int(round(t * count))) for t in SHEET_TIMES]


def crop_box(mask: np.ndarray, side: int = CROP_SIDE) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the crop: a ``side`` square (clipped to the frame) whose share of
    ``mask`` ((H, W) bool) is closest to :data:`CROP_COVERAGE`; the most central such window."""
    height, width = mask.shape
    w, h = min(side, width), min(side, height)
    coverage = cv2.boxFilter(mask.astype(np.float32), -1, (w, h), normalize=True,
                             borderType=cv2.BORDER_CONSTANT)
    # window centres whose window lies inside the frame
    cy0, cx0 = h // 2, w // 2
    valid = coverage[cy0:height - (h - 1 - h // 2), cx0:width - (w - 1 - w // 2)]
    ys, xs = np.mgrid[0:valid.shape[0], 0:valid.shape[1]]
    off_centre = np.hypot(ys + cy0 - height / 2, xs + cx0 - width / 2) / max(width, height)
    score = np.abs(valid - CROP_COVERAGE) + 0.01 * off_centre
    y, x = np.unravel_index(int(np.argmin(score)), score.shape)
    return int(x), int(y), w, h


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, thickness, cv2.LINE_AA)
    return tile


def contact_sheet(rows: Sequence[tuple[str, Sequence[np.ndarray]]], frames: Sequence[int],
                  box: tuple[int, int, int, int]) -> np.ndarray:
    """One row per clip, one column per frame index: the ``box`` crop of each frame, labelled.

    Args:
        rows: (name, frames) pairs, frames (H, W, 3) uint8 RGB.
        frames: the frame indices shown (see :func:`sheet_frames`).
        box: (x, y, width, height) from :func:`crop_box`.

    Returns:
        (H', W', 3) uint8 RGB, tiles separated by a dark gap.
    """
    x, y, w, h = box
    count = max(len(clip) for _, clip in rows)
    lines = []
    for name, clip in rows:
        tiles = []
        for index, time in zip(frames, SHEET_TIME_NAMES):
            tile = clip[index][y:y + h, x:x + w]
            tiles.append(_label(tile, f"{name}  t={time} (frame {index}/{count})"))
            tiles.append(np.full((h, _GAP, 3), 32, np.uint8))
        lines.append(np.concatenate(tiles[:-1], axis=1))
        lines.append(np.full((_GAP, lines[-1].shape[1], 3), 32, np.uint8))
    return np.concatenate(lines[:-1], axis=0)
