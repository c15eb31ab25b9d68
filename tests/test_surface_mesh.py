"""The core's meshes, passes and safe zone for Blender's renderers, without Blender."""
from __future__ import annotations

import numpy as np
import torch

from cine_core.motion.animation import animate_points
from cine_core.cameras.paths import Camera
from cine_core.layers.ldi import DepthLayer, LayeredScene
from cine_core.rendering.frames import FrameRenderer
from cine_core.rendering.passes import depth_and_alpha
from cine_core.cameras.safe_zone import BORDER_FRACTION, safe_camera_radius
from cine_core.rendering.surface_mesh import (CROSSFADE_BEHIND, SurfaceMotion, crossfade, layer_surfaces, skirt_width,
                                              surface_vertices)
from conftest import textured_image
from test_geometry import make_scene


def two_layer_scene(width: int = 40, height: int = 30, band: int = 6):
    """Near band (depth 1) in the bottom half, far wall (depth 4) behind, inpainted ``band``
    rows behind the near band's top edge."""
    scene = make_scene(textured_image(width, height), np.full((height, width), 4.0, np.float32),
                       torch.zeros(2, height, width))
    depth = scene.depth.clone()
    depth[height // 2:] = 1.0
    near = torch.zeros(height, width, dtype=torch.bool)
    near[height // 2:] = True
    far_alpha = ~near
    far_alpha[height // 2:height // 2 + band] = True
    far_depth = torch.full((height, width), 4.0)
    layers = [DepthLayer(scene.photo.clone(), depth.clone(), near, torch.zeros_like(near)),
              DepthLayer(scene.photo.clone(), far_depth, far_alpha, far_alpha & near)]
    scene.depth, scene.layered = depth, LayeredScene(layers, [0.5])
    return scene


def test_one_layer_is_one_sheet_with_a_skirt():
    scene = make_scene(textured_image(20, 12), np.full((12, 20), 2.0, np.float32), torch.zeros(2, 12, 20))
    cloud = animate_points(scene, 2)
    surfaces = layer_surfaces(scene, cloud)
    sides = 2 * (20 + 12)
    assert surfaces.skirt_source.numel() == sides + 4  # a copy of every border pixel, one per corner
    # Two triangles per 2x2 block of pixels, two per neighbouring pair along each side, two per corner.
    assert surfaces.triangles.shape[0] == 2 * 19 * 11 + 2 * (2 * (19 + 11)) + 2 * 4
    assert int(surfaces.triangles.max()) == cloud.depth.numel() + surfaces.skirt_source.numel() - 1
    reach = skirt_width(scene)
    assert abs(float(surfaces.skirt_pixels[:, 0].min()) + reach) < 1e-5
    assert abs(float(surfaces.skirt_pixels[:, 1].max()) - (11 + reach)) < 1e-5
    # Skirt vertices keep their source point's depth.
    assert torch.allclose(surfaces.skirt_world[:, 2], cloud.depth[surfaces.skirt_source])


def test_the_moving_part_has_a_crossfade_copy():
    flow = torch.zeros(2, 12, 20)
    flow[0, 4:9, 5:15] = 1.0  # a box moving right
    scene = make_scene(textured_image(20, 12), np.full((12, 20), 2.0, np.float32), flow)
    cloud = animate_points(scene, 4)
    surfaces = layer_surfaces(scene, cloud)
    copy, triangles = surfaces.copy, surfaces.triangles
    num_points, num_vertices = cloud.depth.numel(), cloud.depth.numel() + surfaces.skirt_source.numel()
    moving = (triangles >= cloud.num_static) & (triangles < num_points)
    # The triangles with a moving vertex, and the still ones sharing a vertex with them, are
    # copied, onto new vertices after the surface's; only the moving ones are marked.
    assert torch.equal(copy.faces, moving.any(1)) and 0 < int(copy.faces.sum()) < triangles.shape[0]
    assert int(copy.triangles.min()) == num_vertices and int(copy.triangles.max()) == num_vertices + copy.source.numel() - 1
    touching = torch.isin(triangles, triangles[copy.faces].unique()).any(1)
    assert int(touching.sum()) > int(copy.faces.sum())
    assert torch.equal(copy.source[copy.triangles - num_vertices], triangles[touching])
    # Every moving point has a copy, the first ones in the cloud's order; points far from the box have none.
    assert torch.equal(copy.source[:num_points - cloud.num_static], torch.arange(cloud.num_static, num_points))
    assert len(set(copy.source.tolist())) == copy.source.numel()
    assert copy.source.numel() <= (5 + 4) * (10 + 4)  # the 5x10 box and two pixels around it


def test_crossfade_puts_the_heavier_cloud_in_front():
    # (the surface shows the backward cloud, its see-through): over-compositing the surface
    # (opacity 1 - see-through) on the copy (the other cloud) gives (1 - t) forward + t backward.
    for frame in range(9):
        time = frame / 8
        backward_in_front, see_through = crossfade(frame, 8)
        weight_of_backward = (1 - see_through) if backward_in_front else see_through
        assert abs(weight_of_backward - time) < 1e-12 and see_through <= 0.5
    assert crossfade(0, 8) == (False, 0.0) and crossfade(8, 8) == (True, 0.0)


def test_the_surface_moves_as_the_render_blends_and_closes_the_loop():
    """SurfaceMotion, what the Blender viewport writes each frame: at frame 0 the surface's
    moving points are where the mesh has them at rest, the copy lies CROSSFADE_BEHIND as far
    on each point's ray, the box has moved right by mid-loop, and frame N (the backward cloud
    in front) puts the surface back where frame 0 has it."""
    flow = torch.zeros(2, 12, 20)
    flow[0, 4:9, 5:15] = 1.0  # a box moving right
    scene = make_scene(textured_image(20, 12), np.full((12, 20), 2.0, np.float32), flow)
    frames = 4
    cloud = animate_points(scene, frames)
    mesh = surface_vertices(scene, cloud)
    motion = SurfaceMotion(scene, cloud)
    moving = slice(cloud.num_static, cloud.depth.numel())
    assert motion.num_moving == moving.stop - moving.start > 0
    surface, copy = np.empty((motion.num_moving, 3), np.float32), np.empty((motion.num_moving, 3), np.float32)
    at = []
    for frame in range(frames + 1):
        motion.positions(frame, surface, copy)
        assert np.isfinite(copy).all() and (copy[:, 2] > 0).all()  # in front of the camera
        at.append((surface.copy(), copy.copy(), motion.see_through(frame)))
    assert np.allclose(at[0][0], mesh.positions[moving], atol=1e-5) and at[0][2] == 0.0
    assert at[frames][2] == 0.0 and np.allclose(at[frames][0], at[0][0], atol=1e-4)
    assert at[frames // 2][2] == 0.5 and float((at[frames // 2][0][:, 0] - at[0][0][:, 0]).mean()) > 0
    # The copy at frame 0 shows the backward cloud on the same rays, CROSSFADE_BEHIND as far.
    backward_uv = (cloud.rest_uv[moving] + cloud.trajectories.displacements(0)[1]).numpy()
    assert np.allclose(at[0][1][:, 2], cloud.moving_positions(0)[3].numpy() * CROSSFADE_BEHIND, rtol=1e-6)
    assert np.allclose(at[0][1][:, 0] / at[0][1][:, 2] * scene.intrinsics.fx + scene.intrinsics.cx,
                       backward_uv[:, 0], atol=0.06)  # the sheet's edge reaches 0.05 px past the pixel


def test_layers_are_separate_sheets():
    scene = two_layer_scene()
    cloud = animate_points(scene, 2)
    triangles = layer_surfaces(scene, cloud).triangles
    inside = triangles[(triangles < cloud.depth.numel()).all(1)]
    corner_depths = cloud.depth[inside]
    assert bool((corner_depths.amax(1) == corner_depths.amin(1)).all())  # no triangle joins two layers


def test_passes_from_the_source_camera_are_the_depth_and_full_cover():
    scene = two_layer_scene()
    renderer = FrameRenderer(animate_points(scene, 4), scene.intrinsics)
    depth, alpha = depth_and_alpha(renderer, 0, Camera.source(scene.intrinsics))
    assert torch.allclose(depth, scene.depth, rtol=1e-4)
    assert float(alpha.min()) > 0.99
    # Turned away from the photo, part of the view holds nothing: alpha 0 there.
    turned = torch.eye(4)
    turned[:3, :3] = torch.tensor([[0.8, 0.0, -0.6], [0.0, 1.0, 0.0], [0.6, 0.0, 0.8]])
    _, alpha = depth_and_alpha(renderer, 0, Camera(scene.intrinsics, turned))
    assert float((alpha < 0.05).float().mean()) > 0.2


def test_safe_radius_keeps_edge_gaps_within_the_band_and_the_border_strip():
    wide, narrow = two_layer_scene(80, 60, band=8), two_layer_scene(80, 60, band=2)  # border strip: 3 px
    fx = wide.intrinsics.fx
    # The edge's gap f t (1/1 - 1/4) stays within the band (its reach measured in pixels).
    assert safe_camera_radius(narrow) < safe_camera_radius(wide)
    assert safe_camera_radius(narrow) * fx * 0.75 <= 2.0 + 1e-6
    flat = make_scene(textured_image(40, 30), np.full((30, 40), 2.0, np.float32), torch.zeros(2, 30, 40))
    assert abs(safe_camera_radius(flat) * flat.intrinsics.fx / 2.0 - BORDER_FRACTION * 30) < 1e-6


def test_frames_of_several_scenes_merge_by_depth():
    from cine_core.rendering.passes import merge_by_depth

    red, blue = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    colours = torch.stack([red[:, None, None].expand(3, 1, 4), blue[:, None, None].expand(3, 1, 4)])
    depths = torch.tensor([[[2.0, 5.0, 2.0, 9.0]], [[3.0, 3.0, 3.0, 1.0]]])
    alphas = torch.tensor([[[1.0, 1.0, 0.5, 1.0]], [[1.0, 1.0, 1.0, 0.0]]])
    colour, depth, alpha = merge_by_depth(colours, depths, alphas)
    # Nearer wins; half cover lets half of the one behind through; no cover comes last.
    assert torch.allclose(colour[:, 0, 0], red) and torch.allclose(colour[:, 0, 1], blue)
    assert torch.allclose(colour[:, 0, 2], 0.5 * red + 0.5 * blue) and torch.allclose(colour[:, 0, 3], red)
    assert torch.equal(depth[0], torch.tensor([2.0, 3.0, 2.0, 9.0])) and torch.equal(alpha[0], torch.ones(4))
    # Transparent: what nothing covers stays transparent.
    _, _, alpha = merge_by_depth(colours, depths, alphas * 0.5, opaque=False)
    assert torch.allclose(alpha[0], torch.tensor([0.75, 0.75, 0.625, 0.5]))


def test_sheets_reach_a_little_past_their_edges_inside_the_photo():
    from cine_core.rendering.surface_mesh import EDGE_OVERLAP

    one = make_scene(textured_image(20, 12), np.full((12, 20), 2.0, np.float32), torch.zeros(2, 12, 20))
    assert not layer_surfaces(one, animate_points(one, 2)).edge_offsets.any()  # the border has the skirt
    scene = two_layer_scene()
    cloud = animate_points(scene, 2)
    offsets = layer_surfaces(scene, cloud).edge_offsets
    row, depth = cloud.rest_uv[:, 1].round(), cloud.depth
    # The near band's top row reaches up, the far band's last row down over it; nothing else moves.
    near_edge, far_edge = (row == 15) & (depth == 1.0), (row == 20) & (depth == 4.0)
    assert torch.allclose(offsets[near_edge], torch.tensor([0.0, -EDGE_OVERLAP]))
    assert torch.allclose(offsets[far_edge], torch.tensor([0.0, EDGE_OVERLAP]))
    assert not offsets[~(near_edge | far_edge)].any()
