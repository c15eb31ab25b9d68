"""Scene flow and symmetric animation: the LDI's points, each with its trajectory over the loop.

Every point keeps its depth and slides in the image plane along its 2-D trajectory; lifting is
K^-1 [p + D(p), 1] * z (the published method). Two copies of the cloud exist at every frame:
moved forward by m steps and moved backward by N - m steps; the renderer blends them by time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .flow import motion_mask
from .integrate import loop_displacements
from .scene import PreparedScene


@dataclass
class AnimatedPointCloud:
    """All LDI points and their motion over a loop of ``num_frames``.

    Attributes:
        rest_uv: (P, 2) pixel position (x, y) in the photo.
        depth: (P,) depth in scene units.
        values: (P, C) what the points carry (colour, or learned features).
        disparity: (P,) 1 / depth, normalised so the nearest point is 1.
        moving: (M,) indices of points that move.
        forward, backward: (N + 1, M, 2) displacements of the moving points at each frame.
    """

    rest_uv: torch.Tensor
    depth: torch.Tensor
    values: torch.Tensor
    disparity: torch.Tensor
    moving: torch.Tensor
    forward: torch.Tensor
    backward: torch.Tensor

    @property
    def num_frames(self) -> int:
        return self.forward.shape[0] - 1

    def positions(self, frame: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, 2) pixel positions of the forward- and backward-moved clouds at ``frame``."""
        forward = self.rest_uv.clone()
        backward = self.rest_uv.clone()
        forward[self.moving] += self.forward[frame]
        backward[self.moving] += self.backward[frame]
        return forward, backward

    def to(self, device: torch.device | str) -> "AnimatedPointCloud":
        return AnimatedPointCloud(*(getattr(self, name).to(device) for name in
                                    ("rest_uv", "depth", "values", "disparity", "moving",
                                     "forward", "backward")))


def point_values(scene: PreparedScene) -> list[torch.Tensor]:
    """Per layer (C, H, W) values the points carry: the layer's colours (classical path)."""
    return [layer.rgb for layer in scene.layered.layers]


def animate_points(scene: PreparedScene, num_frames: int, integrator: str = "rk4",
                   values: list[torch.Tensor] | None = None) -> AnimatedPointCloud:
    """Gather the points of every layer and integrate the moving ones over the loop.

    Visible points follow the flow; inpainted points follow the flow extended into the hidden
    surface (so background revealed beside a waterfall moves with it).

    Args:
        scene: the prepared scene.
        num_frames: loop length N.
        integrator: ``"euler"`` or ``"rk4"``.
        values: per layer (C, H, W) point values; default the layer colours.
    """
    values = values if values is not None else point_values(scene)
    width, height = scene.size
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1)
    moves_visible = motion_mask(scene.flow)
    moves_hidden = motion_mask(scene.hidden_flow)
    rest, depth, carried, kind = [], [], [], []
    for layer, layer_values in zip(scene.layered.layers, values):
        alpha = layer.alpha
        rest.append(grid[alpha])
        depth.append(layer.depth[alpha])
        carried.append(layer_values.permute(1, 2, 0)[alpha])
        # 0: static, 1: visible and moving, 2: hidden and moving
        point_kind = torch.zeros(height, width, dtype=torch.uint8)
        point_kind[moves_visible & ~layer.hidden] = 1
        point_kind[moves_hidden & layer.hidden] = 2
        kind.append(point_kind[alpha])
    rest_uv, depth_all = torch.cat(rest), torch.cat(depth)
    kind_all = torch.cat(kind)
    moving = torch.nonzero(kind_all > 0).flatten()
    forward = torch.zeros(num_frames + 1, moving.numel(), 2)
    backward = torch.zeros_like(forward)
    for code, field in ((1, scene.flow), (2, scene.hidden_flow)):
        selected = kind_all[moving] == code
        if bool(selected.any()):
            fwd, bwd = loop_displacements(field, rest_uv[moving[selected]], num_frames, integrator)
            forward[:, selected] = fwd
            backward[:, selected] = bwd
    disparity = 1.0 / depth_all
    return AnimatedPointCloud(rest_uv, depth_all, torch.cat(carried), disparity / disparity.max(),
                              moving, forward, backward)
