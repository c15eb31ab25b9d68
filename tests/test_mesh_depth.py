"""Known-answer tests of the mesh rasteriser (depth from scene meshes), against geometry and a
brute-force ray cast through every pixel centre, and of the metric scale that keeps the meshes'
size."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cine_core.cameras.intrinsics import Intrinsics
from cine_core.cameras.paths import look_at
from cine_core.depth import mesh_raster
from cine_core.depth.conditioning import condition_depth, metric_scale
from cine_core.depth.mesh_raster import rasterize_disparity
from cine_core.errors import CineError

K = Intrinsics(fx=50.0, fy=55.0, cx=31.7, cy=23.2, width=64, height=48)  # off-centre, non-square pixels


def pixel_rays(k: Intrinsics) -> np.ndarray:
    """(H, W, 3) camera-space rays through the pixel centres, with z = 1."""
    v, u = np.mgrid[0:k.height, 0:k.width].astype(np.float64)
    return np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1)


def ray_cast(corners: np.ndarray, k: Intrinsics, margin: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force reference: disparity of the first hit of every pixel ray (Moller-Trumbore,
    float64; 0 where nothing is hit), and where a hit lies within ``margin`` (barycentric) of
    some triangle's edge.

    Args:
        corners: (T, 3, 3) camera-space triangle corners.
    """
    rays = pixel_rays(k).reshape(-1, 3)
    nearest = np.full(len(rays), np.inf)
    ambiguous = np.zeros(len(rays), bool)
    for p0, p1, p2 in corners:
        e1, e2 = p1 - p0, p2 - p0
        h = np.cross(rays, e2)
        det = h @ e1
        with np.errstate(divide="ignore", invalid="ignore"):
            s = -p0
            a = (h @ s) / det
            q = np.cross(s, e1)
            b = (rays @ q) / det
            t = (q @ e2) / det
        weights = np.stack([1 - a - b, a, b], axis=1)
        inside = (weights.min(1) >= 0) & (t > 0)
        nearest = np.where(inside & (t < nearest), t, nearest)
        ambiguous |= (np.abs(weights).min(1) < margin) & (weights.min(1) > -margin) & (t > 0)
    return (1.0 / nearest).reshape(k.height, k.width), ambiguous.reshape(k.height, k.width)


def draw(corners: np.ndarray, k: Intrinsics = K, world_to_camera: torch.Tensor | None = None) -> np.ndarray:
    """The rasteriser's disparity of triangles given by their corners (T, 3, 3)."""
    vertices = torch.tensor(corners.reshape(-1, 3), dtype=torch.float64)
    triangles = torch.arange(len(vertices)).view(-1, 3)
    pose = torch.eye(4, dtype=torch.float64) if world_to_camera is None else world_to_camera
    return rasterize_disparity(vertices, triangles, pose, k).numpy()


def quad(a, b, c, d) -> np.ndarray:
    """Two triangles (2, 3, 3) of the quad a b c d."""
    return np.array([[a, b, c], [a, c, d]], np.float64)


def test_fronto_parallel_plane_has_its_depth_everywhere():
    disparity = draw(quad((-50, -50, 4), (50, -50, 4), (50, 50, 4), (-50, 50, 4)))
    assert disparity.dtype == np.float32 and disparity.shape == (K.height, K.width)
    np.testing.assert_allclose(disparity, 0.25, rtol=1e-6)


def test_tilted_plane_is_perspective_correct():
    # The plane z = 6 + 0.5 y: the ray (x', y', 1) meets it at z = 6 / (1 - 0.5 y').
    corners = quad((-40, -8, 2), (40, -8, 2), (40, 8, 10), (-40, 8, 10))
    disparity = draw(corners)
    rays = pixel_rays(K)
    expected = (1 - 0.5 * rays[..., 1]) / 6.0
    np.testing.assert_allclose(disparity, expected, rtol=1e-5)


def test_nearest_of_two_overlapping_triangles_wins_in_either_order():
    near = np.array([[(-1, -1, 3), (2, -1, 3), (-1, 2, 3)]], np.float64)
    far = np.array([[(-3, -3, 5), (3, -3, 5), (0, 3, 5)]], np.float64)
    for corners in (np.concatenate([near, far]), np.concatenate([far, near])):
        disparity = draw(corners)
        expected, ambiguous = ray_cast(corners, K)
        np.testing.assert_allclose(disparity[~ambiguous], expected[~ambiguous], rtol=1e-5)
        assert np.isclose(disparity, 1 / 3).sum() > 100 and np.isclose(disparity, 1 / 5).sum() > 100


def test_ground_crossing_the_near_plane_is_drawn_where_it_is_in_front():
    # A floor 1.5 below the camera from 5 behind it to 30 ahead: rows below the horizon see it at
    # z = 1.5 / y' up to z = 30, rows above it see nothing.
    corners = quad((-60, 1.5, -5), (60, 1.5, -5), (60, 1.5, 30), (-60, 1.5, 30))
    disparity = draw(corners)
    y = pixel_rays(K)[..., 1]
    expected = np.where(y >= 1.5 / 30, y / 1.5, 0.0)
    edge = np.abs(y - 1.5 / 30) < 1e-3
    np.testing.assert_allclose(disparity[~edge], expected[~edge], rtol=1e-5, atol=1e-7)
    assert disparity[-1].min() > 0 and disparity[0].max() == 0


def test_triangles_behind_the_camera_or_outside_the_view_are_not_drawn():
    behind = np.array([[(-1, -1, -3), (1, -1, -3), (0, 1, -3)]], np.float64)
    aside = np.array([[(100, 0, 3), (110, 0, 3), (105, 5, 3)]], np.float64)
    edge_on = np.array([[(0, -1, 2), (0, 1, 2), (0, 0, 8)]], np.float64)  # its plane x = 0 holds the camera
    assert not draw(np.concatenate([behind, aside, edge_on])).any()
    empty = rasterize_disparity(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), torch.eye(4), K)
    assert empty.shape == (K.height, K.width) and not empty.any()


def random_soup(count: int, seed: int) -> np.ndarray:
    """(count, 3, 3) random triangles around the view, some crossing or behind the camera."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([-3, -2, -1], [3, 2, 9], (count, 1, 3))
    return centres + rng.normal(0, rng.uniform(0.1, 2.0, (count, 1, 1)), (count, 3, 3))


@pytest.mark.parametrize("seed", [0, 1])
def test_random_triangles_match_a_ray_cast_through_every_pixel_centre(seed):
    corners = random_soup(60, seed)
    disparity = draw(corners)
    expected, ambiguous = ray_cast(corners, K)
    assert ambiguous.mean() < 0.05
    np.testing.assert_allclose(disparity[~ambiguous], expected[~ambiguous], rtol=1e-5)


def test_world_to_camera_moves_the_view():
    # The soup seen from a camera elsewhere equals the soup moved into that camera's frame.
    corners = random_soup(40, 2)
    world_to_camera = torch.linalg.inv(look_at(torch.tensor([2.0, -1.0, -3.0]), torch.tensor([0.0, 0.0, 4.0])).double())
    seen = draw(corners, world_to_camera=world_to_camera)
    moved = corners @ world_to_camera[:3, :3].numpy().T + world_to_camera[:3, 3].numpy()
    expected, ambiguous = ray_cast(moved, K)
    assert seen.any()
    np.testing.assert_allclose(seen[~ambiguous], expected[~ambiguous], rtol=1e-5)


def test_small_batches_give_the_same_image(monkeypatch):
    corners = np.concatenate([random_soup(40, 3), quad((-50, -50, 8), (50, -50, 8), (50, 50, 8), (-50, 50, 8))])
    whole = draw(corners)
    monkeypatch.setattr(mesh_raster, "CANDIDATES_PER_BATCH", 7)
    monkeypatch.setattr(mesh_raster, "TRIANGLES_PER_BATCH", 5)
    # Other batches put some grids at other origins: float32 rounding differs by an ulp or so.
    np.testing.assert_allclose(draw(corners), whole, rtol=1e-6)


def test_pixel_boxes_hold_the_covered_pixels_only_within_the_image():
    corners = torch.tensor([[(-1.0, -0.5, 2.0), (1.0, -0.5, 2.0), (0.0, 0.5, 2.0)],  # in view
                            [(-1.0, -1.0, -2.0), (1.0, -1.0, -2.0), (0.0, 1.0, -2.0)],  # behind
                            [(0.0, 0.2, -1.0), (0.5, 0.2, 1.0), (-0.5, 0.2, 1.0)]], dtype=torch.float64)  # crossing
    boxes = mesh_raster.pixel_boxes(corners, K).tolist()
    u = [K.fx * x / 2 + K.cx for x in (-1, 1)]
    v = [K.fy * y / 2 + K.cy for y in (-0.5, 0.5)]
    assert boxes[0] == [math.ceil(u[0]), math.ceil(v[0]), math.floor(u[1]), math.floor(v[1])]
    assert boxes[1][2] < boxes[1][0]
    # The crossing triangle, a floor from z = 1 up to the camera plane, fills the image's width
    # from the row of z = 1 down.
    assert boxes[2] == [0, math.ceil(K.fy * 0.2 + K.cy), K.width - 1, K.height - 1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_draws_what_the_cpu_draws():
    corners = np.concatenate([random_soup(200, 4), quad((-50, 1.5, -5), (50, 1.5, -5), (50, 1.5, 30),
                                                        (-50, 1.5, 30))])
    vertices = torch.tensor(corners.reshape(-1, 3))
    triangles = torch.arange(len(vertices)).view(-1, 3)
    on_cpu = rasterize_disparity(vertices, triangles, torch.eye(4), K)
    on_gpu = rasterize_disparity(vertices.cuda(), triangles.cuda(), torch.eye(4).cuda(), K)
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-6, atol=0)


def test_metric_scale_recovers_the_length_of_a_scene_unit():
    # Distances that are exactly 2.5 length units per unit of conditioned depth; the sky (0) is
    # left out.
    depth = torch.linspace(1.0, 50.0, 12 * 16, dtype=torch.float32).reshape(12, 16)
    disparity = (1.0 / (2.5 * depth)).numpy()
    disparity[:3] = 0.0
    assert metric_scale(disparity, depth) == pytest.approx(2.5, rel=1e-6)
    # Through the depth stage: a box 4 m away in front of a wall 10 m away, under a sky. The
    # conditioned depth puts the nearest point at 1, so a scene unit is 4 m.
    distances = np.full((40, 60), 10.0, np.float32)
    distances[20:, 20:40] = 4.0
    disparity = 1.0 / distances
    disparity[:8] = 0.0
    conditioned = condition_depth(disparity, (60, 40), metric=True)
    assert metric_scale(disparity, conditioned.depth) == pytest.approx(4.0, rel=1e-3)


def test_metric_scale_refuses_maps_it_cannot_compare():
    depth = torch.ones(8, 8)
    with pytest.raises(CineError, match=r"the distances \(8x6\) and the conditioned depth \(8x8\)"):
        metric_scale(np.ones((8, 6), np.float32), depth)
    with pytest.raises(CineError, match="no pixel sees anything"):
        metric_scale(np.zeros((8, 8), np.float32), depth)
