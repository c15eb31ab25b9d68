"""Soft layer edges: the photo's anti-aliasing at layer cuts, as the near surface's partial
coverage of what lies behind it.

A pixel on a depth edge mixes two surfaces, I = a F + (1 - a) B: the near one covers the part
a of it. Cut into layers, such a pixel goes whole to one side, so under parallax its mixed
colour travels with the wrong surface: a thin line of ground colour drifts with the sky above a
horizon, and along a slanted edge the sawtooth of the anti-aliasing turns into stairs. Here the
pixels within :data:`EDGE_RADIUS` of a cut get the near surface's coverage a, measured from the
colours (the projection of I - B onto F - B, with F and B the mean colours of the two surfaces
just beyond the edge), and values that the splatter composites back into the photo: a near
pixel keeps its point with coverage a and the values F that make a F + (1 - a) B its colour
over the point behind it; a far pixel keeps its point with the values B that do the same, and
gets a point of the near surface with coverage a. At the source camera the photo comes back;
under parallax the edge keeps its anti-aliasing and moves with the near surface.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .ldi import BEHIND_FACTOR, LayeredScene

#: Pixels this close to a layer cut (a square, in pixels) may mix the two surfaces.
EDGE_RADIUS = 2
#: Below this distance between the two surfaces' colours (RGB in [0, 1]) the mix is not
#: measured: the pixel stays whole.
MIN_CONTRAST = 0.1
#: A pixel is taken for a mix of the two colours F and B when the colour un-mixing gives it
#: lies within this distance (RGB in [0, 1]) of the surface's estimated colour.
MAX_DEVIATION = 0.1
#: Coverage within this of 0 or 1 counts as none or full (and un-mixing divides by at most
#: 1 / MIN_SHARE, so the un-mixed values stay bounded).
MIN_SHARE = 1.0 / 64.0


@dataclass
class EdgeMatte:
    """Where the photo mixes a near surface with what lies behind it, and by how much.

    Attributes:
        near_side: (H, W) bool, pixels of a still nearer layer beside a cut, covering part a
            of themselves (all where the mix cannot be measured); the nearest hidden surface
            behind (``behind_layer``) shows through the rest.
        far_side: (H, W) bool, pixels of a farther layer that the near surface (of
            ``near_layer``) covers in part a.
        coverage: (H, W) float32, a at those pixels (1 elsewhere).
        visible_layer: (H, W) int64, the layer each pixel of the photo is seen on.
        near_layer: (H, W) int64, at ``far_side`` the layer of the covering surface (else -1).
        near_depth: (H, W) float32, at ``near_side`` and ``far_side`` the depth of the near
            surface there (else 0); see :func:`edge_matte`.
        behind_layer: (H, W) int64, at ``near_side`` the layer of the hidden surface behind (else -1).
        interior: (H, W) bool, pixels no other layer comes within ``radius`` of: the
            surfaces' own values beyond the edges are estimated from these.
        radius: how far from a cut pixels may be soft (:data:`EDGE_RADIUS`).
    """

    near_side: torch.Tensor
    far_side: torch.Tensor
    coverage: torch.Tensor
    visible_layer: torch.Tensor
    near_layer: torch.Tensor
    near_depth: torch.Tensor
    behind_layer: torch.Tensor
    interior: torch.Tensor
    radius: int


def edge_matte(layered: LayeredScene, photo: torch.Tensor, still: torch.Tensor | None = None,
               radius: int = EDGE_RADIUS) -> EdgeMatte:
    """Measure the near surface's coverage at the pixels beside the layer cuts.

    Args:
        layered: the LDI.
        photo: (3, H, W) the photo, colours in [0, 1].
        still: (H, W) bool, the pixels whose surface stays still (default all). Only a still
            near surface gets a soft edge: the splatter composites the partial coverage of
            still points only, and a point added beside moving ones would stay behind.
        radius: see :data:`EDGE_RADIUS`.

    Returns:
        :class:`EdgeMatte`; where the two surfaces' colours cannot be told apart, or the
        coverage comes out as none or full, a near pixel covers whole and a far one is left
        out of the far side.
    """
    layers = layered.layers
    height, width = photo.shape[-2:]
    visible = torch.full((height, width), -1, dtype=torch.long)
    for index, layer in enumerate(layers):
        visible[layer.alpha & ~layer.hidden] = index
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    levels = visible.numpy().astype(np.float32)
    nearest = torch.from_numpy(cv2.erode(levels, kernel, borderType=cv2.BORDER_REPLICATE)).long()
    farthest = torch.from_numpy(cv2.dilate(levels, kernel, borderType=cv2.BORDER_REPLICATE)).long()
    interior = (nearest == visible) & (farthest == visible) & (visible >= 0)
    # The nearest hidden surface behind each pixel: what shows once the near surface moves
    # aside. Where another lies within BEHIND_FACTOR of it the renderer blends the two, so the
    # pixel has no single colour behind it and stays whole.
    behind = torch.full_like(visible, -1)
    first = torch.full((height, width), float("inf"))
    second = torch.full((height, width), float("inf"))
    for index, layer in enumerate(layers):
        hidden_depth = torch.where(layer.hidden & (visible >= 0), layer.depth, float("inf"))
        second = torch.minimum(second, torch.maximum(first, hidden_depth))
        behind = torch.where(hidden_depth < first, index, behind)
        first = torch.minimum(first, hidden_depth)
    behind = torch.where(second < first * BEHIND_FACTOR, -1, behind)
    # A pixel with both a nearer and a farther layer around it (a thin middle layer) stays whole.
    near_side = (farthest > visible) & (nearest == visible) & (behind >= 0) & (visible >= 0)
    far_side = (nearest < visible) & (farthest == visible) & (nearest >= 0)
    if still is not None:
        near_side &= still
        for index in range(len(layers)):
            moving = ((visible == index) & ~still).numpy().astype(np.uint8)
            far_side &= ~((nearest == index) & torch.from_numpy(cv2.dilate(moving, kernel) > 0))
    near_of = torch.where(far_side, nearest, torch.where(near_side, visible, -1)).reshape(-1)
    depth = torch.zeros(height, width)
    for index, layer in enumerate(layers):
        depth = torch.where(visible == index, layer.depth, depth)
    # The depth map is filtered, so the near surface's pixels at a cut ramp towards the far
    # one (a ground's top row lay 7 % behind the row below it): under parallax they moved as a
    # surface of their own, and the splatter hid them behind the rows below. The soft band
    # moves with the near surface as one piece instead: its pixels, and the far pixels it
    # covers, take the near surface's depth as its pixels beyond the band have it (the mean of
    # their log-depth around, smooth along the edge where the cut steps from row to row), a
    # near pixel only where that is nearer.
    pixel = torch.nonzero((near_side | far_side).reshape(-1)).squeeze(1)
    log_depth = torch.log(depth.clamp(min=1e-6))[None]
    mean, found = _layer_means([log_depth] * len(layers), near_of[pixel], pixel, interior, visible, radius)
    near_depth = torch.zeros(height, width)
    own = depth.reshape(-1)[pixel]
    surface = torch.where(found, mean[:, 0].exp(), own)
    # The ramp only ever pulls the near side back: a near pixel already in front keeps its depth.
    near_depth.view(-1)[pixel] = torch.where(far_side.reshape(-1)[pixel], surface, torch.minimum(own, surface))
    far_side.view(-1)[pixel[~found]] = False  # no near surface around to take the depth of
    # The far side must lie clearly behind the near surface, or the splatter would take the two
    # for one surface and blend them instead of laying one over the other.
    far_side &= depth >= near_depth * BEHIND_FACTOR
    colours = [layer.rgb for layer in layers]
    coverage = torch.ones(height, width)
    for side, is_near in ((near_side, True), (far_side, False)):
        pixel = torch.nonzero(side.reshape(-1)).squeeze(1)
        if not pixel.numel():
            continue
        shown = photo.reshape(3, -1).index_select(1, pixel).T  # (K, 3): I
        front, measured = _layer_means(colours, near_of[pixel], pixel, interior, visible, radius)
        if is_near:
            # What shows behind is the hidden surface, inpainted: it must look like the far
            # surface the photo shows beyond the edge, or the pixel was not a mix of it (an
            # inpainted guess between two rocks would show through as a pale outline).
            back = _gather_layers(colours, behind.reshape(-1)[pixel], pixel)
            seen, found = _layer_means(colours, farthest.reshape(-1)[pixel], pixel, interior, visible, radius)
            measured &= found & ((back - seen).square().sum(1) <= MAX_DEVIATION ** 2)
        else:
            back, found = _layer_means(colours, visible.reshape(-1)[pixel], pixel, interior, visible, radius)
            measured &= found
        share, kept = _coverage(shown, front, back, is_near)
        measured &= kept
        coverage.view(-1)[pixel[measured]] = share[measured]
        if not is_near:  # a near pixel stays on the side, whole, for its depth
            side.view(-1)[pixel[~measured]] = False
    return EdgeMatte(near_side, far_side, coverage, visible, torch.where(far_side, nearest, -1),
                     torch.where(near_side | far_side, near_depth, 0.0), torch.where(near_side, behind, -1),
                     interior, radius)


def _least_share(shown: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """(K,) the least a for which base + (shown - base) / a lies within [0, 1] in every
    channel of the (K, 3) colours: un-mixing by less would leave the colour range."""
    up = (shown - base).clamp(min=0.0) / (1.0 - base).clamp(min=1e-6)
    down = (base - shown).clamp(min=0.0) / base.clamp(min=1e-6)
    return torch.maximum(up, down).amax(1)


def _coverage(shown: torch.Tensor, front: torch.Tensor, back: torch.Tensor,
              near: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(K,) the near surface's coverage a of pixels of colour I = ``shown`` between colours
    F = ``front`` and B = ``back`` (K, 3), and (K,) whether the pixel is soft.

    a is the projection of I - B onto F - B, raised or lowered where un-mixing would leave the
    colour range: on the near side the point's colour becomes B + (I - B) / a, on the far side
    F + (I - F) / (1 - a). The pixel is soft where F and B differ by :data:`MIN_CONTRAST` at
    least, a is neither none nor full, and that colour stays within :data:`MAX_DEVIATION` of
    the estimate it replaces (a pixel off the line between F and B is not their mix, and
    dividing by a small share would turn the difference into a garish colour).
    """
    difference = front - back
    norm = difference.square().sum(1)
    share = ((shown - back) * difference).sum(1) / norm.clamp(min=1e-12)
    if near:
        share = torch.maximum(share.clamp(max=1.0), _least_share(shown, back)).clamp(min=MIN_SHARE)
        unmixed, estimate, soft = back + (shown - back) / share[:, None], front, share < 1.0 - MIN_SHARE
    else:
        share = torch.minimum(share.clamp(min=0.0), 1.0 - _least_share(shown, front)).clamp(max=1.0 - MIN_SHARE)
        unmixed, estimate, soft = front + (shown - front) / (1.0 - share[:, None]), back, share > MIN_SHARE
    deviation = (unmixed - estimate).square().sum(1)
    return share, soft & (deviation <= MAX_DEVIATION ** 2) & (norm >= MIN_CONTRAST ** 2)


def _gather_layers(values: list[torch.Tensor], layer_of: torch.Tensor, pixel: torch.Tensor) -> torch.Tensor:
    """(K, C) the values (C, H, W) of layer ``layer_of`` (K,) at flat pixel ``pixel`` (K,)."""
    gathered = values[0].new_empty(pixel.shape[0], values[0].shape[0])
    for index, layer_values in enumerate(values):
        chosen = torch.nonzero(layer_of == index).squeeze(1)
        if chosen.numel():
            gathered[chosen] = layer_values.reshape(layer_values.shape[0], -1).index_select(1, pixel[chosen]).T
    return gathered


#: Pixels whose windows :func:`_layer_means` gathers at once (bounds the memory for learned
#: features: 1024 pixels x 169 offsets x 64 channels is 44 MB of float32).
_MEANS_CHUNK = 1024


def _layer_means(values: list[torch.Tensor], layer_of: torch.Tensor, pixel: torch.Tensor, interior: torch.Tensor,
                 visible: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, C) the mean values of layer ``layer_of`` (K,) around flat pixel ``pixel`` (K,): a
    Gaussian of ``radius`` pixels over the layer's ``interior`` pixels within 3 ``radius``, and
    (K,) whether any was found. Computed at those pixels only (a blur of whole images of
    learned features would take hundreds of megabytes)."""
    height, width = interior.shape
    reach = 3 * radius
    steps = torch.arange(-reach, reach + 1)
    dy, dx = (offset.reshape(-1) for offset in torch.meshgrid(steps, steps, indexing="ij"))
    kernel = torch.exp(-(dx * dx + dy * dy).to(values[0].dtype) / (2.0 * radius * radius))
    own = (interior & (visible >= 0)).reshape(-1)
    visible = visible.reshape(-1)
    sums = values[0].new_zeros(pixel.shape[0], values[0].shape[0])
    weights = values[0].new_zeros(pixel.shape[0])
    for index, layer_values in enumerate(values):
        flat = layer_values.reshape(layer_values.shape[0], -1)
        for chosen in torch.nonzero(layer_of == index).squeeze(1).split(_MEANS_CHUNK):
            # (k, offsets): every pixel's window at once.
            y = (pixel[chosen] // width)[:, None] + dy[None]
            x = (pixel[chosen] % width)[:, None] + dx[None]
            at = y.clamp(0, height - 1) * width + x.clamp(0, width - 1)
            inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
            weight = (inside & own[at] & (visible[at] == index)).to(sums.dtype) * kernel[None]
            weights[chosen] = weight.sum(1)
            gathered = flat.index_select(1, at.reshape(-1)).view(flat.shape[0], *at.shape)  # (C, k, offsets)
            sums[chosen] = (gathered * weight[None]).sum(2).T
    found = weights > 0
    return sums / weights.clamp(min=1e-12)[:, None], found


@dataclass
class UnmixedValues:
    """Values of the points at soft edges (:func:`unmix_values`), in the pixels' scan order.

    Attributes:
        near: (Kn, C) for the points of ``near_side`` pixels (on their visible layer).
        far: (Kf, C) for the points of ``far_side`` pixels (on their visible layer).
        added: (Kf, C) for the near surface's points added at ``far_side`` pixels.
    """

    near: torch.Tensor
    far: torch.Tensor
    added: torch.Tensor


def unmix_values(values: list[torch.Tensor], matte: EdgeMatte) -> UnmixedValues:
    """Un-mix per-layer values (C, H, W) (colours, or learned features) at the soft edges of
    ``matte``, so that compositing them by the coverage gives the photo's values again.

    A near pixel's point takes B + (V - B) / a with B the value of the point behind it; a far
    pixel's point takes F + (V - F) / (1 - a), and the point added there F, with F the near
    surface's mean value beyond the edge. Linear in the values, so features un-mix as colours.
    """
    coverage = matte.coverage.reshape(-1)
    visible = matte.visible_layer.reshape(-1)
    near_pixel = torch.nonzero(matte.near_side.reshape(-1)).squeeze(1)
    far_pixel = torch.nonzero(matte.far_side.reshape(-1)).squeeze(1)
    share = coverage[near_pixel][:, None]
    own = _gather_layers(values, visible[near_pixel], near_pixel)
    back = _gather_layers(values, matte.behind_layer.reshape(-1)[near_pixel], near_pixel)
    near = back + (own - back) / share
    added, _ = _layer_means(values, matte.near_layer.reshape(-1)[far_pixel], far_pixel, matte.interior,
                            matte.visible_layer, matte.radius)
    own = _gather_layers(values, visible[far_pixel], far_pixel)
    far = added + (own - added) / (1.0 - coverage[far_pixel][:, None])
    return UnmixedValues(near, far, added)
