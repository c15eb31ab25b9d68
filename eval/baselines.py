"""Baselines the evaluation compares the renderer with, computed from the same inputs.

* **still**: the photo repeated (what a viewer gets with no animation at all).
* **2D warp**: the photo warped in the image plane by the same Eulerian flow field the core
  animates (no depth, no layers, no symmetric blending): frame m is the photo backward-warped
  by the integrated displacement of m frames, using the core's own integrator
  (:func:`cine_core.motion.integrate.integrate_positions`).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from cine_core import integrate_positions, motion_mask, sample_bilinear, to_uint8_image

WARP_MODES = ("forward", "inverse")


def still_frames(photo: np.ndarray, num_frames: int) -> list[np.ndarray]:
    """The photo ((H, W, 3) uint8) repeated ``num_frames`` times."""
    return [photo] * num_frames


def warp_frames(photo: torch.Tensor, flow: torch.Tensor, num_frames: int, *, integrator: str = "rk4",
                mode: str = "forward") -> Iterator[np.ndarray]:
    """The plain 2-D warp baseline: yields ``num_frames`` (H, W, 3) uint8 frames, frame 0 = photo.

    For every pixel p, F_m(p) = Phi_m(p) - p is the displacement after m frames of a particle
    starting at p, integrated through ``flow`` with the core's integrator (one step per frame).

    * ``mode="forward"`` (the default): frame_m(p) = photo(p - F_m(p)), i.e. the photo is
      backward-warped by the forward displacement field of frame m (first-order inverse of the
      forward map; exact for a constant flow);
    * ``mode="inverse"``: frame_m(p) = photo(Phi_{-m}(p)), the particle that arrives at p is
      traced back by integrating the negated flow (the exact inverse of the forward map).

    Only pixels where the flow is non-zero are integrated: elsewhere the velocity sampled at the
    pixel centre is exactly zero, so those pixels never move and keep the photo's colour.

    Args:
        photo: (3, H, W) float in [0, 1].
        flow: (2, H, W) pixels per frame (the scene's Eulerian flow).
        num_frames: N; frames 0 .. N-1 are produced.
    """
    if mode not in WARP_MODES:
        raise ValueError(f"warp mode must be one of {WARP_MODES}, not {mode!r}")
    height, width = photo.shape[1:]
    moving = motion_mask(flow)
    ys, xs = torch.nonzero(moving, as_tuple=True)
    start = torch.stack([xs, ys], dim=1).to(torch.float32)
    field = flow if mode == "forward" else -flow
    base = to_uint8_image(photo)
    current = start
    for frame in range(num_frames):
        if frame > 0:
            current = integrate_positions(field, current, 1, integrator)[1]
        if frame == 0 or start.shape[0] == 0:
            yield base.copy()
            continue
        source = start - (current - start) if mode == "forward" else current
        colours = sample_bilinear(photo, source)
        image = base.copy()
        image[ys.numpy(), xs.numpy()] = (colours.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()
        yield image
