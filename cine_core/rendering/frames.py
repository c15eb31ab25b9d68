"""Rendering frames of the cinemagraph from the animated point cloud and a camera."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F

from ..cameras.intrinsics import Intrinsics
from ..cameras.paths import Camera, lift_to_world
from ..filters import fill_holes, resize_bilinear
from ..motion.animation import FLUID, UNDER_FLUID, AnimatedPointCloud
from .splat import PointSet, Splatted, max_filter, project_points, splat_groups, surface_weight

#: Side of the window of the local statistics in :func:`restore_contrast`, as a fraction of the
#: image's long side (at least 8 pixels: a texture's variance needs a few of its periods).
CONTRAST_WINDOW = 0.02
#: Side of the window over which the blend measures each cloud's local density of points, as a
#: fraction of the long side (at least 5 pixels). Where one cloud has a gap (at the downstream
#: frame edge the backward cloud's points have moved upstream and nothing came in) its weight
#: ramps up over this width instead of switching within a few pixels, which showed as a seam.
DENSITY_WINDOW = 0.02


def frame_time(frame: int, num_frames: int) -> float:
    """Loop time t = m / N of frame m in [0, N]; frame N (t = 1) shows the same instant as frame 0."""
    return frame / num_frames


def cloud_weights(time: float) -> tuple[float, float]:
    """How much the forward and the backward cloud weigh at loop time ``time`` (t): 1 - t and
    t, so the loop starts on the forward cloud alone and ends on the backward one alone. The
    splatting render, its passes, the surface's cross-fade and the add-on's playback take these;
    the published decoder (:mod:`cine_core.nets.img_decoder`) weighs its two feature maps the same
    way inside the network, whose computation must stay as published."""
    return 1.0 - time, time


def blend_weights(time: float, coverage: torch.Tensor, disparity: torch.Tensor,
                  seam: torch.Tensor | None = None, under: torch.Tensor | None = None,
                  fluid: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric-animation weights of the forward (0) and backward (1) renderings.

    W_f = (1 - t) A_f V_f and W_b = t A_b V_b: early in the loop the forward cloud dominates,
    late the backward one, and where one cloud has a hole (A = 0, fluid flowed away) the other
    fills it. V is the splatter's soft depth test between the two clouds: where one cloud shows a
    surface clearly behind the other's (it sees through a hole the fluid left), it yields. The
    published method uses exp(4 disp) for this, which cannot overrule a 3:1 time weight when
    the two surfaces have similar disparity, so background showed through moving water.

    Depth alone cannot tell water from the surface inpainted behind it when the two lie close
    (the top of a waterfall, where the fluid flowed away in one cloud). ``under`` says which
    part of each rendering is that surface: a cloud showing it yields to a cloud showing fluid,
    and only where both show it (the camera looks past the fluid) does it appear.

    Fluid does not yield to fluid (``fluid``): where moving points of a nearer layer have flowed
    in front of a farther layer's fluid (smoke rising past smoke behind it) one cloud shows the
    one and the other cloud the other, and neither sees through a hole. The depth test would
    hand that band to the nearer cloud whatever its time weight, until the frame where that
    weight reaches 0: the band vanished in one step as the loop restarted.

    Args:
        time: t in [0, 1].
        coverage: (2, 1, H, W) A per cloud.
        disparity: (2, 1, H, W) composited disparity per cloud (larger = nearer).
        seam: (2, 1, H, W) composited seam weights (see :func:`~cine_core.motion.animation.seam_weights`).
        under: (2, 1, H, W) fraction of each rendering made of
            :data:`~cine_core.motion.animation.UNDER_FLUID` points.
        fluid: (2, 1, H, W) fraction of each rendering made of moving points.

    Returns:
        (2, 1, H, W) unnormalised weights.
    """
    forward, backward = cloud_weights(time)
    weights = torch.stack([coverage[0] * forward, coverage[1] * backward])  # (1 - t) A_f, t A_b
    nearest = (disparity * (weights > 0)).amax(0, keepdim=True)  # of the clouds that count; else 0
    visibility = surface_weight(torch.div(nearest, disparity.clamp(min=1e-8)).sub_(1.0))
    if fluid is not None:
        torch.maximum(visibility, fluid, out=visibility)
    weights *= visibility
    if seam is not None:
        weights *= seam
    if under is not None:
        # A rendering free of that surface wins outright; else the one with less of it.
        for share in ((under < 1e-3).to(weights.dtype), 1.0 - under):
            preferred = weights * share
            weights = torch.where(preferred.sum(0) > 0, preferred, weights)
    return weights


def box_mean(image: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) mean over ``size`` x ``size`` pixels around each pixel (fewer at the image's
    edge), as two 1-D passes (the 2-D kernel costs size^2 per pixel)."""
    pad = size // 2
    rows = F.avg_pool2d(image, (1, size), stride=1, padding=(0, pad), count_include_pad=False)
    return F.avg_pool2d(rows, (size, 1), stride=1, padding=(pad, 0), count_include_pad=False)


def gap_distance_weight(coverage: torch.Tensor, window: int) -> torch.Tensor:
    """(B, 1, H, W) 0 at the edge of a gap in ``coverage`` rising to 1 about ``window`` pixels
    into the covered part: the coverage eroded and then averaged over ``window`` x ``window``.
    The result is smooth, so it is computed on a grid of an eighth of the window and
    interpolated back (large max and mean filters at full size cost more than the splat).
    """
    step = max(1, window // 8)
    small = F.avg_pool2d(coverage, step, ceil_mode=True) if step > 1 else coverage
    size = max(3, round(window / step) | 1)
    eroded = -max_filter(-small, size // 2)
    ramp = box_mean(eroded, size)
    if step > 1:
        ramp = F.interpolate(ramp, size=coverage.shape[-2:], mode="bilinear", align_corners=False)
    return ramp


def local_mean(image: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W) mean over about ``window`` x ``window`` pixels: averaged on a grid of that
    pitch and interpolated back (cheap at any window size)."""
    if window < 2:
        return image
    pooled = F.avg_pool2d(image, window, ceil_mode=True)
    pooled = F.avg_pool2d(pooled, 3, stride=1, padding=1, count_include_pad=False)
    return resize_bilinear(pooled, image.shape[-2:])


def restore_contrast(colours: torch.Tensor, weights: torch.Tensor, fluid: torch.Tensor,
                     window: int) -> torch.Tensor:
    """Blend two renderings of the fluid without halving its contrast.

    A weighted mean of two unrelated textures has less variance than either (w0^2 + w1^2 times
    it, one half at mid-loop): the fluid looks washed out. As in Heitz & Neyret (2018), the
    blend's deviation from its local mean is scaled back to the renderings' own variance, in
    brightness only (a factor on the blended colour, which keeps its hue). The
    factor is measured, not assumed: sqrt((w0 V0 + w1 V1) / V) with V the local variances
    around the blend's local mean, so where the two renderings agree (slow fluid near the
    border, still content) it is 1 and nothing changes; it never exceeds the independent case
    1 / sqrt(w0^2 + w1^2), and it only applies where both renderings show fluid.

    Args:
        colours: (2, C, H, W) the forward and backward renderings.
        weights: (2, 1, H, W) blend weights (not necessarily normalised).
        fluid: (2, 1, H, W) fraction of each rendering made of moving points.
        window: side of the local window in pixels.

    Returns:
        (C, H, W) the blend.
    """
    total = weights.sum(0)
    normalised = weights / total.clamp(min=1e-8)
    # A lerp: where both renderings agree (still content) the result is exactly that colour
    # whatever the weights, and a weight of 0 or 1 gives exactly one rendering (exact loop).
    blend = torch.lerp(colours[0], colours[1], normalised[1])
    mean = local_mean(blend[None], window)[0]
    # Squared deviations from the blend's local mean: of each rendering, then of the blend.
    deviations = blend.new_empty(1, 3, *blend.shape[1:])
    for index, image in enumerate([*colours, blend]):
        torch.sum((image - mean).square_(), 0, out=deviations[0, index])
    del mean
    variances = local_mean(deviations, window)[0]  # (3, H, W): V0, V1, V
    del deviations
    factor = (normalised[:, 0] * variances[:2]).sum(0)  # w0 V0 + w1 V1
    independent = normalised.square().sum(0)[0].clamp(min=1e-8).rsqrt()
    factor = factor.div_(variances[2].clamp(min=1e-8)).sqrt_().clamp_(min=1.0)
    del variances
    torch.minimum(factor, independent, out=factor)
    gain = factor.sub_(1.0).mul_(torch.minimum(fluid[0, 0], fluid[1, 0])).add_(1.0)  # where both show fluid
    # The contrast comes back in brightness only, as a factor on the blended colour: scaling its
    # deviation from the local mean in every channel would move colours along the direction
    # away from the mean, which for a glint on golden water is towards blue-grey.
    brightness = blend.mean(0)
    mean_brightness = local_mean(brightness[None, None], window)[0, 0]
    target = (brightness - mean_brightness).mul_(gain).add_(mean_brightness)
    scale = target.div_(brightness.clamp_(min=1e-4)).clamp_(min=0.0)
    # Kept within what the brightest channel allows, so no channel clips (which shifts hue).
    torch.minimum(scale, 1.0 / blend.amax(0).clamp(min=1e-4), out=scale)
    scale = scale.masked_fill_(~(gain > 1.0), 1.0)
    return blend.mul_(scale[None])


def _gather_columns(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(M, C) the columns ``index`` (M,) of ``rows`` (C, P), gathered row by row: each row of a
    view into the splatter's sums is contiguous while the view is not, and a gather along its
    columns would first copy all of it (11 MB and 5 ms for a 1280x720 rendering)."""
    return torch.stack([row.index_select(0, index) for row in rows], 1)


def saturated_coverage(coverage: torch.Tensor) -> torch.Tensor:
    """Coverage where magnified points count as full cover.

    Points magnified up to 2 px apart (before they are subdivided) cover as little as a quarter
    of the pixels between them; that pattern must modulate neither the blend of the two clouds
    nor hole filling nor alpha (moire), only a real hole should.
    """
    return (4.0 * coverage).clamp(max=1.0)


def frame_confidence(time: float, coverage: torch.Tensor) -> torch.Tensor:
    """(1, H, W) how much of each pixel the points of loop time ``time`` cover: only clouds
    whose time weight is not zero count (t = 0: the forward cloud alone).

    Args:
        coverage: (2, 1, H, W) coverage of the forward and the backward cloud.
    """
    return coverage[0] if time == 0.0 else coverage[1] if time == 1.0 else coverage.amax(0)


@dataclass(frozen=True)
class CarriedValues:
    """What the points carry into a splat (:meth:`FrameRenderer.point_sets`).

    Attributes:
        still: (S - U, K + 1) the still points' values, then their disparity.
        under: (U, K' + 1) those of the still points under the fluid, then their disparity.
        moving: (M, C) the moving points' values (their disparity changes with each frame).
    """

    still: torch.Tensor
    under: torch.Tensor
    moving: torch.Tensor


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
        self._carried: tuple[tuple, CarriedValues] | None = None

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

    def carried(self, values: torch.Tensor, still_channels: int | None = None,
                under_channels: int | None = None) -> CarriedValues:
        """What the points carry when they splat ``values`` (P, C): the still points and those
        under the fluid only their first ``still_channels`` and ``under_channels`` (the rest
        are zero for them; see :func:`~cine_core.rendering.splat.splat_groups`), default all C."""
        cloud = self.cloud
        still = slice(0, cloud.num_static - cloud.num_underlay)
        under = slice(cloud.num_static - cloud.num_underlay, cloud.num_static)
        return CarriedValues(self._with_disparity(values[still, :still_channels], cloud.depth[still]),
                             self._with_disparity(values[under, :under_channels], cloud.depth[under]),
                             values[cloud.num_static:])

    def _with_disparity(self, carried: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        # Stored channel first (a transposed view), the layout the splatter sums in.
        return torch.cat([carried.T, (self.nearest_depth / depth)[None]]).T

    def point_sets(self, frame: int, camera: Camera, values: torch.Tensor | None = None,
                   still_channels: int | None = None,
                   under_channels: int | None = None) -> tuple[PointSet, PointSet, list[PointSet]]:
        """The points of ``frame`` in [0, N] projected into ``camera``, carrying ``values``
        (P, C), default the cloud's own (see :meth:`carried` for the channel counts, and
        :meth:`point_sets_of` for what is returned)."""
        values = self.cloud.values if values is None else values
        # What static points carry never changes: made once per values tensor, not per frame.
        key = (values, still_channels, under_channels)
        if self._carried is None or any(a is not b for a, b in zip(self._carried[0], key)):
            self._carried = (key, self.carried(values, still_channels, under_channels))
        return self.point_sets_of(frame, camera, self._carried[1])

    def point_sets_of(self, frame: int, camera: Camera,
                      carried: CarriedValues) -> tuple[PointSet, PointSet, list[PointSet]]:
        """The points of ``frame`` in [0, N] projected into ``camera``: the static points (shared
        by both clouds), those of them under the fluid, and the moving points of the forward and
        of the backward cloud, carrying ``carried``.

        Returns:
            (static, underlay, [forward, backward]) :class:`~cine_core.rendering.splat.PointSet`; each point
            carries its channels + 1, the last the disparity (nearest point of the scene = 1).
        """
        cloud = self.cloud
        world_to_cam = camera.world_to_cam().to(self.device, self.static_world.dtype)
        calibration = torch.tensor(camera.intrinsics.matrix(), device=self.device)
        zoom = camera.intrinsics.fx / self.source.fx
        # Only a camera that may magnify points to 2 pixels or more needs their footprints (and
        # the splatter's exact check, which reads back from the device); the usual camera
        # paths stay below, so the loop has no host synchronisation.
        magnifies = self.max_footprint(camera) >= 2.0

        def point_set(world: torch.Tensor, depth: torch.Tensor, values: torch.Tensor,
                      coverage: torch.Tensor | None = None) -> PointSet:
            # One fused product and sum: 13 ms instead of 22 ms for the 0.8 million still points of a
            # 1280x720 frame (one thread), values equal to the two steps' on this machine.
            uv, z = project_points(torch.addmm(world_to_cam[:3, 3], world, world_to_cam[:3, :3].T), calibration)
            # A point keeps the 1-pixel footprint it had in the photo, scaled by how much closer
            # it now is and by the change of focal length.
            footprint = depth / z.clamp(min=1e-6) * zoom if magnifies else None
            return PointSet(uv, z, values, footprint, coverage)

        still = slice(0, cloud.num_static - cloud.num_underlay)
        under = slice(cloud.num_static - cloud.num_underlay, cloud.num_static)
        # Only still points cover part of their pixel (soft edges are made for still surfaces).
        coverage = None if cloud.soft_edges is None else cloud.soft_edges.coverage[still]
        shared = point_set(self.static_world[still], cloud.depth[still], carried.still, coverage)
        underlay = point_set(self.static_world[under], cloud.depth[under], carried.under)
        forward_uv, forward_depth, backward_uv, backward_depth = cloud.moving_positions(frame)
        groups = [point_set(lift_to_world(uv, depth, self.source), depth, self._with_disparity(carried.moving, depth))
                  for uv, depth in ((forward_uv, forward_depth), (backward_uv, backward_depth))]
        return shared, underlay, groups

    def splat_clouds(self, frame: int, camera: Camera, values: torch.Tensor | None = None,
                     still_channels: int | None = None, under_channels: int | None = None) -> Splatted:
        """Splat the forward and backward clouds of ``frame`` in [0, N] seen from ``camera``.

        Args:
            values: (P, C) per-point values to splat instead of the cloud's own.
            still_channels, under_channels: see :meth:`carried`.

        Returns:
            :class:`~cine_core.rendering.splat.Splatted` with 2 groups (forward, backward); the last of
            its C + 1 channels is the disparity, nearest point of the scene = 1.
        """
        return self._splat(self.point_sets(frame, camera, values, still_channels, under_channels), camera)

    def _splat(self, point_sets: tuple[PointSet, PointSet, list[PointSet]], camera: Camera) -> Splatted:
        shared, underlay, groups = point_sets
        return splat_groups(groups, (camera.intrinsics.height, camera.intrinsics.width), shared=shared,
                            underlay=underlay if self.cloud.num_underlay else None)

    @cached_property
    def _render_carried(self) -> CarriedValues:
        """What :meth:`render` splats (C + 5 channels): the values, the seam weight, whether a
        point lies under fluid and whether it is fluid, and the fluid's photo position (u, v).
        Ordered so that still points need only the first C + 1 and those under the fluid the
        first C + 2 (the rest are zero for them; fewer channels make the splat cheaper). Made
        once; the (P, C + 5) table it is cut from is not kept (25 MB of still points' rows at
        1280x720 that the carried still values repeat)."""
        cloud = self.cloud
        fluid = (cloud.kind == FLUID).to(cloud.values.dtype)[:, None]
        under = (cloud.kind == UNDER_FLUID).to(cloud.values.dtype)[:, None]
        values = torch.cat([cloud.values, cloud.seam_weight[:, None], under, fluid, fluid * cloud.rest_uv], dim=1)
        channels = cloud.values.shape[1]
        carried = self.carried(values, channels + 1, channels + 2)
        return CarriedValues(carried.still, carried.under, carried.moving.clone())

    @cached_property
    def fluid_texture(self) -> torch.Tensor:
        """(1, C, H, W) the fluid's values at their photo pixels, extended smoothly past the
        fluid (so that sampling near its border does not pull in still content)."""
        cloud, source = self.cloud, self.source
        fluid = (cloud.kind == FLUID).to(cloud.values.dtype)
        pixel = cloud.rest_uv[:, 1].long() * source.width + cloud.rest_uv[:, 0].long()
        channels = cloud.values.shape[1]
        # Every pixel has at most one fluid point (the visible surface), so the sums are copies.
        sums = torch.zeros(source.height * source.width, channels + 1, device=self.device,
                           dtype=cloud.values.dtype)
        sums.index_add_(0, pixel, torch.cat([cloud.values, torch.ones_like(fluid)[:, None]], 1) * fluid[:, None])
        sums = sums.T.reshape(channels + 1, source.height, source.width)
        # Pixel-major (channels last), as the sums are: :meth:`_fluid_sample` gathers its bounds
        # as rows of C texels; a gather along the channel-first layout copied the whole texture
        # first (11 MB, 5 ms at 1280x720, eight times a frame).
        return fill_holes(sums[:channels], sums[channels:])[None].contiguous(memory_format=torch.channels_last)

    def sharpen_fluid(self, colours: torch.Tensor, fluid: torch.Tensor, fluid_uv: torch.Tensor) -> torch.Tensor:
        """Replace the splatted colour of the fluid by the photo sampled once where it came from.

        Splatting colours at sub-pixel positions averages neighbouring points (a blur), and
        where moved points no longer form a grid the averaging varies from pixel to pixel
        (moire once the camera magnifies them). The points' photo positions vary smoothly, so
        splatting those instead and sampling the fluid's texture with a bicubic kernel keeps it
        sharp and regular. Only the fluid's own part of a pixel changes: where a still surface
        covers the rest (a soft edge, a silhouette) that part is kept as splatted, and the
        fluid's part, which the splat does not give apart, is taken for the texture's bilinear
        sample there (what a lattice of points splats to as it slides).

        Args:
            colours: (G, C, H, W) splatted colours.
            fluid: (G, 1, H, W) fraction of each pixel made of fluid points.
            fluid_uv: (G, 2, H, W) splatted ``fluid * (u, v)`` (normalised like the colours).

        Returns:
            ``colours``, changed in place.
        """
        for image, share, uv_sum in zip(colours, fluid, fluid_uv):  # one rendering at a time
            flat = image.view(image.shape[0], -1)
            share = share.reshape(-1)
            if share.device.type == "cpu":
                # Only pixels with fluid change: gathered first, the sampling costs the fluid's
                # area, not the frame's (4x less on the CPU for a typical scene).
                pixel = (share > 0).nonzero()[:, 0]
            else:  # finding them would wait for the device (nonzero reads back); sampling all is cheap there
                pixel = torch.arange(share.numel(), device=share.device)
            share = share.index_select(0, pixel)
            uv = _gather_columns(uv_sum.reshape(2, -1), pixel) / share.clamp(min=1e-6)[:, None]  # (M, 2)
            splatted = _gather_columns(flat, pixel)  # (M, C)
            if share.device.type == "cpu":
                partial = (share < 1.0 - 1e-6).nonzero()[:, 0]  # a few: silhouettes, soft edges
                own = splatted.index_copy(0, partial, self._fluid_sample(uv.index_select(0, partial), sharp=False))
            else:
                own = torch.where((share < 1.0 - 1e-6)[:, None], self._fluid_sample(uv, sharp=False), splatted)
            change = self._fluid_sample(uv).sub_(own).mul_(share[:, None])
            # Where the fluid sits on its own pixel (at rest: loop time 0 from the source camera)
            # the splatted colour already is the photo's; the resampling would only add rounding.
            change *= ((uv - uv.round()).abs().amax(1) > 1e-3).to(change.dtype)[:, None]
            flat.index_copy_(1, pixel, (splatted + change).T)
        return colours

    def _fluid_sample(self, uv: torch.Tensor, sharp: bool = True) -> torch.Tensor:
        """(M, C) the fluid's texture sampled bicubically at photo positions ``uv`` (M, 2),
        kept within the four texels a bilinear sample there reads (``sharp``), or bilinearly."""
        source = self.source
        scale = torch.tensor([2.0 / max(source.width - 1, 1), 2.0 / max(source.height - 1, 1)],
                             device=uv.device, dtype=uv.dtype)
        sample = F.grid_sample(self.fluid_texture, (uv * scale - 1.0)[None, None], mode="bicubic" if sharp else "bilinear",
                               padding_mode="border", align_corners=True)[0, :, 0].T  # (M, C)
        if sharp and source.width > 1 and source.height > 1:
            # The cubic kernel overshoots next to strong edges, and each channel by its own amount
            # (golden glints turned white-blue): keep the sample within the values of the four
            # texels a bilinear sample there reads. They are gathered per sample: a map of every
            # block's bounds held 22 MB over the clip at 1280x720.
            width = source.width
            column = uv[:, 0].floor().clamp_(0, width - 2).long()
            row = uv[:, 1].floor().clamp_(0, source.height - 2).long()
            corner = row.mul_(width).add_(column)
            texels = self.fluid_texture[0].permute(1, 2, 0).reshape(-1, sample.shape[1])  # (H * W, C), a view
            a, b, c, d = (texels.index_select(0, corner + offset) for offset in (0, 1, width, width + 1))
            low = torch.minimum(torch.minimum(a, b), torch.minimum(c, d))
            high = torch.maximum(torch.maximum(a, b), torch.maximum(c, d))
            sample = torch.minimum(torch.maximum(sample, low), high)
        return sample

    def render(self, frame: int, camera: Camera) -> torch.Tensor:
        """The colour image of ``frame`` in [0, N] (time frame / N) from ``camera``.

        Returns:
            (3, H, W) in [0, 1], at the camera's image size.
        """
        # The blend is made in a function of its own: the splat's sums (74 MB at 1280x720,
        # which every rendering and pass is a view of) are freed when it returns, before the
        # hole filling, whose own temporaries then take their place.
        image, confidence = self._blend(frame, camera)
        return fill_holes(image, confidence).clamp_(0.0, 1.0)

    def _blend(self, frame: int, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
        """(3, H, W) the two clouds' renderings of ``frame`` blended, and (1, H, W) how much of
        each pixel the points cover (see :func:`frame_confidence`), for the hole filling."""
        time = frame_time(frame, self.cloud.num_frames)
        channels = self.cloud.values.shape[1]
        splatted = self._splat(self.point_sets_of(frame, camera, self._render_carried), camera)
        coverage = saturated_coverage(splatted.coverage)
        colours, seam, under, fluid, fluid_uv, disparity = splatted.values.split([channels, 1, 1, 1, 2, 1], dim=1)
        colours = self.sharpen_fluid(colours, fluid, fluid_uv)
        # The blend weighs each cloud by its local density of points: where the flow stretched
        # one cloud (its points drawn apart near the upstream border) and compressed the other,
        # the compressed one is the better view. Measured on the saturated coverage (magnified
        # points count as dense), eroded and then averaged over DENSITY_WINDOW, so that it is 0
        # at the edge of a gap and the cloud fades in from there (a small floor keeps the
        # plain time blend where both clouds are sparse).
        long_side = max(camera.intrinsics.width, camera.intrinsics.height)
        density = gap_distance_weight(coverage, max(5, round(DENSITY_WINDOW * long_side)))
        density = density.clamp_(min=1e-2).mul_(coverage)
        weights = blend_weights(time, density, disparity, seam, under, fluid)
        total = weights.sum(0)
        confidence = torch.where(total > 0, frame_confidence(time, coverage), torch.zeros_like(total))
        window = max(8, round(CONTRAST_WINDOW * long_side))
        return restore_contrast(colours, weights, fluid, window), confidence
