"""Still structure inside a moving region stays still: a rock in white water, a wire across
smoke; the switch that keeps a region exactly as drawn; the motion network's region."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from cine_core.io.annotations import MotionAnnotation
from cine_core.io.images import to_uint8_image
from cine_core.motion.fluidity import refine_regions, still_structure
from cine_core.pipeline import run
from cine_core.pipeline.backend import NeuralBackend
from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene, render_frames, with_motion
from cine_core.cameras.paths import camera_path

WIDTH, HEIGHT = 200, 150
ROCK = (100, 75, 14)  # centre x, y and radius of the rock in the water
REGION = (slice(20, 130), slice(40, 160))  # rows, columns of the drawn region


def _rgb(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), np.float32))


def rapids() -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) float RGB: white, streaked water between dark textured rock banks, with a dark
    textured rock standing in it; and the loosely drawn (H, W) bool region holding the rock."""
    rng = np.random.default_rng(3)
    rock = 0.2 + 0.25 * cv2.GaussianBlur(rng.random((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 0.7)
    rock = np.repeat(rock[..., None], 3, axis=2) * np.array([1.0, 0.95, 0.85], np.float32)
    streaks = 0.08 * np.sin(np.arange(WIDTH, dtype=np.float32) * 1.7)[None, :] + 0.04 * rng.random((HEIGHT, WIDTH))
    water = np.repeat((0.82 + streaks)[..., None], 3, axis=2).astype(np.float32)
    image = rock.copy()
    image[15:135, 35:165] = water[15:135, 35:165]
    x, y, r = ROCK
    boulder = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(boulder, (x, y), r, 1, -1)
    image[boulder > 0] = rock[boulder > 0]
    region = np.zeros((HEIGHT, WIDTH), bool)
    region[REGION] = True
    return np.clip(image, 0, 1), region


def smoke_with_wire() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) smooth grey smoke with a thin dark wire crossing it diagonally, the (H, W)
    bool region (all smoke) and the (H, W) bool wire."""
    rows = np.linspace(0.55, 0.75, HEIGHT, dtype=np.float32)[:, None]
    image = np.repeat((rows + 0.0 * np.zeros((1, WIDTH), np.float32))[..., None], 3, axis=2)
    wire = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.line(wire, (10, 30), (190, 120), 1, 2)
    image[wire > 0] = 0.15
    region = np.zeros((HEIGHT, WIDTH), bool)
    region[5:145, 5:195] = True
    # Ground below the smoke, so the region has surroundings.
    image[146:] = 0.3
    return image, region, wire > 0


def test_a_rock_inside_the_region_is_found_and_the_water_around_it_is_not():
    image, region = rapids()
    still = still_structure(_rgb(image), region.astype(np.int32))
    x, y, r = ROCK
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    boulder = (xx - x) ** 2 + (yy - y) ** 2 <= (r - 3) ** 2
    water = region & ((xx - x) ** 2 + (yy - y) ** 2 >= (r + 10) ** 2)
    assert still[boulder].mean() > 0.9
    assert still[water].mean() < 0.05
    assert not still[~region].any()  # only region pixels can be still structure


def _prepare(tmp_path, image: np.ndarray, region: np.ndarray, direction: str, **options):
    photo_path, mask_path = str(tmp_path / "image.png"), str(tmp_path / "mask.png")
    cv2.imwrite(photo_path, cv2.cvtColor(to_uint8_image(_rgb(image)), cv2.COLOR_RGB2BGR))
    cv2.imwrite(mask_path, region.astype(np.uint8) * 255)
    inputs = SceneInputs(photo=photo_path, mask=mask_path)
    return prepare_scene(inputs, PrepareOptions(direction=direction, backend="classical", **options))


def test_a_rock_inside_the_region_stays_put_and_the_switch_moves_it(tmp_path):
    image, region = rapids()
    scene = _prepare(tmp_path, image, region, "downwards")
    x, y, _ = ROCK
    speed = scene.flow.norm(dim=0)
    assert float(speed[y, x]) == 0.0 and int(scene.regions[y, x]) == 0
    assert float(speed[y, 60]) > 0.5 * float(speed.max())  # the water beside it moves
    # The velocity falls smoothly towards the rock, as towards the border: no step between pixels.
    row = speed[y, 45:x].numpy()
    assert np.abs(np.diff(row)).max() < 0.25 * float(speed.max())
    exact = _prepare(tmp_path, image, region, "downwards", exact_region=True)
    assert float(exact.flow.norm(dim=0)[y, x]) > 0.5 * float(speed.max())
    assert torch.equal(exact.regions > 0, torch.from_numpy(region))


def test_a_thin_wire_across_smoke_stays_straight(tmp_path):
    image, region, wire = smoke_with_wire()
    scene = _prepare(tmp_path, image, region, "upwards")
    on_wire = torch.from_numpy(wire)
    assert float(scene.flow.norm(dim=0)[on_wire].max()) == 0.0
    assert float(scene.flow[1, 20, 150]) < -0.9 * float(scene.flow.norm(dim=0).max())  # smoke away from it rises
    frames = list(render_frames(scene, camera_path("static", scene.intrinsics, 8), backend="classical"))
    photo = to_uint8_image(scene.photo).astype(np.int16)
    middle = frames[4].astype(np.int16)
    # The wire's pixels keep their dark value mid-loop (they neither bend nor double).
    core = cv2.erode(wire.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    assert np.abs(middle[core] - photo[core]).max() <= 12


def test_the_flow_stage_refines_and_keeps_the_drawn_region_on_request():
    image, region = rapids()
    rgb = _rgb(image)
    annotation = MotionAnnotation((WIDTH, HEIGHT), region, [])
    x, y, _ = ROCK
    refined = refine_regions(rgb, region.astype(np.int32))
    assert refined[y, x] == 0 and refined[y, 60] == 1
    flow, regions, _, held = run._motion_stage(annotation, rgb, NeuralBackend("classical"), "downwards", 1.0)
    assert torch.equal(regions, torch.from_numpy(refined))
    assert held == pytest.approx(1 - (refined > 0).sum() / region.sum()) and 0.005 < held < 0.2
    _, kept, _, _ = run._motion_stage(annotation, rgb, NeuralBackend("classical"), "downwards", 1.0,
                                   exact_region=True)
    assert torch.equal(kept > 0, torch.from_numpy(region))


@pytest.mark.parametrize("exact", [False, True])
def test_with_motion_passes_the_switch(tmp_path, exact):
    image, region = rapids()
    scene = _prepare(tmp_path, image, region, "downwards")
    annotation = MotionAnnotation((WIDTH, HEIGHT), region, [])
    moved = with_motion(scene, annotation, direction="downwards", backend="classical", exact_region=exact)
    x, y, _ = ROCK
    assert (float(moved.flow.norm(dim=0)[y, x]) > 0) == exact
