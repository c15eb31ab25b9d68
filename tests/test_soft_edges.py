"""Soft layer edges: an anti-aliased horizon keeps its anti-aliasing under parallax.

The photo: flat ground below a sky that moves, the horizon tilted 1.5 degrees and anti-aliased
(each pixel mixes the two colours by the ground's exact share of it). Cut into layers, the
mixed pixels used to go whole to one side and, under parallax, the sawtooth of the
anti-aliasing became stairs every 38 pixels.
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT  # noqa: F401  (puts the project on the path)

from cine_core.cameras.paths import Camera
from cine_core.layers.soft_edges import edge_matte
from cine_core.motion.animation import animate_points
from cine_core.pipeline.run import PrepareOptions, SceneInputs, make_renderer, prepare_scene
from cine_core.rendering.surface_mesh import surface_vertices

WIDTH, HEIGHT, HORIZON, TILT = 192, 96, 40.0, math.radians(1.5)
SKY, GROUND = np.array([0.62, 0.68, 0.78]), np.array([0.18, 0.26, 0.12])


def ground_share(shift: float = 0.0, supersample: int = 16) -> np.ndarray:
    """(H, W) the ground's exact share of each pixel, the horizon moved down by ``shift`` px."""
    steps = (np.arange(supersample) + 0.5) / supersample
    ys = (np.arange(HEIGHT)[:, None] + steps[None]).reshape(-1)[:, None]
    xs = (np.arange(WIDTH)[:, None] + steps[None]).reshape(-1)[None]
    ground = ys > HORIZON + shift + math.tan(TILT) * (xs - WIDTH / 2)
    return ground.reshape(HEIGHT, supersample, WIDTH, supersample).mean((1, 3))


@pytest.fixture(scope="module", params=["moving sky", "still sky"])
def horizon_scene(request, tmp_path_factory):
    """The horizon before a sky that moves, and before a still one (a pond in the ground's
    corner moves instead): the still ground's edge is laid over moving points in the first, over
    still ones in the second."""
    folder = str(tmp_path_factory.mktemp("horizon"))
    share = ground_share()[..., None]
    photo = share * GROUND + (1 - share) * SKY
    cv2.imwrite(os.path.join(folder, "image.png"), (photo[..., ::-1] * 255).round().astype(np.uint8))
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None].repeat(WIDTH, 1)
    disparity = np.where(share[..., 0] >= 0.5, 0.2 + 0.2 * np.clip(rows - HORIZON, 0, None) / (HEIGHT - HORIZON),
                         0.02).astype(np.float32)
    np.save(os.path.join(folder, "depth.npy"), disparity)
    if request.param == "moving sky":  # to the last of its pixels (mask.png: the sky's pixels)
        moving = share[..., 0] < 0.5
    else:
        moving = np.zeros((HEIGHT, WIDTH), bool)
        moving[HEIGHT - 20:, WIDTH - 40:] = True
    cv2.imwrite(os.path.join(folder, "mask.png"), (moving * 255).astype(np.uint8))
    scene = prepare_scene(SceneInputs.find(folder), PrepareOptions(backend="classical", direction="left to right"))
    return scene


def test_the_matte_measures_the_share_of_the_ground(horizon_scene):
    scene = horizon_scene
    matte = edge_matte(scene.layered, scene.photo)
    soft = matte.far_side | (matte.near_side & (matte.coverage < 1))
    assert int(soft.sum()) > WIDTH // 2  # the horizon's mixed pixels, along its whole length
    truth = torch.from_numpy(ground_share()).float()
    assert float((matte.coverage[soft] - truth[soft]).abs().max()) < 0.1


def test_the_source_camera_still_shows_the_photo(horizon_scene):
    renderer = make_renderer(horizon_scene, 6, "classical")
    assert renderer.cloud.soft_edges is not None
    image = renderer.render(0, Camera.source(horizon_scene.intrinsics))
    assert float((image - horizon_scene.photo).abs().max()) < 0.5 / 255


def rendered_ground_share(image: torch.Tensor) -> np.ndarray:
    """(H, W) where each pixel lies between the sky's and the ground's colours."""
    sky, ground = torch.tensor(SKY).float()[:, None, None], torch.tensor(GROUND).float()[:, None, None]
    return (((sky - image) * (sky - ground)).sum(0) / ((sky - ground) ** 2).sum()).numpy()


def test_the_horizon_moves_with_its_anti_aliasing(horizon_scene):
    """The camera rises until the ground's edge has moved half a pixel down: every pixel of
    the edge shows the ground's share of it there, with no stairs where the cut steps a row."""
    scene = horizon_scene
    renderer = make_renderer(scene, 6, "classical")
    intrinsics = scene.intrinsics
    edge_depth = float(scene.depth[int(HORIZON), WIDTH // 2])  # the ground's top row
    pose = torch.eye(4)
    pose[1, 3] = -0.5 * edge_depth / intrinsics.fy
    image = renderer.render(0, Camera(intrinsics, pose))
    found = rendered_ground_share(image)
    # Resampled from the photo's pixels, the best a renderer can show is the share image moved
    # half a pixel: the mean of each pixel's share and that of the pixel above.
    share = ground_share()
    expected = (share + np.concatenate([share[:1], share[:-1]])) / 2.0
    edge = (expected > 0.02) & (expected < 0.98)
    edge[:, :8] = edge[:, -8:] = False  # the frame's borders
    error = np.abs(found - expected)[edge]
    # 4681a69, which cut the mixed pixels whole: mean 0.060 and max 0.25 before the moving sky,
    # 0.23 and 0.50 before the still one; with soft edges 0.011 and 0.047 before either.
    assert error.mean() < 0.03 and error.max() < 0.12, (error.mean(), error.max())


def test_surface_meshes_keep_the_photo_colours(horizon_scene):
    """A mesh covers whole: it leaves the added edge points out of its triangles and draws the
    photo's own mixed colours."""
    scene = horizon_scene
    cloud = animate_points(scene, 4)
    soft = cloud.soft_edges
    assert soft is not None and soft.changed.numel() > 0
    vertices = surface_vertices(scene, cloud)
    colours = torch.from_numpy(vertices.colors[:cloud.depth.shape[0]])
    pixel = cloud.rest_uv[soft.changed].round().long()
    photo = scene.photo[:, pixel[:, 1], pixel[:, 0]].T
    assert torch.allclose(colours[soft.changed], photo, atol=1e-6)
    assert not torch.allclose(cloud.values[soft.changed, :3], photo, atol=1e-3)
