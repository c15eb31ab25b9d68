"""How far a camera may move from the source camera before the picture breaks.

Moving the camera by t scene units shifts a point at depth d by fx * t / d pixels. Two things
then show what the photo never saw:

* behind a depth edge, the farther layer appears by fx * t * (1 / d_front - 1 / d_back) pixels;
  the layered depth image holds an inpainted band behind each edge, so the move is safe while
  that gap stays within the band;
* at the photo's border, the nearest content uncovers fx * t / d_min pixels beyond the edge,
  which the renderer can only fill from the edge's colours; up to :data:`BORDER_FRACTION` of
  the image's short side passes unnoticed.

The safe radius is the smaller of the two (a sphere around the source camera).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # only read here: the scene itself is built on the cameras' conventions
    from ..scene import PreparedScene

#: The strip beyond the photo's border a move may uncover, as a fraction of the short side.
BORDER_FRACTION = 0.05
#: The strongest parallax an edge shows is taken at this percentile of its hidden pixels, so a
#: few stray inpainted pixels do not decide the zone.
PARALLAX_PERCENTILE = 90.0


def _edge_radius(scene: PreparedScene) -> float:
    """Largest translation whose disocclusions stay within the inpainted bands (inf: no edge)."""
    fx = scene.intrinsics.fx
    visible_depth = scene.depth.numpy()
    radius = float("inf")
    nearer = np.zeros(visible_depth.shape, bool)  # seen on a nearer layer
    for layer in scene.layered.layers:
        hidden = layer.hidden.numpy() & layer.alpha.numpy()
        if hidden.any() and nearer.any():
            # How far the band reaches behind the nearer layers' edge, in pixels.
            reach = cv2.distanceTransform(nearer.astype(np.uint8), cv2.DIST_L2, 3)
            band = float(reach[hidden].max())
            parallax = fx * (1.0 / visible_depth[hidden] - 1.0 / layer.depth.numpy()[hidden])
            strongest = float(np.percentile(parallax, PARALLAX_PERCENTILE))
            if strongest > 0:
                radius = min(radius, band / strongest)
        nearer |= layer.alpha.numpy() & ~layer.hidden.numpy()
    return radius


def safe_camera_radius(scene: PreparedScene) -> float:
    """Distance in scene units (nearest point = 1) the camera may move from the source camera
    in any direction before revealed areas exceed the layered depth image."""
    width, height = scene.size
    nearest = float(scene.depth.min())
    border = BORDER_FRACTION * min(width, height) * nearest / scene.intrinsics.fx
    return min(border, _edge_radius(scene))
