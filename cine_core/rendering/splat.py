"""Pure-PyTorch point splatting: depth-aware soft compositing and footprints that grow as points
come closer (holes are filled by :func:`cine_core.filters.fill_holes`). Runs on any device
PyTorch runs on; no compiled extension.

Each point is splatted with a bilinear (tent) kernel onto the four pixels around its projection,
so a point that lands exactly on a pixel centre gives that pixel exactly its value: a static
camera reproduces the photo bit for bit. Magnified points (closer to the camera than when
photographed, or a longer lens) are split into sub-points covering their footprint, so surfaces
stay closed. Visibility is a soft z-buffer: per pixel the nearest depth wins, and points up to
:data:`SURFACE_TOLERANCE` behind it blend in with falling weight (neighbouring
samples of one surface), while anything farther is hidden, except at the silhouette of a
still surface (a ridge before the sky) and where its points cover their pixel only in part (a
soft layer edge, :mod:`~cine_core.layers.soft_edges`): there the pixel shows what lies behind,
moving or still, by the part the still surface leaves open, so the edge keeps the
anti-aliasing of the photo instead of snapping to whole pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Points within this relative depth of the nearest one at a pixel count as the same surface:
#: full weight up to :data:`SURFACE_SAME`, fading linearly to zero at :data:`SURFACE_TOLERANCE`.
SURFACE_SAME = 0.01
SURFACE_TOLERANCE = 0.03
_MIN_OWNER_WEIGHT = 0.2  # a tap this weak does not claim the pixel's depth (keeps silhouettes thin)
_OPEN = 0.05  # a pixel a surface covers less than this is open (see silhouette_gaps)
#: A surface this much deeper than a neighbouring pixel's nearest one is another surface: its
#: pixels are open for the neighbour's silhouette (twice the tolerance of one surface, so the
#: rows of a receding ground are not taken for edges).
_SILHOUETTE_STEP = 1.0 + 2.0 * SURFACE_TOLERANCE
_MAX_SUBDIVISION = 4


@dataclass
class Splatted:
    """Per-group images. values: (G, C, H, W) normalised; coverage: (G, 1, H, W) in [0, 1]."""

    values: torch.Tensor
    coverage: torch.Tensor


@dataclass
class PointSet:
    """Points to splat.

    Attributes:
        uv: (N, 2) pixel positions (pixel centres at integers).
        z: (N,) camera depth; points with z <= 0 are behind the camera and ignored.
        values: (N, C) what each point carries (colour, features, disparity...).
        footprint: (N,) footprint width in pixels (1 = a pixel of the photo) or None (all 1).
        coverage: (N,) how much of its footprint each point covers, or None (all 1): a
            surface's points at its anti-aliased silhouette cover part, and what lies behind
            shows by the rest (:mod:`~cine_core.layers.soft_edges`).
    """

    uv: torch.Tensor
    z: torch.Tensor
    values: torch.Tensor
    footprint: torch.Tensor | None = None
    coverage: torch.Tensor | None = None


def project_points(points: torch.Tensor, intrinsics: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pinhole projection.

    Args:
        points: (N, 3) camera-space points (x right, y down, z forward).
        intrinsics: (3, 3) K.

    Returns:
        uv: (N, 2) pixel coordinates; z: (N,) depth along the optical axis.
    """
    # A copy: a view would keep the whole (N, 3) array alive as long as the depths are (through
    # a splat), 9 MB for the still points of a 1280x720 frame.
    z = points[:, 2].contiguous()
    safe = torch.where(z.abs() > 1e-8, z, torch.full_like(z, 1e-8))
    u = intrinsics[0, 0] * points[:, 0] / safe + intrinsics[0, 2]
    v = intrinsics[1, 1] * points[:, 1] / safe + intrinsics[1, 2]
    return torch.stack([u, v], dim=1), z


def _subdivide(points: PointSet) -> PointSet:
    """Replace points whose footprint is >= 2 pixels by k x k sub-points spread over it."""
    footprint = points.footprint
    if footprint is None or footprint.numel() == 0 or float(footprint.max()) < 2.0:
        return points  # the common case: one check, no copies
    keep = footprint < 2.0
    coverage = points.coverage
    uv, z, values = [points.uv[keep]], [points.z[keep]], [points.values[keep]]
    covers = None if coverage is None else [coverage[keep]]
    for k in range(2, _MAX_SUBDIVISION + 1):
        upper = float("inf") if k == _MAX_SUBDIVISION else k + 1.0
        chosen = (footprint >= k) & (footprint < upper)
        steps = (torch.arange(k, device=footprint.device, dtype=points.uv.dtype) + 0.5) / k - 0.5
        offsets = torch.stack(torch.meshgrid(steps, steps, indexing="xy"), dim=-1).reshape(-1, 2)
        sub_uv = points.uv[chosen][:, None] + offsets[None] * footprint[chosen][:, None, None]
        count = offsets.shape[0]
        uv.append(sub_uv.reshape(-1, 2))
        z.append(points.z[chosen].repeat_interleave(count))
        values.append(points.values[chosen].repeat_interleave(count, 0))
        if covers is not None:
            covers.append(coverage[chosen].repeat_interleave(count))
    return PointSet(torch.cat(uv), torch.cat(z), torch.cat(values),
                    coverage=None if covers is None else torch.cat(covers))


@dataclass
class _Taps:
    """The four bilinear taps of every point, stacked (4, N); taps outside the image or of
    points behind the camera point at the spare cell ``H * W`` with weight 0. ``z`` is each
    point's depth (N,): a tap's depth is its point's (that of a tap of weight 0 is never used).
    ``coverage`` (N,) or None: see :class:`PointSet` (the weights are geometric: a point
    claims a pixel by where it lands, and covers it by its coverage)."""

    pixel: torch.Tensor
    weight: torch.Tensor
    z: torch.Tensor
    values: torch.Tensor  # (N, C)
    coverage: torch.Tensor | None = None


def _taps(points: PointSet, height: int, width: int, origin: tuple[int, int] = (0, 0)) -> _Taps:
    """Taps onto ``height`` x ``width`` cells whose first is the image's pixel ``origin`` (row,
    column)."""
    # Dense arithmetic only: boolean indexing (nonzero) costs more than the splat itself. The
    # (4, N) arrays are outer products of per-axis (2, N) ones, and every test of validity is
    # made per point and axis: tests and selections on all 4N taps cost more than the sums.
    points = _subdivide(points)
    uv, z = points.uv, points.z
    base = uv.floor()
    frac = uv - base
    x0, y0 = base[:, 0].long() - origin[1], base[:, 1].long() - origin[0]
    fx, fy = frac[:, 0], frac[:, 1]
    usable = (z > 1e-6) & (fx >= 0) & (fy >= 0)  # a fraction is NaN (fails) unless uv is finite
    # Per axis (2, N): the tap's row or column when inside the image, and its weight (0 outside).
    inside_x = torch.stack([(x0 >= 0) & (x0 < width), (x0 >= -1) & (x0 < width - 1)])
    inside_y = torch.stack([(y0 >= 0) & (y0 < height), (y0 >= -1) & (y0 < height - 1)]) & usable
    weight_x = torch.where(inside_x, torch.stack([1 - fx, fx]), 0.0)
    weight_y = torch.where(inside_y, torch.stack([1 - fy, fy]), 0.0)
    # Rows of the taps: (x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1).
    weight = (weight_y[:, None] * weight_x[None]).reshape(-1)
    # An outside row or column is pushed past the last cell, so any tap using it lands on the
    # spare cell after the cap: no (4, N) mask.
    spare = height * width
    steps = torch.arange(2, device=x0.device)[:, None]
    column = torch.where(inside_x, x0 + steps, spare)
    row = torch.where(inside_y, (y0 + steps) * width, spare)
    pixel = (row[:, None] + column[None]).reshape(-1).clamp_(max=spare)
    return _Taps(pixel, weight, z, points.values, points.coverage)


def _nearest_depth(taps: _Taps, cells: int) -> torch.Tensor:
    """(cells + 1,) depth of the nearest surface at each pixel (inf where none).

    A surface owns a pixel when its taps there weigh at least :data:`_MIN_OWNER_WEIGHT`
    together. Counting single taps is not enough: points a little more than a pixel apart
    (a surface the camera came closer to) reach some pixels only with weak taps, and a farther
    surface then showed through as a regular pattern of dots.
    """
    inf = float("inf")
    weight = taps.weight.view(4, -1)
    nearest = torch.full((cells + 1,), inf, device=taps.z.device, dtype=taps.z.dtype)
    strong = torch.where(weight >= _MIN_OWNER_WEIGHT, taps.z, inf).view(-1)
    nearest.scatter_reduce_(0, taps.pixel, strong, reduce="amin", include_self=True)
    # The nearest surface of any weight, and how much of the pixel it covers in all.
    any_near = torch.full_like(nearest, inf)
    del strong
    any_near.scatter_reduce_(0, taps.pixel, torch.where(weight > 0, taps.z, inf).view(-1), reduce="amin",
                             include_self=True)
    # Only taps of that very surface (within SURFACE_SAME) count: a neighbour's tap of weight
    # 1e-6 must not hand a pixel to a surface the pixel's own point lies 2 % behind.
    own = any_near.index_select(0, taps.pixel).mul_(1.0 + SURFACE_SAME).view(4, -1)
    same = own.ge_(taps.z).view(-1)  # 1 where the tap is of that surface, else 0
    cover = torch.zeros_like(nearest).scatter_add_(0, taps.pixel, same.mul_(taps.weight))
    return torch.where(cover >= _MIN_OWNER_WEIGHT, any_near, nearest)


def surface_weight(gap: torch.Tensor) -> torch.Tensor:
    """Soft visibility of a surface ``gap`` (relative depth) behind the nearest one, computed in
    ``gap``'s own memory (pass a copy to keep it): the splatter's arrays are large.

    Neighbouring samples of one sloped surface differ by a percent or so and must blend
    equally (or moving texture loses coverage and blurs); a distinct surface behind (the LDI
    keeps hidden layers at least 6% behind) must vanish.
    """
    # (SURFACE_TOLERANCE - gap) / (SURFACE_TOLERANCE - SURFACE_SAME), clamped to [0, 1]
    return gap.neg_().add_(SURFACE_TOLERANCE).div_(SURFACE_TOLERANCE - SURFACE_SAME).clamp_(0.0, 1.0)


def _accumulate(taps: _Taps, nearest: torch.Tensor, cells: int, out: torch.Tensor | None = None,
                see_through: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(C + 1, cells + 1): sums of weighted values and, last, of weights, channel-first
    (added to ``out``, zeros of that shape, when given). ``see_through``: (own nearest depth,
    share) per cell: where ``nearest`` hides the taps, they still count by that share as they
    would against their own nearest depth. With partial coverage (``taps.coverage``) the
    weights are scaled by it, and the second result is the share of each cell the visible
    taps leave open by it (1 - their mean coverage; else None)."""
    # Pixels reached only by weak taps have no owner (inf): z / inf - 1 = -1 keeps them all.
    weight = nearest.index_select(0, taps.pixel).view(4, -1)
    weight = surface_weight(torch.div(taps.z, weight, out=weight).sub_(1.0))
    if see_through is not None:
        own_nearest, share = see_through
        own = own_nearest.index_select(0, taps.pixel).view(4, -1)
        own = surface_weight(torch.div(taps.z, own, out=own).sub_(1.0))
        weight += own.sub_(weight).mul_(share.index_select(0, taps.pixel).view(4, -1))
        del own
    weight = weight.view(-1).mul_(taps.weight)
    missing = None
    if taps.coverage is not None:
        # What the partly covering points leave open, summed over their taps only (a few
        # thousand points along the soft edges; a sum over every tap cost 6-8 ms a frame).
        taps_weight, pixel, coverage = weight.view(4, -1), taps.pixel.view(4, -1), taps.coverage
        if coverage.device.type == "cpu":
            partial = torch.nonzero(coverage < 1.0).squeeze(1)
            taps_weight, pixel, coverage = taps_weight[:, partial], pixel[:, partial], coverage[partial]
        # (off the CPU finding them would wait for the device: every tap, the whole ones adding 0)
        missing = weight.new_zeros(cells + 1).scatter_add_(0, pixel.reshape(-1),
                                                          (taps_weight * (1.0 - coverage)).reshape(-1))
        weight.view(4, -1).mul_(taps.coverage)
    # Channel-first values (PointSet.values a transposed view of them) are used as they are.
    values = taps.values.T.contiguous()
    total = weight.new_zeros(values.shape[0] + 1, cells + 1) if out is None else out
    # One channel at a time: a (4, N) product per channel stays in cache and adds along one
    # dimension, twice as fast on the CPU as one (4 N, C) product added row by row, and the
    # channel-first sums are the layout the images need (the per-pixel order of the additions,
    # hence the sums, is the same). scatter_add_ adds in the taps' order like index_add_ (the
    # same sums, on any CPU), with less overhead per element. One buffer serves every channel.
    taps_weight = weight.view(4, -1)
    product = torch.empty_like(taps_weight)
    for channel, row in enumerate(values):
        total[channel].scatter_add_(0, taps.pixel, torch.mul(taps_weight, row, out=product).view(-1))
    total[-1].scatter_add_(0, taps.pixel, weight)
    if missing is None:
        return total, None
    return total, torch.where(missing > 0, missing / (total[-1] + missing).clamp(min=1e-12), 0.0)


def splat_groups(groups: list[PointSet], size: tuple[int, int], *, shared: PointSet | None = None,
                 underlay: PointSet | None = None) -> Splatted:
    """Splat several point sets into one image each, with their own visibility.

    Points in ``shared`` belong to every group (the static part of the scene, seen by both the
    forward and the backward cloud) and are splatted once: they are composited against their own
    nearest depth, then each group suppresses them where its own points lie clearly in front.
    A group's points behind them still show at their silhouette, by the part of each pixel it
    leaves open (:func:`silhouette_gaps`).
    ``underlay`` points also belong to every group but lie under the groups' own points, too
    close in depth for a depth test (the surface inpainted under moving water): a group shows
    them only where its own points leave a hole (no point weighing a quarter within 2 pixels).
    ``shared`` and ``underlay`` may carry fewer channels than the groups: theirs are the groups'
    first ones and the last, and the channels between are zero for them.

    Args:
        groups: G point sets with the same number of channels C.
        size: (height, width) of the output.
        shared: points every group contains.
        underlay: points every group contains, beneath the groups' own points.

    Returns:
        :class:`Splatted` with (G, C, H, W) values (weighted means) and (G, 1, H, W) coverage.
    """
    height, width = size
    cells = height * width
    shared_sum = shared_nearest = underlay_sum = see_through = None
    second_sum = second_nearest = None
    if shared is not None:
        shared_sum, shared_nearest, see_through, second_at, second_sum, second_nearest = _composite_shared(shared, size)
        shared_missing = ~(shared_nearest < float("inf"))  # as ~isfinite (no -inf here), faster
    if underlay is not None:
        # Composited only over the box its taps reach: its points are few (the surface under
        # the fluid), and outside the box its sums are zero.
        underlay = _subdivide(underlay)
        box = _reach(underlay, size)
        if box is not None:
            top, left, bottom, right = box
            nearer = None if shared_nearest is None else _cells(shared_nearest, size, box)
            underlay_sum, _, _ = _composite(underlay, (bottom - top, right - left), nearer, origin=(top, left))
    # Each group's sums are made, composited and normalised in place in its own slot.
    totals = groups[0].values.new_zeros(len(groups), groups[0].values.shape[1] + 1, cells + 1)
    for total, points in zip(totals, groups):
        _, nearest, own = _composite(points, size, shared_nearest, out=total, see_through=see_through,
                                     behind=second_nearest)
        if underlay_sum is not None:
            _add_underlay(total, underlay_sum, size, box)
        if shared_sum is not None:
            # 1 where no shared point lands.
            keep = surface_weight(torch.div(shared_nearest, nearest, out=nearest).sub_(1.0))
            keep = keep.masked_fill_(shared_missing, 1.0)
            _add_narrower(total, shared_sum, keep)
            # The still surface behind, where it is not behind this group's own points.
            depth = second_nearest.index_select(0, second_at)
            behind = surface_weight(torch.div(depth, torch.minimum(own.index_select(0, second_at), depth)).sub_(1.0))
            _add_narrower_at(total, second_sum, behind.masked_fill_(~(depth < float("inf")), 0.0), second_at)
            del keep, behind, depth
        del nearest, own
        # Row by row: contiguous rows divide several times faster than the strided block.
        divisor = total[-1, :cells].clamp(min=1e-8)
        for row in total[:-1]:
            torch.div(row[:cells], divisor, out=row[:cells])
        del divisor  # before the next group's
    images = totals[:, :, :cells].unflatten(-1, (height, width))
    return Splatted(images[:, :-1], images[:, -1:].clamp_(max=1.0))


#: How far from a group's own points the underlay stays hidden (pixels, see splat_groups).
_UNDERLAY_REACH = 2


def _reach(points: PointSet, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the pixels the taps of ``points`` (subdivided) can reach,
    None where none; off the CPU the whole image (finding the box would wait for the device)."""
    height, width = size
    if points.uv.device.type != "cpu":
        return 0, 0, height, width
    usable = (points.z > 1e-6) & torch.isfinite(points.uv).all(1)
    if not bool(usable.any()):
        return None
    corner = points.uv[usable].floor()
    (left, top), (right, bottom) = corner.amin(0).tolist(), corner.amax(0).tolist()
    # A point rounded down to (x, y) taps x and x + 1, y and y + 1.
    box = max(0, int(top)), max(0, int(left)), min(height, int(bottom) + 2), min(width, int(right) + 2)
    return box if box[0] < box[2] and box[1] < box[3] else None


def _cells(values: torch.Tensor, size: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """(h * w + 1,) the cells of ``values`` (H * W + 1,) inside ``box``, then its spare cell."""
    top, left, bottom, right = box
    inside = values[:size[0] * size[1]].view(size)[top:bottom, left:right].reshape(-1)
    return torch.cat([inside, values[-1:]])


def _add_underlay(total: torch.Tensor, underlay_sum: torch.Tensor, size: tuple[int, int],
                  box: tuple[int, int, int, int]) -> None:
    """Add the underlay's sums (K + 2, h * w + 1 over ``box``) to a group's ``total``
    (C + 2, H * W + 1) where the group leaves a hole: hidden where the group's points are less
    than :data:`_UNDERLAY_REACH` pixels away (magnified or stretched points leave gaps that are
    not holes), fully shown where no point weighs a quarter within it."""
    height, width = size
    top, left, bottom, right = box
    reach = _UNDERLAY_REACH
    # The group's weight around the box, so the filter sees every neighbour the whole image has.
    outer = max(0, top - reach), max(0, left - reach), min(height, bottom + reach), min(width, right + reach)
    weight = total[-1, :height * width].view(height, width)[outer[0]:outer[2], outer[1]:outer[3]]
    own = max_filter(weight, reach)[top - outer[0]:bottom - outer[0], left - outer[1]:right - outer[1]]
    keep = own.mul(-4.0).add_(1.0).clamp_(min=0.0)  # 1 - 4 own, at least 0
    images = total[:, :height * width].unflatten(1, size)[:, top:bottom, left:right]
    _add_narrower(images, underlay_sum[:, :-1].unflatten(1, keep.shape), keep)


def silhouette_gaps(coverage: torch.Tensor, size: tuple[int, int], nearest: torch.Tensor | None = None) -> torch.Tensor:
    """(H * W + 1,) how much of each pixel the silhouette of a surface leaves open, from the
    surface's ``coverage`` (H * W + 1,): 1 - coverage at the pixels within one pixel of one it
    leaves open (its edge, where its points cover pixels in part as the camera moves), 0
    elsewhere, the spare cell included. Inside the surface nothing is open while its points lie
    up to about 1.8 pixels apart (every pixel then gets :data:`_OPEN` of a point or more; from 2
    pixels on points are split, see :func:`_subdivide`): drawn apart, they cover pixels in part
    too, and nothing behind may show there. Between 1.8 and 2 pixels apart the holes a surface
    leaves are open, and so are the pixels around them.

    ``nearest`` (H * W + 1,): where the coverage is that of the nearest of several surfaces,
    their depth; a pixel whose nearest surface lies clearly behind a neighbour's (more than
    :data:`_SILHOUETTE_STEP`) is open for that neighbour too.
    """
    height, width = size
    cover = coverage[:height * width].view(height, width)
    edge = max_filter(cover < _OPEN, 1)  # the open pixels grown by one pixel in the 8 directions
    if nearest is not None:
        depth = nearest[:height * width].view(height, width)
        edge |= max_filter(depth, 1) > depth * _SILHOUETTE_STEP
    gaps = torch.where(edge, (1.0 - cover).clamp_(min=0.0), 0.0).view(-1)
    return torch.cat([gaps, gaps.new_zeros(1)])


def _composite(points: PointSet, size: tuple[int, int], nearer: torch.Tensor | None = None, *,
               out: torch.Tensor | None = None, see_through: torch.Tensor | None = None,
               behind: torch.Tensor | None = None,
               origin: tuple[int, int] = (0, 0)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sums of :func:`_accumulate` of ``points`` (added to ``out``, zeros, when given) over
    ``size`` (H, W) cells from the image's pixel ``origin`` on, the nearest depth per cell
    they were composited against: their own, or ``nearer`` (H * W + 1,) where that is nearer,
    and their own nearest depth.
    ``see_through`` (H * W + 1,): the share of each cell the surface at ``nearer`` leaves open
    (:func:`silhouette_gaps`), by which the points it hides still count there, unless they lie
    behind ``behind`` (H * W + 1,), the depth of what else shows there (inf where nothing).
    The taps are dropped on return (the largest arrays of a splat)."""
    height, width = size
    taps = _taps(points, height, width, origin)
    own = nearest = _nearest_depth(taps, height * width)
    if nearer is not None:
        nearest = torch.minimum(own, nearer)
    through = None
    if nearer is not None and see_through is not None:
        through = (own if behind is None else torch.minimum(own, behind), see_through)
    sums, _ = _accumulate(taps, nearest, height * width, out, through)
    return sums, nearest, own


def _composite_shared(points: PointSet, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """The still points every group shares, composited in two levels: the nearest surface,
    and where it leaves part of a pixel open (its silhouette, its soft edges) the surface next
    behind it.

    Returns:
        front: (C + 1, H * W + 1) sums of the nearest surface (:func:`_accumulate`);
        nearest: (H * W + 1,) its depth;
        share: (H * W + 1,) the part of each cell it leaves open (:func:`silhouette_gaps`, and
        1 - the mean coverage of its points);
        at, behind, behind_nearest: the surface next behind where ``share`` > 0
        (:func:`_next_surface`).
    """
    height, width = size
    cells = height * width
    taps = _taps(points, height, width)
    nearest = _nearest_depth(taps, cells)
    front, open_share = _accumulate(taps, nearest, cells)
    share = silhouette_gaps(front[-1], size, nearest)
    if open_share is not None:
        # Soft edges leave the rest of their pixels open, also more than a pixel from where
        # nothing of the surface lands.
        torch.maximum(share, open_share, out=share)
    return (front, nearest, share, *_next_surface(taps, nearest, share, cells))


def _next_surface(taps: _Taps, nearest: torch.Tensor, share: torch.Tensor,
                  cells: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The surface next behind ``nearest`` at the cells where ``share`` > 0.

    Returns:
        at: (M,) those cells (on the CPU; elsewhere all of them: finding them would wait for
        the device); sums: (C + 1, M) its sums there, scaled so that they weigh ``share`` in
        all; depth: (cells + 1,) its depth (inf where none).
    """
    count = taps.z.shape[0]
    selected = (share > 0).index_select(0, taps.pixel).logical_and_(taps.weight > 0)  # bytes gather faster
    if selected.device.type == "cpu":
        # Only the taps of those cells: silhouettes and soft edges, a small part of the image.
        chosen = torch.nonzero(selected).squeeze(1)
        at = torch.nonzero(share > 0).squeeze(1)
        slot = torch.full((cells + 1,), -1, dtype=torch.long).index_copy_(0, at, torch.arange(at.numel()))
    else:  # all taps, the rest weighing nothing
        chosen = torch.arange(selected.numel(), device=selected.device)
        at = slot = torch.arange(cells + 1, device=selected.device)
    point, pixel = chosen % count, taps.pixel.index_select(0, chosen)
    z, tap_weight = taps.z.index_select(0, point), taps.weight.index_select(0, chosen)
    hidden = selected.index_select(0, chosen) & (z > nearest.index_select(0, pixel) * (1.0 + SURFACE_TOLERANCE))
    # Only a strong tap makes a surface the one behind (as in _nearest_depth): a neighbour's tap
    # of weight 1e-5 would fill the open part with its colour and hide what moves behind.
    inf = float("inf")
    strong = hidden & (tap_weight >= _MIN_OWNER_WEIGHT)
    second = torch.full_like(nearest, inf).scatter_reduce_(0, pixel, torch.where(strong, z, inf), reduce="amin")
    behind = second.index_select(0, pixel)
    # Taps of cells no strong tap reaches count for nothing (z / inf - 1 = -1 would keep them).
    weight = surface_weight(z / behind - 1.0).mul_(tap_weight).masked_fill_(~(hidden & (behind < inf)), 0.0)
    if taps.coverage is not None:
        weight.mul_(taps.coverage.index_select(0, point))
    values = taps.values.index_select(0, point)
    target = slot.index_select(0, pixel)
    sums = weight.new_zeros(values.shape[1] + 1, at.numel())
    sums[:-1].index_add_(1, target, (values * weight[:, None]).T)
    sums[-1].index_add_(0, target, weight)
    sums *= torch.where(sums[-1] > 0, share.index_select(0, at) / sums[-1].clamp(min=1e-12), 0.0)
    return at, sums, second


def max_filter(image: torch.Tensor, radius: int) -> torch.Tensor:
    """(..., H, W) the largest value within ``radius`` pixels (a square) of each pixel: running
    maxima of shifted views, cheaper on the CPU than a max pool, which also computes indices
    (and, unlike it, takes booleans: True within ``radius`` of a True pixel)."""
    result = image
    lowest = False if image.dtype == torch.bool else float("-inf")  # the padding never wins
    for axis in (-2, -1):
        pad = (0, 0, radius, radius) if axis == -2 else (radius, radius)
        padded = F.pad(result, pad, value=lowest)
        size = result.shape[axis]
        result = padded.narrow(axis, 0, size)
        for shift in range(1, 2 * radius + 1):
            result = torch.maximum(result, padded.narrow(axis, shift, size))
    return result


def _add_narrower(total: torch.Tensor, part: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``total + part * keep`` where ``part`` (K + 2, ...: K values, the last value, the
    weight) may lack channels of ``total`` (C + 2, ...) between its first K and its last; the
    rest of the shapes are the cells (flat, or a box of an image). ``total`` is updated in
    place (the splatter's own sums)."""
    # Row by row: a product of one row at a time, not of the whole (K + 2, cells) part.
    for source, row in enumerate(_narrower_rows(part, total)):
        total[row] += part[source] * keep
    return total


def _narrower_rows(part: torch.Tensor, total: torch.Tensor) -> list[int]:
    """The rows of ``total`` (C + 2, ...) that the rows of ``part`` (K + 2, ...: K values, the
    last value, the weight) add to."""
    first = part.shape[0] - 2
    return list(range(part.shape[0])) if part.shape[0] == total.shape[0] else [*range(first), -2, -1]


def _add_narrower_at(total: torch.Tensor, part: torch.Tensor, keep: torch.Tensor, at: torch.Tensor) -> None:
    """:func:`_add_narrower` for a ``part`` (K + 2, M) and ``keep`` (M,) given at the cells ``at`` (M,)
    of ``total`` (C + 2, cells) only."""
    for source, row in enumerate(_narrower_rows(part, total)):
        total[row].index_add_(0, at, part[source] * keep)


def splat_points(uv: torch.Tensor, z: torch.Tensor, values: torch.Tensor, size: tuple[int, int], *,
                 footprint: torch.Tensor | None = None) -> Splatted:
    """Splat one set of points (see :class:`PointSet`) into a (1, C, H, W) image."""
    return splat_groups([PointSet(uv, z, values, footprint)], size)
