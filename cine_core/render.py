"""Rendering frames of the cinemagraph from the animated point cloud and a camera."""
from __future__ import annotations

import torch

from .animation import AnimatedPointCloud
from .camera import Camera, Intrinsics
from .splat import PointSet, Splatted, fill_holes, project_points, splat_groups, surface_weight


def frame_time(frame: int, num_frames: int) -> float:
    """Loop time t = m / N of frame m in [0, N]; frame N (t = 1) shows the same instant as frame 0."""
    return frame / num_frames


def lift_to_world(uv: torch.Tensor, depth: torch.Tensor, source: Intrinsics) -> torch.Tensor:
    """(N, 3) world points K^-1 [u, v, 1] * z of pixels ``uv`` (N, 2) at ``depth`` (N,)."""
    x = (uv[:, 0] - source.cx) / source.fx * depth
    y = (uv[:, 1] - source.cy) / source.fy * depth
    return torch.stack([x, y, depth], dim=1)


def blend_weights(time: float, coverage: torch.Tensor, disparity: torch.Tensor,
                  seam: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric-animation weights of the forward (0) and backward (1) renderings.

    W_f = (1 - t) A_f V_f and W_b = t A_b V_b: early in the loop the forward cloud dominates,
    late the backward one, and where one cloud has a hole (A = 0, fluid flowed away) the other
    fills it. V is the splatter's soft depth test between the two clouds: where one cloud shows a
    surface clearly behind the other's (it sees through a hole the fluid left), it yields. The
    published method uses exp(4 disp) for this, which cannot overrule a 3:1 time weight when
    the two surfaces have similar disparity, so background showed through moving water.

    Args:
        time: t in [0, 1].
        coverage: (2, 1, H, W) A per cloud.
        disparity: (2, 1, H, W) composited disparity per cloud (larger = nearer).
        seam: (2, 1, H, W) composited seam weights (see :func:`~cine_core.animation.seam_weights`).

    Returns:
        (2, 1, H, W) unnormalised weights.
    """
    factors = torch.stack([coverage[0] * (1.0 - time), coverage[1] * time])  # (1 - t) A_f, t A_b
    active = factors > 0
    nearest = torch.where(active, disparity, torch.zeros_like(disparity)).amax(0, keepdim=True)
    visibility = surface_weight(nearest / disparity.clamp(min=1e-8) - 1.0)
    weights = factors * visibility
    return weights if seam is None else weights * seam


def frame_confidence(time: float, coverage: torch.Tensor) -> torch.Tensor:
    """(1, H, W) how much of each pixel the points of loop time ``time`` cover: only clouds
    whose time weight is not zero count (t = 0: the forward cloud alone).

    Args:
        coverage: (2, 1, H, W) coverage of the forward and the backward cloud.
    """
    return coverage[0] if time == 0.0 else coverage[1] if time == 1.0 else coverage.amax(0)


class FrameRenderer:
    """Renders frame m of the loop from any camera.

    Args:
        cloud: the animated points (values: C channels).
        source: intrinsics of the photo's camera (to lift pixels to 3-D).
    """

    def __init__(self, cloud: AnimatedPointCloud, source: Intrinsics):
        self.cloud = cloud
        self.source = source
        static = slice(0, cloud.num_static)
        self.static_world = lift_to_world(cloud.rest_uv[static], cloud.depth[static], source)
        #: depth of the scene's nearest point: the splatted disparity is nearest_depth / depth
        self.nearest_depth = cloud.depth.min()

    @property
    def device(self) -> torch.device:
        return self.cloud.depth.device

    def max_footprint(self, camera: Camera) -> float:
        """An upper bound of any point's footprint (in pixels) seen by ``camera``; inf when a
        point may lie behind it.

        Computed on the host from the cloud's extent: camera depth z = d (r3 . ray(u, v)) + t3
        for a point at source depth d on the ray through pixel (u, v), and the footprint is
        zoom * d / z = zoom / (r3 . ray + t3 / d); the denominator is smallest at a corner of
        the pixel box and at one end of the depth range.
        """
        extent, source = self.cloud.extent, self.source
        world_to_cam = camera.world_to_cam().double()
        (r1, r2, r3), t3 = world_to_cam[2, :3].tolist(), float(world_to_cam[2, 3])
        along = min(r1 * (u - source.cx) / source.fx + r2 * (v - source.cy) / source.fy + r3
                    for u in (extent.u_min, extent.u_max) for v in (extent.v_min, extent.v_max))
        along += t3 / (extent.depth_max if t3 >= 0 else extent.depth_min)
        zoom = camera.intrinsics.fx / source.fx
        return zoom / along if along > 0 else float("inf")

    def point_sets(self, frame: int, camera: Camera,
                   values: torch.Tensor | None = None) -> tuple[PointSet, list[PointSet]]:
        """The points of ``frame`` in [0, N] projected into ``camera``: the static points (shared
        by both clouds) and the moving points of the forward and of the backward cloud.

        Args:
            values: (P, C) per-point values to carry instead of the cloud's own.

        Returns:
            (static, [forward, backward]) :class:`~cine_core.splat.PointSet`; each point carries
            C + 1 channels, the last the disparity (nearest point of the scene = 1).
        """
        cloud = self.cloud
        values = cloud.values if values is None else values
        world_to_cam = camera.world_to_cam().to(self.device, self.static_world.dtype)
        calibration = camera.intrinsics.matrix().to(self.device)
        zoom = camera.intrinsics.fx / self.source.fx
        # Only a camera that may magnify points to 2 pixels or more needs their footprints (and
        # the splatter's exact check, which reads back from the device); the usual camera
        # paths stay below, so the loop has no host synchronisation.
        magnifies = self.max_footprint(camera) >= 2.0

        def point_set(world: torch.Tensor, depth: torch.Tensor, carried: torch.Tensor) -> PointSet:
            uv, z = project_points(world @ world_to_cam[:3, :3].T + world_to_cam[:3, 3], calibration)
            # A point keeps the 1-pixel footprint it had in the photo, scaled by how much closer
            # it now is and by the change of focal length.
            footprint = depth / z.clamp(min=1e-6) * zoom if magnifies else None
            return PointSet(uv, z, torch.cat([carried, (self.nearest_depth / depth)[:, None]], dim=1), footprint)

        static = slice(0, cloud.num_static)
        shared = point_set(self.static_world, cloud.depth[static], values[static])
        moving_values = values[cloud.num_static:]
        forward_uv, forward_depth, backward_uv, backward_depth = cloud.moving_positions(frame)
        groups = [point_set(lift_to_world(uv, depth, self.source), depth, moving_values)
                  for uv, depth in ((forward_uv, forward_depth), (backward_uv, backward_depth))]
        return shared, groups

    def splat_clouds(self, frame: int, camera: Camera, values: torch.Tensor | None = None) -> Splatted:
        """Splat the forward and backward clouds of ``frame`` in [0, N] seen from ``camera``.

        Args:
            values: (P, C) per-point values to splat instead of the cloud's own.

        Returns:
            :class:`~cine_core.splat.Splatted` with 2 groups (forward, backward); the last of
            its C + 1 channels is the disparity, nearest point of the scene = 1.
        """
        shared, groups = self.point_sets(frame, camera, values)
        return splat_groups(groups, (camera.intrinsics.height, camera.intrinsics.width), shared=shared)

    def render(self, frame: int, camera: Camera) -> torch.Tensor:
        """The colour image of ``frame`` in [0, N] (time frame / N) from ``camera``.

        Returns:
            (3, H, W) in [0, 1], at the camera's image size.
        """
        time = frame_time(frame, self.cloud.num_frames)
        carried = torch.cat([self.cloud.values, self.cloud.seam_weight[:, None]], dim=1)
        splatted = self.splat_clouds(frame, camera, carried)
        colours, seam, disparity = splatted.values[:, :-2], splatted.values[:, -2:-1], splatted.values[:, -1:]
        weights = blend_weights(time, splatted.coverage, disparity, seam)
        total = weights.sum(0)
        image = (weights * colours).sum(0) / total.clamp(min=1e-8)
        confidence = torch.where(total > 0, frame_confidence(time, splatted.coverage), torch.zeros_like(total))
        image = fill_holes(image, confidence)
        return image.clamp(0.0, 1.0)
