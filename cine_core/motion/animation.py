"""Scene flow and symmetric animation: the LDI's points, each with its trajectory over the loop.

A moving point slides in the image plane along its 2-D trajectory and takes the depth of its
layer's surface where it arrives: K^-1 [p + D(p), 1] * z_layer(p + D(p)). The published method
keeps the start depth instead, which tears fluid on a slanted surface (a lake receding to the
horizon) away from that surface and makes the two clouds below disagree in depth. Two copies
of the cloud exist at every frame: moved forward by m steps and backward by N - m steps; the
renderer blends them by time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from ..filters import fill_holes
from ..io.motion_rules import motion_mask
from ..layers.ldi import BEHIND_FACTOR, DepthLayer
from ..layers.soft_edges import edge_matte, unmix_values
from ..scene import PreparedScene
from .integrate import STAYS, LoopTrajectories, ParticleField, integrate_loop, sample_bilinear


@dataclass(frozen=True)
class CloudExtent:
    """Box holding every position a cloud's points take over the loop: pixels and depths.

    Plain floats, read once when the cloud is made, so that per-frame decisions about the whole
    cloud (see :meth:`~cine_core.rendering.frames.FrameRenderer.splat_clouds`) need no read-back from the
    device in the render loop.
    """

    u_min: float
    u_max: float
    v_min: float
    v_max: float
    depth_min: float
    depth_max: float


#: What a point is (:attr:`AnimatedPointCloud.kind`): still content, visible fluid, hidden
#: surface moving with the fluid beside it, and still hidden surface behind visible fluid (the
#: inpainted bed under a waterfall: shown only where the camera looks past the fluid, never
#: where the fluid flowed away, since the other cloud has fluid there).
STILL, FLUID, HIDDEN_MOVING, UNDER_FLUID = 0, 1, 2, 3


@dataclass(frozen=True)
class SoftEdges:
    """The points of a cloud at soft layer edges (:mod:`~cine_core.layers.soft_edges`).

    Attributes:
        coverage: (P,) how much of its pixel each point covers (1 but at soft edges).
        changed: (K,) the points whose values were un-mixed (those on the near side also moved
            to the depth of the near surface beside them).
        photo_values: (K, C) their values as the photo has them.
        layer_depth: (K,) their depths as their layers have them.
    """

    coverage: torch.Tensor
    changed: torch.Tensor
    photo_values: torch.Tensor
    layer_depth: torch.Tensor

    def to(self, device: torch.device | str) -> "SoftEdges":
        return SoftEdges(self.coverage.to(device), self.changed.to(device), self.photo_values.to(device),
                         self.layer_depth.to(device))


@dataclass
class AnimatedPointCloud:
    """All LDI points and their motion over a loop of ``num_frames``.

    Static points come first, moving points last, so a renderer can treat the static part as
    one block shared by both clouds.

    Attributes:
        rest_uv: (P, 2) pixel position (x, y) in the photo.
        depth: (P,) depth in scene units.
        values: (P, C) what the points carry (colour, or learned features).
        num_static: S; points S..P-1 move.
        num_underlay: the last of the S static points are this many :data:`UNDER_FLUID` ones.
        trajectories: where the M = P - S moving points are at each frame, forward and backward.
        seam_weight: (P,) weight in the forward/backward blend, falling from 1 to
            :data:`SEAM_FLOOR` towards the border of the moving region (see :func:`seam_weights`).
        kind: (P,) uint8 :data:`STILL`, :data:`FLUID`, :data:`HIDDEN_MOVING` or :data:`UNDER_FLUID`.
        surfaces: (L, H, W) depth of each layer's surface (:func:`layer_surface`).
        owner: (M,) uint8 layer of each moving point.
        photo_depth: (H, W) depth of the photo's surface (:attr:`PreparedScene.depth`).
        extent: where the points ever are; computed from the tensors when not given.
        soft_edges: the still points' partial coverage at layer cuts, None without any.

    A moving point's position and depth at a frame are computed when asked
    (:meth:`moving_positions`): the trajectories keep positions every few frames and integrate
    the steps between, and the depth is the point's layer's surface where it arrives. Stored
    for every frame, positions and depths of a 60-frame loop of a 1280x720 waterfall took 252
    MB; a frame computes them in a few tens of milliseconds on one CPU thread.
    """

    rest_uv: torch.Tensor
    depth: torch.Tensor
    values: torch.Tensor
    num_static: int
    num_underlay: int
    trajectories: LoopTrajectories
    seam_weight: torch.Tensor
    kind: torch.Tensor
    surfaces: torch.Tensor
    owner: torch.Tensor
    photo_depth: torch.Tensor
    extent: CloudExtent | None = None
    soft_edges: SoftEdges | None = None
    #: Indices of the moving points on each layer, then of the :data:`HIDDEN_MOVING` ones among
    #: them: found once on the host, so that :meth:`depth_at` reads nothing back from a device.
    point_groups: tuple[list[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.point_groups is None:
            moving_kind = self.kind[self.num_static:]
            self.point_groups = ([torch.nonzero(self.owner == layer).squeeze(1) for layer in range(len(self.surfaces))],
                                 torch.nonzero(moving_kind == HIDDEN_MOVING).squeeze(1))
        if self.extent is None:
            self.extent = self._measure_extent()

    def _measure_extent(self) -> CloudExtent:
        # Rest box plus the trajectories' displacement box, and the depths the moving points'
        # surfaces take over the pixels of that box: a larger box than the true one, found
        # without integrating the loop again.
        low, high = self.rest_uv.amin(0), self.rest_uv.amax(0)
        depth_min, depth_max = self.depth.amin(), self.depth.amax()
        if self.trajectories.num_points:
            moving = self.rest_uv[self.num_static:]
            moved_low = moving.amin(0) + self.trajectories.low
            moved_high = moving.amax(0) + self.trajectories.high
            low, high = torch.minimum(low, moved_low), torch.maximum(high, moved_high)
            height, width = self.photo_depth.shape
            left, top = (int(value) for value in moved_low.floor().clamp(min=0).tolist())
            right, bottom = (int(value) + 1 for value in moved_high.ceil().tolist())
            left, top, right, bottom = min(left, width - 1), min(top, height - 1), min(right, width), min(bottom, height)
            of_layer, hidden = self.point_groups
            for layer, points in enumerate(of_layer):
                if points.numel():
                    under = self.surfaces[layer, top:bottom, left:right]
                    depth_min, depth_max = torch.minimum(depth_min, under.amin()), torch.maximum(depth_max, under.amax())
            if hidden.numel():
                behind = self.photo_depth[top:bottom, left:right].amax() * BEHIND_FACTOR
                depth_max = torch.maximum(depth_max, behind)
        u_min, v_min, u_max, v_max, depth_min, depth_max = torch.stack(
            [low[0], low[1], high[0], high[1], depth_min, depth_max]).tolist()
        return CloudExtent(u_min, u_max, v_min, v_max, depth_min, depth_max)

    @property
    def num_frames(self) -> int:
        return self.trajectories.num_frames

    @property
    def moving(self) -> torch.Tensor:
        """(M,) indices of the moving points."""
        return torch.arange(self.num_static, self.depth.shape[0], device=self.depth.device)

    def moving_positions(self, frame: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixel positions (M, 2) and depths (M,) of the moving points at ``frame`` in [0, N].

        Returns:
            forward_uv, forward_depth, backward_uv, backward_depth.
        """
        rest = self.rest_uv[self.num_static:]
        forward, backward = self.trajectories.displacements(frame)
        forward_uv, backward_uv = rest + forward, rest + backward
        return forward_uv, self.depth_at(forward_uv), backward_uv, self.depth_at(backward_uv)

    def depth_at(self, uv: torch.Tensor) -> torch.Tensor:
        """(M,) depths of the moving points standing at ``uv`` (M, 2): each on its layer's
        surface there, and a hidden moving point no nearer than :data:`BEHIND_FACTOR` behind the
        photo's surface at any pixel it is splatted onto.

        Hidden surface lies that far behind the photo's surface where it was inpainted
        (build_layers), so the splatter never takes it for the visible surface. A moving hidden
        point leaves that pixel, and its layer's surface where it arrives may lie no farther than
        the photo's there (a blade's tip, whose depth fades into the water's): within the
        splatter's tolerance it would then blend into still content as if it were the same
        surface.
        """
        of_layer, hidden = self.point_groups
        if len(of_layer) == 1:
            depth = sample_bilinear(self.surfaces, uv)[:, 0]
        else:
            depth = torch.empty(uv.shape[0], dtype=uv.dtype, device=uv.device)
            for layer, points in enumerate(of_layer):  # index_select/index_copy_: copies, faster than []
                if points.numel():
                    depth.index_copy_(0, points, sample_bilinear(self.surfaces[layer:layer + 1],
                                                                 uv.index_select(0, points))[:, 0])
        if hidden.numel():
            behind = farthest_under(self.photo_depth, uv.index_select(0, hidden)).mul_(BEHIND_FACTOR)
            depth.index_copy_(0, hidden, torch.maximum(depth.index_select(0, hidden), behind))
        return depth

    def opaque_values(self) -> torch.Tensor:
        """(P, C) the values for a renderer that draws every point whole (the add-on's surface
        meshes): those un-mixed at soft edges as the photo has them. The points added over
        the far side of soft edges keep their values; such a renderer leaves them out."""
        if self.soft_edges is None:
            return self.values
        return self.values.index_copy(0, self.soft_edges.changed, self.soft_edges.photo_values)

    def layer_depth(self) -> torch.Tensor:
        """(P,) the points' depths as their layers have them: those soft edges moved to the
        near surface's depth back where their layer put them."""
        if self.soft_edges is None:
            return self.depth
        return self.depth.index_copy(0, self.soft_edges.changed, self.soft_edges.layer_depth)

    def positions(self, frame: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixel positions (P, 2) and depths (P,) of the whole forward and backward clouds.

        Returns:
            forward_uv, forward_depth, backward_uv, backward_depth.
        """
        still_uv, still_depth = self.rest_uv[:self.num_static], self.depth[:self.num_static]
        forward_uv, forward_depth, backward_uv, backward_depth = self.moving_positions(frame)
        return (torch.cat([still_uv, forward_uv]), torch.cat([still_depth, forward_depth]),
                torch.cat([still_uv, backward_uv]), torch.cat([still_depth, backward_depth]))

    def to(self, device: torch.device | str) -> "AnimatedPointCloud":
        moved = {name: getattr(self, name).to(device) for name in
                 ("rest_uv", "depth", "values", "trajectories", "seam_weight", "kind", "surfaces", "owner",
                  "photo_depth")}
        of_layer, hidden = self.point_groups
        soft = None if self.soft_edges is None else self.soft_edges.to(device)
        return AnimatedPointCloud(num_static=self.num_static, num_underlay=self.num_underlay, extent=self.extent,
                                  soft_edges=soft,
                                  point_groups=([points.to(device) for points in of_layer], hidden.to(device)), **moved)


#: Blend weight of moving points at the very border of the moving region.
SEAM_FLOOR = 0.05


def seam_weights(moving: torch.Tensor, width: float) -> torch.Tensor:
    """Feathering of the moving region: 1 deep inside, down to :data:`SEAM_FLOOR` at its border.

    Where the fluid has flowed away, one cloud has a hole whose rim is made of points that
    started at the region's border; with full weight that rim shows as a hard seam against the
    other cloud. Weighting points by their start distance to the border makes the two clouds
    cross-fade there instead.

    Args:
        moving: (H, W) bool.
        width: feathering distance in pixels.

    Returns:
        (H, W) float32 weights (1 outside the moving region).
    """
    inside = moving.numpy().astype(np.uint8)
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    weight = np.where(inside > 0, np.clip(distance / width, SEAM_FLOOR, 1.0), 1.0)
    return torch.from_numpy(weight.astype(np.float32))


def layer_surface(layer: DepthLayer) -> torch.Tensor:
    """(H, W) depth of the layer's own surface, extended smoothly beyond its content.

    Points flowing out of their layer's region (smoke rising into the sky) stay on their own
    surface instead of jumping to the depth of whatever other layer is seen there.
    """
    alpha = layer.alpha[None].float()
    log_depth = fill_holes(torch.log(layer.depth)[None] * alpha, alpha)
    return torch.exp(log_depth[0])


def farthest_under(depth: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(...) the largest of ``depth`` (H, W) over the pixels a bilinear splat of each point
    (..., 2) (x, y) gives weight (one pixel at a pixel centre, up to four between; positions
    clamped to the image as :func:`~cine_core.motion.integrate.sample_bilinear` does)."""
    height, width = depth.shape
    limit = torch.tensor([width - 1, height - 1], dtype=points.dtype, device=points.device)
    points = torch.minimum(points.clamp(min=0.0), limit)
    base = points.floor()
    frac = points - base
    x0, y0 = base[..., 0].long(), base[..., 1].long()
    farthest = torch.full(points.shape[:-1], -float("inf"), dtype=depth.dtype, device=depth.device)
    weight_x, weight_y = (1.0 - frac[..., 0], frac[..., 0]), (1.0 - frac[..., 1], frac[..., 1])
    flat = depth.reshape(-1)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        touched = weight_x[dx] * weight_y[dy] > 0
        x, y = (x0 + dx).clamp(max=width - 1), (y0 + dy).clamp(max=height - 1)
        under = flat.index_select(0, (y * width + x).reshape(-1)).view(x.shape)
        farthest = torch.where(touched, torch.maximum(farthest, under), farthest)
    return farthest


def point_values(scene: PreparedScene) -> list[torch.Tensor]:
    """Per layer (C, H, W) values the points carry: the layer's colours (classical path)."""
    return [layer.rgb for layer in scene.layered.layers]


def animate_points(scene: PreparedScene, num_frames: int, integrator: str = "rk4",
                   values: list[torch.Tensor] | None = None,
                   device: str | torch.device = "cpu", every: int | None = None) -> AnimatedPointCloud:
    """Gather the points of every layer and integrate the moving ones over the loop.

    Visible points follow the flow; inpainted points follow the flow extended into the hidden
    surface (so background revealed beside a waterfall moves with it). Beside the layer cuts in
    front of which the near surface stays still, points cover their pixels in part and carry
    un-mixed values (:mod:`~cine_core.layers.soft_edges`, :attr:`AnimatedPointCloud.soft_edges`).

    Args:
        scene: the prepared scene.
        num_frames: loop length N.
        integrator: ``"euler"`` or ``"rk4"``.
        values: per layer (C, H, W) point values; default the layer colours.
        device: where the trajectories are integrated and the cloud is returned (the points
            are gathered on the CPU, where the scene is).
        every: steps between the trajectories' kept positions
            (default :data:`~cine_core.motion.integrate.CHECKPOINT_EVERY`).
    """
    values = values if values is not None else point_values(scene)
    width, height = scene.size
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1)
    moves_visible = motion_mask(scene.flow)
    moves_hidden = motion_mask(scene.hidden_flow)
    feather = seam_weights(moves_visible | moves_hidden, max(4.0, 0.03 * max(width, height)))
    matte = edge_matte(scene.layered, scene.photo, ~moves_visible)
    unmixed = unmix_values(values, matte)
    rest, depth, carried, kind, owner, seam, coverage, changed = [], [], [], [], [], [], [], []
    for index, (layer, layer_values) in enumerate(zip(scene.layered.layers, values)):
        alpha = layer.alpha
        rest.append(grid[alpha])
        depth.append(layer.depth[alpha])
        carried.append(layer_values.permute(1, 2, 0)[alpha])
        coverage.append(torch.ones(carried[-1].shape[0]))
        changed.append(torch.zeros(carried[-1].shape[0], dtype=torch.bool))
        # The layer's points at soft edges take their un-mixed values, the near ones their
        # coverage too.
        row = alpha.reshape(-1).cumsum(0).sub_(1)  # each pixel's point on this layer
        for side, replacement in ((matte.near_side, unmixed.near), (matte.far_side, unmixed.far)):
            here = side & (matte.visible_layer == index)
            rows = row[here.reshape(-1)]
            carried[-1][rows] = replacement[here[side]]
            changed[-1][rows] = True
            if side is matte.near_side:
                coverage[-1][rows] = matte.coverage[here]
                depth[-1][rows] = matte.near_depth[here]
        point_kind = torch.full((height, width), STILL, dtype=torch.uint8)
        point_kind[moves_visible & ~layer.hidden] = FLUID
        # Hidden surface behind still foreground (a rock beside the fall) moves with its moving
        # neighbours; hidden surface behind moving foreground (the bed under a lake) is another
        # surface than the fluid and stays.
        point_kind[moves_hidden & layer.hidden & ~moves_visible] = HIDDEN_MOVING
        point_kind[moves_visible & layer.hidden] = UNDER_FLUID
        kind.append(point_kind[alpha])
        owner.append(torch.full((int(alpha.sum()),), index, dtype=torch.long))
        seam.append(feather[alpha])
    # The near surface's points added over the far side of its soft edges: still, like it.
    added = matte.far_side
    near_layer = matte.near_layer[added]
    rest.append(grid[added])
    depth.append(matte.near_depth[added])
    carried.append(unmixed.added)
    coverage.append(matte.coverage[added])
    kind.append(torch.full((int(added.sum()),), STILL, dtype=torch.uint8))
    owner.append(near_layer)
    seam.append(feather[added])
    kind_all = torch.cat(kind)
    # Still points first, then those under fluid (still too), then the moving ones.
    rank = torch.where(kind_all == STILL, 0, torch.where(kind_all == UNDER_FLUID, 1, 2)).to(torch.uint8)
    order = torch.argsort(rank, stable=True)
    rest_uv, depth_all = torch.cat(rest)[order], torch.cat(depth)[order]
    carried_all, kind_all, owner_all = torch.cat(carried)[order], kind_all[order], torch.cat(owner)[order]
    num_static, num_underlay = int((rank < 2).sum()), int((rank == 1).sum())
    moving = torch.arange(num_static, rest_uv.shape[0])
    # Visible particles integrate inside their own region and stop at its border (a
    # waterfall's water stops where the lake begins instead of taking the lake's velocity, and
    # never draws over the still rock beside it); hidden ones follow the extended flow.
    regions = scene.motion_regions()
    region_of = torch.cat([regions[alpha] for alpha in [layer.alpha for layer in scene.layered.layers] + [added]])[order]
    fields = [ParticleField(scene.hidden_flow)]
    field_of = torch.where(kind_all[moving] == HIDDEN_MOVING, 0, STAYS).to(torch.int16)
    for label in torch.unique(regions[regions > 0]).tolist():
        inside = (regions == label).float()[None]
        field_of[(kind_all[moving] == FLUID) & (region_of[moving] == label)] = len(fields)
        fields.append(ParticleField(scene.flow * inside, inside))
    trajectories = integrate_loop(fields, field_of, rest_uv[moving].to(device), num_frames, integrator, every)
    surfaces = torch.stack([layer_surface(layer) for layer in scene.layered.layers]).to(device)
    soft = None
    if bool(matte.near_side.any() or matte.far_side.any()):
        # The un-mixed points where they are now, with the photo's values they had there.
        changed = torch.argsort(order)[torch.nonzero(torch.cat(changed)).squeeze(1)]
        soft_pixel = matte.near_side | matte.far_side
        mine = [soft_pixel & (matte.visible_layer == index) for index in range(len(values))]
        photo_values = torch.cat([layer_values.permute(1, 2, 0)[here] for here, layer_values in zip(mine, values)])
        layer_depth = torch.cat([layer.depth[here] for here, layer in zip(mine, scene.layered.layers)])
        soft = SoftEdges(torch.cat(coverage)[order].to(device), changed.to(device), photo_values.to(device),
                         layer_depth.to(device))
    return AnimatedPointCloud(rest_uv.to(device), depth_all.to(device), carried_all.to(device), num_static,
                              num_underlay, trajectories, torch.cat(seam)[order].to(device), kind_all.to(device),
                              surfaces, owner_all[moving].to(torch.uint8).to(device), scene.depth.to(device),
                              soft_edges=soft)


def playback_points(scene: PreparedScene, num_frames: int) -> AnimatedPointCloud:
    """:func:`animate_points` for a viewport that plays the loop: every step's positions kept.

    A viewport moves the surface to each frame's positions, all of them held as arrays
    (:class:`~cine_core.rendering.surface_mesh.SurfaceMotion` takes the kept positions
    themselves), so keeping fewer would save nothing there; its frames then need no integration.
    """
    return animate_points(scene, num_frames, every=1)
