"""The layered depth image as triangle meshes, for rasterisers and path tracers (Blender's
EEVEE and Cycles) that cannot splat points.

The vertices are exactly the animated cloud's points (one per layer pixel, in the cloud's
order), so a renderer moving the cloud's points moves the mesh. Each layer is a sheet: the
pixel grid of its points, triangulated between neighbouring pixels of that layer. The sheets
are cut where the layering cut the scene, at its depth discontinuities
(:mod:`cine_core.layers.ldi`), and what a layer hides behind nearer layers is inpainted, so
nothing shows through where a sheet ends. Within a layer nothing is cut: its inpainted band
meets its visible part at another depth, and a cut there would open a crack exactly where a
moving camera looks behind the edge. Colours interpolate linearly between pixel centres, as a
texture sampled with linear interpolation would, so a ray through a pixel centre of the source
camera sees exactly that pixel's colour.

Beyond the photo's border each sheet continues in a skirt: its border pixels repeated
outwards, as wide as the strip a camera inside the safe zone uncovers
(:mod:`cine_core.cameras.safe_zone`), so such a camera never sees past the sheet's edge.

A renderer cross-fades the forward- and the backward-moving cloud (:mod:`cine_core.rendering.frames`);
triangles cannot blend, so the part of the surface that moves has a second copy, the
cross-fade copy, just behind it (:data:`CROSSFADE_BEHIND`). The surface shows the cloud that
weighs more at that moment with its weight as opacity, the copy shows the other cloud opaque,
and over-compositing the two gives the render's blend (:func:`crossfade`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..cameras.intrinsics import lift
from ..cameras.paths import lift_to_world
from ..cameras.safe_zone import BORDER_FRACTION
from ..motion.animation import AnimatedPointCloud
from ..scene import PreparedScene
from .frames import cloud_weights, frame_time


def point_layers(scene: PreparedScene, cloud: AnimatedPointCloud) -> torch.Tensor:
    """(P,) int64 index of the layer each of the cloud's points comes from, -1 for the points
    soft edges add over the far side of a cut (a mesh covers whole, so it leaves them out).

    A point is its layer's depth at its rest pixel; layers at one pixel have different depths
    (hidden content lies behind), so the depth identifies the layer.
    """
    width, height = scene.size
    column = cloud.rest_uv[:, 0].round().long().clamp(0, width - 1)
    row = cloud.rest_uv[:, 1].round().long().clamp(0, height - 1)
    depth = cloud.layer_depth().cpu()
    layer = torch.full_like(column, -1)
    for index, candidate in enumerate(scene.layered.layers):
        mine = candidate.alpha[row, column] & (candidate.depth[row, column] == depth) & (layer < 0)
        layer[mine] = index
    added = torch.zeros_like(layer, dtype=torch.bool)
    if cloud.soft_edges is not None:  # partly covering points that soft edges did not take from a layer
        added = cloud.soft_edges.coverage.cpu() < 1.0
        added[cloud.soft_edges.changed.cpu()] = False
    if bool(((layer < 0) & ~added).any()):
        raise ValueError("the cloud's points do not belong to this scene's layers")
    return layer


def layer_triangles(scene: PreparedScene, cloud: AnimatedPointCloud, layers: torch.Tensor) -> torch.Tensor:
    """(F, 3) int64 vertex indices (the cloud's point indices) of every layer's triangles.

    Each 2x2 block of a layer's pixels gives two triangles when all four are in the layer, one
    when three are (so diagonal edges close); triangles wind counter-clockwise as the source
    camera sees them (x right, y down: their normals face the camera).

    Args:
        layers: (P,) the points' layers (:func:`point_layers`).
    """
    width, height = scene.size
    column = cloud.rest_uv[:, 0].round().long().cpu()
    row = cloud.rest_uv[:, 1].round().long().cpu()
    triangles = []
    for index in range(len(scene.layered.layers)):
        mine = torch.nonzero(layers == index).squeeze(1)
        grid = torch.full((height + 1, width + 1), -1, dtype=torch.long)  # padded: no bounds checks
        grid[row[mine], column[mine]] = mine
        a, b = grid[:-1, :-1], grid[:-1, 1:]  # (y, x), (y, x + 1)
        c, d = grid[1:, :-1], grid[1:, 1:]  # (y + 1, x), (y + 1, x + 1)
        # Seen from the camera with y down, a -> c -> d is counter-clockwise on screen.
        candidates = [(a, c, d, b >= 0), (a, d, b, c >= 0),  # the two halves of a full block
                      (a, c, d, b < 0), (a, d, b, c < 0),  # ... or the one left when b / c is missing
                      (a, c, b, (d < 0)), (b, c, d, (a < 0))]
        for first, second, third, wanted in candidates:
            keep = wanted & (first >= 0) & (second >= 0) & (third >= 0)
            triangles.append(torch.stack([first[keep], second[keep], third[keep]], dim=1))
    return torch.cat(triangles) if triangles else torch.zeros(0, 3, dtype=torch.long)


#: The cross-fade copy lies this factor farther from the source camera than the surface: far
#: enough that a ray always meets the surface first where the two coincide (the photo's
#: triangles sample one layer surface in both copies), well within the 3 % at which the
#: renderer merges surfaces (:data:`~cine_core.rendering.splat.SURFACE_TOLERANCE`) and the 6 % behind
#: which hidden layers lie (:data:`~cine_core.layers.ldi.BEHIND_FACTOR`). Scaling about the
#: source camera keeps every point on its ray: the source camera sees no difference.
CROSSFADE_BEHIND = 1.005


@dataclass
class CrossfadeCopy:
    """The second copy of the surface's moving part: every triangle with a moving vertex, and
    the still triangles around them, on copies of their vertices numbered after the surface's
    ``V`` vertices.

    The still ring matters where the moving part meets the still one: a ray through their
    shared edge (a pixel centre of the source camera lies on it) can pass the see-through
    moving triangle and miss the copy of that triangle behind it; the ring's copy then stops
    it instead of the world behind (hidden everywhere else, behind the opaque still part).

    Attributes:
        source: (B,) int64 the surface vertex each copy vertex repeats: first every moving
            point in the cloud's order (so a renderer writes the copy's moving points as one
            block), then the other vertices of the copied triangles, ascending.
        triangles: (T, 3) int64 the copied triangles, vertex indices in [V, V + B).
        faces: (F,) bool which of the surface's triangles move (have a moving vertex).
    """

    source: torch.Tensor
    triangles: torch.Tensor
    faces: torch.Tensor


def crossfade_copy(triangles: torch.Tensor, num_static: int, num_points: int, num_vertices: int) -> CrossfadeCopy:
    """The cross-fade copy of the triangles touching a moving point (a cloud point in
    [``num_static``, ``num_points``)) and of the still triangles sharing a vertex with them;
    the rest of the still part has no copy."""
    moves = (triangles >= num_static) & (triangles < num_points)
    faces = moves.any(dim=1)
    copied = torch.isin(triangles, torch.unique(triangles[faces])).any(dim=1)
    used = torch.unique(triangles[copied])
    source = torch.cat([torch.arange(num_static, num_points), used[(used < num_static) | (used >= num_points)]])
    number = torch.full((num_vertices,), -1, dtype=torch.long)
    number[source] = torch.arange(num_vertices, num_vertices + source.numel())
    return CrossfadeCopy(source, number[triangles[copied]].reshape(-1, 3), faces)


def crossfade(frame: int, num_frames: int) -> tuple[bool, float]:
    """How the surface and its cross-fade copy show frame ``frame`` in [0, N].

    The render weighs the forward cloud by 1 - t and the backward one by t
    (:func:`~cine_core.rendering.frames.cloud_weights` at
    :func:`~cine_core.rendering.frames.frame_time`). The surface shows the heavier cloud with its weight
    as opacity and the copy behind it shows the other one opaque: w * front + (1 - w) * back is
    then exactly the render's (1 - t) * forward + t * backward, the still part of the surface
    stays opaque, and t = 0 (t = 1) is the forward (backward) cloud alone. Which cloud is in
    front swaps at mid-loop, where both weigh one half, so nothing jumps.

    Returns:
        (whether the surface shows the backward cloud, the transparency 1 - w of its moving part).
    """
    forward, backward = cloud_weights(frame_time(frame, num_frames))
    return backward > forward, min(forward, backward)


@dataclass
class LayerSurfaces:
    """The layers as one triangle mesh: the cloud's ``P`` points, then ``S`` skirt vertices,
    then the ``B`` vertices of the cross-fade copy.

    Attributes:
        triangles: (F, 3) int64 vertex indices in [0, P + S): the surface.
        skirt_source: (S,) int64 the cloud point each skirt vertex repeats (colour, depth).
        skirt_pixels: (S, 2) float32 where the skirt vertices lie in the photo's pixel grid
            (outside the photo).
        skirt_world: (S, 3) float32 their world positions (the source point's depth).
        copy: the cross-fade copy of the moving part (:func:`crossfade_copy`).
        edge_offsets: (P, 2) float32 pixel offsets of the points at their sheet's edge
            (:func:`sheet_edges`): a mesh puts point i at rest pixel + offset, at its depth.
    """

    triangles: torch.Tensor
    skirt_source: torch.Tensor
    skirt_pixels: torch.Tensor
    skirt_world: torch.Tensor
    copy: CrossfadeCopy
    edge_offsets: torch.Tensor


def skirt_width(scene: PreparedScene) -> float:
    """Pixels the skirt reaches beyond the photo: the border strip the safe zone allows, plus one."""
    width, height = scene.size
    return BORDER_FRACTION * min(width, height) + 1.0


def _skirt(scene: PreparedScene, cloud: AnimatedPointCloud, layers: torch.Tensor, first: int):
    """Skirt vertices and triangles of every layer: for each side, a repeated copy of the border
    points pushed out, quads between neighbours along the side, and a corner vertex where two
    sides meet. Vertex numbers start at ``first``."""
    width, height = scene.size
    reach = skirt_width(scene)
    column = cloud.rest_uv[:, 0].round().long().cpu()
    row = cloud.rest_uv[:, 1].round().long().cpu()
    # side: (points on it, their position along the side, outward direction)
    sides = [(column == 0, row, (-1.0, 0.0)), (column == width - 1, row, (1.0, 0.0)),
             (row == 0, column, (0.0, -1.0)), (row == height - 1, column, (0.0, 1.0))]
    sources, pixels, triangles = [], [], []
    count = first
    corner_copies: dict[tuple[int, int], list[int]] = {}  # (layer, point) -> its skirt copies
    for on_side, along, (dx, dy) in sides:
        for layer in torch.unique(layers).tolist():
            points = torch.nonzero(on_side & (layers == layer)).squeeze(1)
            if points.numel() == 0:
                continue
            points = points[torch.argsort(along[points])]
            copies = torch.arange(count, count + points.numel())
            count += points.numel()
            sources.append(points)
            pixels.append(cloud.rest_uv[points].cpu() + torch.tensor([dx * reach, dy * reach]))
            neighbours = (along[points][1:] - along[points][:-1]) == 1
            p0, p1, c0, c1 = points[:-1][neighbours], points[1:][neighbours], copies[:-1][neighbours], copies[1:][neighbours]
            triangles += [torch.stack([p0, c0, c1], 1), torch.stack([p0, c1, p1], 1)]
            for point, copy in zip(points.tolist(), copies.tolist()):
                corner_copies.setdefault((layer, point), []).append(copy)
    for (layer, point), copies in corner_copies.items():
        if len(copies) == 2:  # a photo corner: fill the square between its two side copies
            offset = cloud.rest_uv[point].cpu() - torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0])
            sources.append(torch.tensor([point]))
            pixels.append(cloud.rest_uv[point:point + 1].cpu() + torch.sign(offset) * reach)
            triangles += [torch.tensor([[point, copies[0], count]]), torch.tensor([[point, count, copies[1]]])]
            count += 1
    if not sources:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, torch.zeros(0, 2), torch.zeros(0, 3, dtype=torch.long)
    return torch.cat(sources), torch.cat(pixels), torch.cat(triangles)


#: How far (pixels) a sheet's edge inside the photo reaches past its last pixel centres: a ray
#: through a pixel centre on the edge then meets the sheet inside, not on its rim, where a path
#: tracer's ray can slip between two sheets to what lies behind (a dotted line of the farther
#: layer's inpainted colour along a depth edge, e.g. sky along a ridge).
EDGE_OVERLAP = 0.05


def sheet_edges(scene: PreparedScene, cloud: AnimatedPointCloud, layers: torch.Tensor) -> torch.Tensor:
    """(P, 2) float32 pixel offsets that push each point on its sheet's edge inside the photo
    outwards by :data:`EDGE_OVERLAP` (towards its missing 4-neighbours); 0 for the others. The
    photo's own border needs none: the skirt continues the sheets there.

    Args:
        layers: (P,) the points' layers (:func:`point_layers`).
    """
    width, height = scene.size
    column = cloud.rest_uv[:, 0].round().long().cpu()
    row = cloud.rest_uv[:, 1].round().long().cpu()
    outward = torch.zeros(column.shape[0], 2)
    for index in range(len(scene.layered.layers)):
        mine = torch.nonzero(layers == index).squeeze(1)
        occupied = torch.ones(height + 2, width + 2, dtype=torch.bool)  # beyond the border counts as sheet
        occupied[1:-1, 1:-1] = False
        occupied[row[mine] + 1, column[mine] + 1] = True
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            missing = ~occupied[row[mine] + 1 + dy, column[mine] + 1 + dx]
            outward[mine[missing]] += torch.tensor([float(dx), float(dy)])
    length = outward.norm(dim=1, keepdim=True)
    return torch.where(length > 0, outward / length.clamp(min=1e-6) * EDGE_OVERLAP, outward)


def layer_surfaces(scene: PreparedScene, cloud: AnimatedPointCloud) -> LayerSurfaces:
    """The layers' triangles (:func:`layer_triangles`) with their skirts beyond the photo, and
    the cross-fade copy of their moving part."""
    layers = point_layers(scene, cloud)
    num_points = cloud.depth.shape[0]
    skirt_source, skirt_pixels, skirt_triangles = _skirt(scene, cloud, layers, num_points)
    depth = cloud.depth.cpu()[skirt_source]
    triangles = torch.cat([layer_triangles(scene, cloud, layers), skirt_triangles])
    copy = crossfade_copy(triangles, cloud.num_static, num_points, num_points + skirt_source.numel())
    return LayerSurfaces(triangles, skirt_source, skirt_pixels.float(),
                         lift_to_world(skirt_pixels.float(), depth, scene.intrinsics).float(), copy,
                         sheet_edges(scene, cloud, layers))


@dataclass
class SurfaceVertices:
    """The layered surface as arrays for a mesh: ``V`` vertices (the animated cloud's points in
    its order at their sheet's edge, then the skirt beyond the photo's border, then the
    cross-fade copy of the moving part, :data:`CROSSFADE_BEHIND` as far) and ``F`` triangles
    (the surface's, then the copy's), in world coordinates of the source camera.

    Attributes:
        positions: (V, 3) float32 world positions at rest (loop frame 0).
        colors: (V, 3) float32 sRGB in [0, 1].
        pixels: (V, 2) float32 photo pixel (x, y) each vertex shows at rest.
        triangles: (F, 3) int32 vertex indices.
        copy_of: (V,) int32 the surface vertex a copy vertex repeats; -1 on the surface.
        translucent: (F,) bool the surface's moving triangles (seen through by the cross-fade).
    """

    positions: np.ndarray
    colors: np.ndarray
    pixels: np.ndarray
    triangles: np.ndarray
    copy_of: np.ndarray
    translucent: np.ndarray

    @property
    def count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_surface(self) -> int:
        """Vertices of the surface itself (points and skirt), without the cross-fade copy."""
        return int((self.copy_of < 0).sum())


def surface_vertices(scene: PreparedScene, cloud: AnimatedPointCloud) -> SurfaceVertices:
    """The layered surface of ``scene`` whose points are ``cloud``'s (:func:`layer_surfaces`),
    as the arrays of one mesh with its cross-fade copy."""
    surfaces = layer_surfaces(scene, cloud)
    rest_uv, depth = cloud.rest_uv.cpu(), cloud.depth.cpu()
    positions = torch.cat([lift_to_world(rest_uv + surfaces.edge_offsets, depth, scene.intrinsics).float(),
                           surfaces.skirt_world])
    colors = cloud.opaque_values()[:, :3].cpu().float()
    colors = torch.cat([colors, colors[surfaces.skirt_source]])
    pixels = torch.cat([rest_uv.float(), surfaces.skirt_pixels])
    source = surfaces.copy.source
    copy_of = torch.cat([torch.full((len(positions),), -1, dtype=torch.int32), source.int()])
    return SurfaceVertices(
        positions=torch.cat([positions, positions[source] * CROSSFADE_BEHIND]).numpy(),
        colors=torch.cat([colors, colors[source]]).numpy(),
        pixels=torch.cat([pixels, pixels[source]]).numpy(),
        triangles=torch.cat([surfaces.triangles, surfaces.copy.triangles]).int().numpy(),
        copy_of=copy_of.numpy(),
        translucent=torch.cat([surfaces.copy.faces, torch.zeros(len(surfaces.copy.triangles), dtype=torch.bool)]).numpy())


class SurfaceMotion:
    """Where the moving vertices of :func:`surface_vertices`' mesh are at each frame of the loop:
    the surface's moving points show the cloud that weighs more, the cross-fade copy the other
    (:func:`crossfade`).

    NumPy arrays, computed once: a viewport moves the mesh on its main thread every frame, where
    PyTorch's thread pool would wait for cores that other work holds.
    """

    def __init__(self, scene: PreparedScene, cloud: AnimatedPointCloud):
        layers = point_layers(scene, cloud)
        moving = slice(cloud.num_static, cloud.depth.shape[0])
        self.num_frames = cloud.num_frames
        self.num_moving = cloud.depth.shape[0] - cloud.num_static
        self.intrinsics = scene.intrinsics
        self._edges = sheet_edges(scene, cloud, layers)[moving].numpy()
        # Positions and depths after every number of steps, computed once here (indexed by
        # steps: the backward cloud of frame m has taken N - m).
        self._clouds = tuple((positions.cpu().numpy(),
                              torch.stack([cloud.depth_at(at) for at in positions]).cpu().numpy())
                             for positions in cloud.trajectories.positions_by_step())
        self.crossfade = [crossfade(frame, self.num_frames) for frame in range(self.num_frames + 1)]

    def see_through(self, frame: int) -> float:
        """How transparent the surface's moving part is at ``frame`` in [0, N]."""
        return self.crossfade[frame][1] if self.num_moving else 0.0

    def positions(self, frame: int, surface: np.ndarray, copy: np.ndarray) -> None:
        """Write the (M, 3) world positions at ``frame`` in [0, N] of the surface's moving
        points (the cloud's points ``num_static`` on) into ``surface``, and of their cross-fade
        copy into ``copy``: each takes the depth of its cloud where it arrives, the copy
        :data:`CROSSFADE_BEHIND` times as far along the same ray."""
        if not self.num_moving:
            return
        (forward, forward_depth), (backward, backward_depth) = self._clouds
        # Indexed by steps taken: the backward cloud of frame m has taken N - m.
        clouds = ((forward[frame], forward_depth[frame]),
                  (backward[self.num_frames - frame], backward_depth[self.num_frames - frame]))
        (front, front_depth), (back, back_depth) = clouds[::-1] if self.crossfade[frame][0] else clouds
        k = self.intrinsics
        for out, position, depth in ((surface, front, front_depth),
                                     (copy, back, back_depth * np.float32(CROSSFADE_BEHIND))):
            pixels = position + self._edges
            out[:, 0], out[:, 1], out[:, 2] = lift(pixels[:, 0], pixels[:, 1], depth, k)
