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
from eval.contact_sheet import CROP_COVERAGE, contact_sheet, crop_box, sheet_frames  # noqa: E402
from eval.metrics import (SSIM_C1, flicker, flow_agreement, gradient_density, grown_mask,  # noqa: E402
                          largest_change, loop_seam, mean_abs_change, mean_flow, psnr, ssim, ssim_map,
                          strong_gradient_threshold, texture_kept)


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


def test_ssim_drops_with_noise_and_averages_inside_a_mask():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 24, 40, generator=generator)
    noisy = (a + 0.1 * torch.randn(a.shape, generator=generator)).clamp(0, 1)
    assert ssim(a, noisy) == pytest.approx(ssim(noisy, a), abs=1e-6)
    assert ssim(a, noisy) < ssim(a, (a + 0.02 * torch.randn(a.shape, generator=generator)).clamp(0, 1))
    mask = np.zeros((24, 40), bool)
    mask[:, :20] = True
    assert ssim(a, noisy, mask) == pytest.approx(float(ssim_map(a, noisy)[:, :20].double().mean()), abs=1e-6)


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


# ---------------------------------------------------------------------------- texture, flow, still region

def textured_image(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """Random texture with features of a few pixels (what optical flow can lock on to)."""
    rng = np.random.default_rng(seed)
    small = rng.random((height // 3, width // 3, 3)).astype(np.float32)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def test_blurring_lowers_the_strong_gradient_density():
    image = textured_image()
    mask = np.zeros(image.shape[:2], bool)
    mask[16:80, 20:100] = True
    threshold = strong_gradient_threshold(image, mask)
    # the threshold is the photo's 80th percentile: a fifth of the region's pixels exceed it
    assert gradient_density(image, mask, threshold) == pytest.approx(0.2, abs=0.01)
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5)
    assert gradient_density(blurred, mask, threshold) < 0.5 * gradient_density(image, mask, threshold)
    assert texture_kept([image, image], [image], mask, threshold) == pytest.approx(1.0)
    assert texture_kept([blurred], [image], mask, threshold) < 0.5
    # outside the mask nothing counts (but the 3x3 gradient of the mask's edge pixels)
    outside_blurred = np.where(mask[..., None], image, blurred)
    assert texture_kept([outside_blurred], [image], mask, threshold) == pytest.approx(1.0, abs=0.03)


def translated_clip(image: np.ndarray, step: tuple[float, float], count: int) -> list[np.ndarray]:
    """Frames of ``image`` moved by ``step`` (dx, dy) pixels per frame (borders replicated)."""
    frames = []
    for m in range(count):
        shift = np.float32([[1, 0, step[0] * m], [0, 1, step[1] * m]])
        frames.append(cv2.warpAffine(image, shift, image.shape[1::-1], flags=cv2.INTER_CUBIC,
                                     borderMode=cv2.BORDER_REPLICATE))
    return frames


def test_dis_mean_flow_of_a_known_translation():
    image = textured_image(seed=2)
    inner = np.zeros(image.shape[:2], bool)
    inner[24:72, 32:96] = True  # away from the replicated borders
    flow = mean_flow(translated_clip(image, (1.5, -0.5), 5))
    assert flow.shape == (2, 96, 128)
    assert np.median(flow[0][inner]) == pytest.approx(1.5, abs=0.1)
    assert np.median(flow[1][inner]) == pytest.approx(-0.5, abs=0.1)
    same = flow_agreement(flow, mean_flow(translated_clip(image, (1.5, -0.5), 4)), inner)
    assert same["cosine"] == pytest.approx(1.0, abs=0.02)
    assert same["ratio"] == pytest.approx(1.0, abs=0.1)
    # three times as fast in the same direction; then the same speed at a right angle
    faster = flow_agreement(mean_flow(translated_clip(image, (4.5, -1.5), 4)), flow, inner)
    assert faster["cosine"] == pytest.approx(1.0, abs=0.02)
    assert faster["ratio"] == pytest.approx(3.0, rel=0.1)
    across = flow_agreement(mean_flow(translated_clip(image, (0.5, 1.5), 4)), flow, inner)
    assert abs(across["cosine"]) < 0.1
    assert across["ratio"] == pytest.approx(1.0, abs=0.1)


def test_largest_change_outside_the_grown_region():
    photo = np.full((100, 200, 3), 120, np.uint8)
    region = np.zeros((100, 200), bool)
    region[40:60, 90:110] = True
    grown = grown_mask(region)  # 4 % of 200 = 8 pixels
    assert grown[40, 82] and grown[32, 100] and not grown[40, 81] and not grown[31, 100]
    assert not grown[33, 84]  # a disc, not a square: the corner is farther than 8 pixels
    frames = [photo.copy() for _ in range(3)]
    frames[1][50, 100] = 255  # inside the region: moves freely
    frames[1][50, 85] = 0  # 5 pixels from the region: part of the fluid's margin
    assert largest_change(frames, photo, ~grown) == 0
    frames[2][10, 10, 1] = 123  # a still pixel off by 3 levels in one channel
    frames[1][90, 190] = 117
    assert largest_change(frames, photo, ~grown) == 3
    assert largest_change(frames, photo, ~region) == 120
    assert largest_change(frames, photo, np.zeros_like(region)) == 0


def test_contact_sheet_crops_at_full_resolution():
    mask = np.zeros((300, 500), bool)
    mask[:, 300:] = True
    x, y, w, h = crop_box(mask, side=100)
    assert (w, h) == (100, 100) and 0 <= y <= 200
    assert mask[y:y + h, x:x + w].mean() == pytest.approx(CROP_COVERAGE, abs=0.02)
    assert sheet_frames(60) == [0, 20, 30, 40]
    clip = [np.full((300, 500, 3), m, np.uint8) for m in range(60)]
    clip[30][y + 50, x + 50] = 255  # one pixel shows unscaled at its place in the t = 1/2 tile
    sheet = contact_sheet([("ours", clip), ("real", clip)], sheet_frames(60), (x, y, w, h))
    assert sheet.shape == (2 * 100 + 4, 4 * 100 + 3 * 4, 3)
    assert tuple(sheet[50, 2 * 104 + 50]) == (255, 255, 255)
    assert sheet[150, 104 + 90, 0] == 20 and sheet[150, 3 * 104 + 90, 0] == 40


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
    from cine_core.motion.animation import animate_points

    folder, _ = tiny_scene
    inputs, _ = scene_inputs(str(folder), 48, str(folder))
    timings: dict = {}
    scene = prepare_timed(inputs, 48, "downwards", timings, {})
    assert {"load_s", "depth_s", "layers_s", "flow_s"} <= set(timings)
    cloud = animate_points(scene, 4)
    half = subsample_cloud(cloud, 0.5)
    assert half.depth.shape[0] == round(cloud.depth.shape[0] * 0.5)
    assert half.trajectories.num_points == half.moving.numel() <= cloud.moving.numel()
    assert int(half.moving.max()) < half.depth.shape[0]
    # a kept moving point has the same rest position, depth and trajectory as before (layers
    # can share a rest position, so the depth tells them apart)
    point = int(half.moving[0])
    same = (torch.all(cloud.rest_uv[cloud.moving] == half.rest_uv[point], dim=1)
            & (cloud.depth[cloud.moving] == half.depth[point]))
    assert int(same.sum()) == 1
    index = int(torch.nonzero(same)[0, 0])
    for frame in range(5):
        for kept, whole in zip(half.trajectories.displacements(frame), cloud.trajectories.displacements(frame)):
            assert torch.equal(kept[0], whole[index])
    # sampled in batches of other sizes: equal up to the rounding of another code path on some CPUs
    torch.testing.assert_close(half.moving_positions(2)[3][0], cloud.moving_positions(2)[3][index], rtol=1e-6, atol=0)
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

    from cine_core.io.video import write_video
    from eval.run import evaluate_scene

    folder, image = tiny_scene
    scene = tmp_path / "still"
    shutil.copytree(folder, scene)
    write_video([image] * 6, str(scene / "gt.mp4"), 30.0)
    record = evaluate_scene(str(scene), direction="downwards", out_dir=str(tmp_path / "out"),
                            sheets_dir=str(tmp_path / "sheets"))
    assert record["frames"] == 6 and record["real_video"]
    assert record["reprojection"]["max_abs_diff"] <= 1
    still = record["methods"]["still"]
    assert still["psnr"] == pytest.approx(record["real_frame0_vs_photo_psnr"], abs=3.0)
    assert still["flicker"] == 0.0 and still["seam"] == 0.0 and still["closure"] == 0.0
    assert record["methods"]["ours"]["closure"] <= 1.0  # t = 1 shows what t = 0 showed
    for method in ("ours", "warp2d"):
        assert set(record["methods"][method]) >= {"psnr", "psnr_mask", "ssim", "ssim_mask", "flicker",
                                                   "seam", "seam_ratio"}
    assert os.path.isfile(record["side_by_side"]["video"])
    checks = record["checks"]
    # the real video is the still photo: ours can only lose against it, and it does not move
    assert checks["psnr_gain"] <= 0 and checks["ssim_mask_gain"] <= 0
    assert checks["real_speed"] == pytest.approx(0.0, abs=0.05)
    assert 0 < checks["field_speed"] <= 48 / 1280 + 1e-6  # "downwards": 1 px per frame at 1280 wide
    assert checks["texture_reference"] == "real video" and checks["texture_kept"] > 0
    sheet = cv2.imread(record["sheet"])
    assert sheet.shape == (2 * 32 + 4, 4 * 48 + 3 * 4, 3)  # the whole 48x32 frame, ours above real


def test_evaluate_scene_without_a_video(tiny_scene, tmp_path):
    """No gt.mp4: the photo is the reference, the clip has --frames frames, and every check that
    needs no video is there."""
    from eval.run import evaluate_scene, find_scenes

    folder, _ = tiny_scene
    assert find_scenes([str(folder)]) == [str(folder)]
    assert str(folder) in find_scenes([str(folder.parent)])  # one level down
    record = evaluate_scene(str(folder), direction="downwards", frames=6, out_dir=str(tmp_path),
                            sheets_dir=str(tmp_path))
    assert not record["real_video"] and record["frames"] == 6 and "side_by_side" not in record
    assert set(record["methods"]) == {"ours", "warp2d"}
    checks = record["checks"]
    assert checks["texture_reference"] == "photo"
    assert "flow_ratio" not in checks and "psnr_gain" not in checks
    # the region (a 12-pixel-wide band) grown by 4 % of 48 pixels leaves still pixels that stay
    assert checks["still_fraction"] > 0.4 and checks["still_change_max"] <= 2
    assert cv2.imread(record["sheet"]).shape == (32, 4 * 48 + 3 * 4, 3)


def test_readme_animation_is_a_looping_webp(tmp_path):
    from PIL import Image

    from eval.readme_media import write_webp

    frames = [np.roll(textured_image(48, 64), 4 * m, axis=1) for m in range(5)]
    out = str(tmp_path / "loop.webp")
    write_webp(frames, out, 25.0)
    with Image.open(out) as animation:
        assert animation.format == "WEBP" and animation.n_frames == 5 and animation.size == (64, 48)
        assert animation.info["loop"] == 0  # loops forever
        animation.seek(3)
        decoded = np.asarray(animation.convert("RGB")).astype(int)
    assert np.abs(decoded - frames[3]).mean() < 25  # lossy (4:2:0 chroma of a noise texture)
    assert np.abs(decoded - frames[0]).mean() > 2 * np.abs(decoded - frames[3]).mean()
    assert os.listdir(tmp_path) == ["loop.webp"]
