"""Fast checks of the benchmark's and the evaluation's own code (metrics, baselines, helpers) on
tiny synthetic inputs with known answers; the scripts themselves (``python -m bench.run``,
``python -m eval.run``) are not part of the test run."""
from __future__ import annotations

import math
import os
import sys

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.run import fit_cost, linear_fit, run_pipeline, subsample_cloud  # noqa: E402
from eval.baselines import still_frames, warp_frames  # noqa: E402
from eval.metrics import SSIM_C1, flicker, loop_seam, mean_abs_change, psnr, ssim, ssim_map  # noqa: E402


def smooth_image(height: int = 32, width: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((height // 4, width // 4, 3)).astype(np.float32)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------- PSNR / SSIM

def test_psnr_identical_is_infinite_and_known_offsets():
    image = smooth_image()
    assert psnr(image, image) == math.inf
    a = torch.full((3, 8, 8), 0.5)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 (float32 inputs)
    b = np.full((8, 8, 3), 100, np.uint8)
    c = np.full((8, 8, 3), 110, np.uint8)
    assert psnr(b, c) == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)


def test_psnr_inside_mask_ignores_the_outside():
    image = smooth_image()
    other = image.copy()
    mask = np.zeros(image.shape[:2], bool)
    mask[8:20, 10:30] = True
    other[~mask] = 0
    assert psnr(image, other, mask) == math.inf
    assert psnr(image, other) < 20
    assert math.isnan(psnr(image, other, np.zeros_like(mask)))


def test_ssim_identical_is_one_and_constant_images_have_closed_form():
    image = smooth_image()
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    a, b = torch.full((3, 16, 16), 0.2), torch.full((3, 16, 16), 0.4)
    # no variance: SSIM reduces to the luminance term (2ab + C1) / (a^2 + b^2 + C1)
    expected = (2 * 0.2 * 0.4 + SSIM_C1) / (0.2 ** 2 + 0.4 ** 2 + SSIM_C1)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-5)


def test_ssim_matches_kornia_and_drops_with_noise():
    kornia = pytest.importorskip("kornia")
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 24, 40, generator=generator)
    noisy = (a + 0.1 * torch.randn(a.shape, generator=generator)).clamp(0, 1)
    reference = kornia.metrics.ssim(a[None], noisy[None], 11)[0].mean(0)
    assert torch.allclose(ssim_map(a, noisy), reference, atol=1e-5)
    assert ssim(a, noisy) == pytest.approx(ssim(noisy, a), abs=1e-6)
    assert ssim(a, noisy) < ssim(a, (a + 0.02 * torch.randn(a.shape, generator=generator)).clamp(0, 1))
    mask = np.zeros((24, 40), bool)
    mask[:, :20] = True
    assert ssim(a, noisy, mask) == pytest.approx(float(ssim_map(a, noisy)[:, :20].double().mean()), abs=1e-9)


def test_ssim_map_on_images_smaller_than_the_window():
    image = torch.rand(3, 4, 5)
    assert ssim_map(image, image).shape == (4, 5)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------- temporal metrics

def test_flicker_counts_only_the_static_region():
    frames = [np.zeros((6, 8, 3), np.uint8) for _ in range(4)]
    static = np.ones((6, 8), bool)
    static[:, :4] = False
    for index, frame in enumerate(frames):
        frame[:, :4] = 50 * index  # the moving half changes a lot
        frame[0, 4:] = 8 * (index % 2)  # one row of the static half blinks by 8 levels
    # |diff| = 8 on 4 of 24 static pixels every step: 8 * 4 / 24
    assert flicker(frames, static) == pytest.approx(8 * 4 / 24)
    assert flicker(still_frames(frames[0], 5), static) == 0.0


def test_loop_seam_of_a_ramp():
    frames = [np.full((4, 4, 3), 2 * m, np.uint8) for m in range(10)]
    seam = loop_seam(frames)
    assert seam["step"] == pytest.approx(2.0)
    assert seam["wrap"] == pytest.approx(18.0)
    assert seam["ratio"] == pytest.approx(9.0)
    assert mean_abs_change(frames[0], frames[3]) == pytest.approx(6.0)
    assert loop_seam(still_frames(frames[0], 3))["ratio"] == 1.0


# ---------------------------------------------------------------------------- 2-D warp baseline

@pytest.mark.parametrize("mode", ["forward", "inverse"])
def test_warp_of_a_constant_flow_shifts_the_photo(mode):
    image = smooth_image(16, 24)
    photo = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
    flow = torch.zeros(2, 16, 24)
    flow[0] = 1.0  # one pixel per frame to the right, everywhere
    frames = list(warp_frames(photo, flow, 5, mode=mode))
    assert len(frames) == 5
    assert np.array_equal(frames[0], image)
    for m, frame in enumerate(frames):
        assert np.array_equal(frame[:, m:], image[:, :24 - m]), m  # content moved m pixels right
        assert np.array_equal(frame[:, :m], np.repeat(image[:, :1], m, axis=1))  # border repeats


def test_warp_keeps_pixels_without_flow():
    image = smooth_image(16, 24)
    photo = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
    flow = torch.zeros(2, 16, 24)
    flow[1, 4:10, 6:12] = 0.5
    for frame in warp_frames(photo, flow, 4):
        assert np.array_equal(frame[flow.abs().sum(0).numpy() == 0], image[flow.abs().sum(0).numpy() == 0])


# ---------------------------------------------------------------------------- benchmark helpers

def test_linear_fit_and_cost_fit():
    assert linear_fit([0, 1, 2], [1, 3, 5]) == pytest.approx((1.0, 2.0))
    fit = fit_cost([{"points": 1e6, "frame_s": 0.3}, {"points": 2e6, "frame_s": 0.5}],
                   [{"megapixels": 1.0, "frame_s": 0.2}, {"megapixels": 2.0, "frame_s": 0.3}])
    assert fit["ms_per_million_points"] == pytest.approx(200.0)
    assert fit["ms_fixed_output"] == pytest.approx(100.0)
    assert fit["ms_per_output_megapixel"] == pytest.approx(100.0)


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    """A 48x32 photo with a mask (no hints, no depth file: classical depth, worded direction)."""
    folder = tmp_path_factory.mktemp("scene")
    image = smooth_image(32, 48, seed=1)
    cv2.imwrite(str(folder / "image.png"), image[:, :, ::-1])
    mask = np.zeros((32, 48), np.uint8)
    mask[4:28, 18:30] = 255
    cv2.imwrite(str(folder / "mask.png"), mask)
    return folder, image


def test_subsample_cloud_keeps_moving_points_consistent(tiny_scene):
    from bench.run import prepare_timed, scene_inputs
    from cine_core.animation import animate_points

    folder, _ = tiny_scene
    inputs, _ = scene_inputs(str(folder), 48, str(folder))
    timings: dict = {}
    scene = prepare_timed(inputs, 48, "downwards", timings, {})
    assert {"load_s", "depth_s", "layers_s", "flow_s"} <= set(timings)
    cloud = animate_points(scene, 4)
    half = subsample_cloud(cloud, 0.5)
    assert half.depth.shape[0] == round(cloud.depth.shape[0] * 0.5)
    assert half.forward.shape[1] == half.moving.numel() <= cloud.moving.numel()
    assert int(half.moving.max()) < half.depth.shape[0]
    # a kept moving point has the same rest position, depth and trajectory as before (layers
    # can share a rest position, so the depth tells them apart)
    point = int(half.moving[0])
    same = (torch.all(cloud.rest_uv[cloud.moving] == half.rest_uv[point], dim=1)
            & (cloud.depth[cloud.moving] == half.depth[point]))
    assert int(same.sum()) == 1
    index = int(torch.nonzero(same)[0, 0])
    assert torch.equal(half.forward[:, 0], cloud.forward[:, index])
    assert subsample_cloud(cloud, 1.0) is cloud


def test_run_pipeline_times_every_stage(tiny_scene, tmp_path):
    folder, _ = tiny_scene
    record = run_pipeline(str(folder), 64, 3, "cpu", direction="downwards", workdir=str(tmp_path))
    assert record["upscaled_from"] == [48, 32] and (record["width"], record["height"]) == (64, 43)
    times = record["times"]
    for key in ("load_s", "depth_s", "layers_s", "flow_s", "integration_s", "upload_s",
                "render_frame_median_s", "encode_s", "clip_s"):
        assert times[key] >= 0, key
    assert len(record["render_frames_s"]) == record["frames"] == 3
    assert record["memory"]["peak_rss_mb"] >= record["memory"]["baseline_rss_mb"] > 0


def test_evaluate_scene_on_a_still_video(tiny_scene, tmp_path):
    """A 'real' video that is the photo repeated: the still baseline is (codec-)perfect, our frame
    0 reproduces the photo, and the report has every metric."""
    import shutil

    from cine_core.video_io import write_video
    from eval.run import evaluate_scene

    folder, image = tiny_scene
    scene = tmp_path / "still"
    shutil.copytree(folder, scene)
    write_video([image] * 6, str(scene / "gt.mp4"), 30.0)
    record = evaluate_scene(str(scene), direction="downwards", out_dir=str(tmp_path / "out"))
    assert record["frames"] == 6
    assert record["reprojection"]["max_abs_diff"] <= 1
    still = record["methods"]["still"]
    assert still["psnr"] == pytest.approx(record["real_frame0_vs_photo_psnr"], abs=3.0)
    assert still["flicker"] == 0.0 and still["seam"] == 0.0 and still["closure"] == 0.0
    assert record["methods"]["ours"]["closure"] <= 1.0  # t = 1 shows what t = 0 showed
    for method in ("ours", "warp2d"):
        assert set(record["methods"][method]) >= {"psnr", "psnr_mask", "ssim", "ssim_mask", "flicker",
                                                   "seam", "seam_ratio"}
    assert os.path.isfile(record["side_by_side"]["video"])
