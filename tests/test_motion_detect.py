"""Automatic motion: the weight-free detector on a synthetic landscape, the guessed arrows, and the
CLI on a photo alone (a clip in which the ground never changes)."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

from cine_core.io.annotations import HintArrow
from cine_core.motion.directions import parse_direction
from cine_core.motion.detect import KINDS, auto_annotation, detect_motion
from conftest import run_cli

WIDTH, HEIGHT = 480, 270
HORIZON, SHORE = 110, 190  # sky above HORIZON, water down to SHORE, ground below
BLADES = [(60, 150), (140, 120), (300, 170), (410, 135)]  # (x at the shore, top row of the blade)


def landscape() -> np.ndarray:
    """(H, W, 3) uint8 RGB: blue sky with soft white clouds, a rippled bluish lake, textured
    green-brown ground, and thin dark grass blades standing in the water."""
    rng = np.random.default_rng(1)
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None, None] / HEIGHT
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    sky = np.array([0.35, 0.55, 0.9]) * (1 - rows) + np.array([0.7, 0.8, 0.95]) * rows
    clouds = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 9)
    clouds = np.clip((clouds - clouds.mean()) * 25, 0, 1)[..., None]
    image[:] = sky * (1 - 0.8 * clouds) + 0.95 * 0.8 * clouds
    ys = np.arange(HEIGHT)[:, None]
    xs = np.arange(WIDTH)[None, :]
    ripples = 0.05 * np.sin(ys * 1.3 + 0.4 * np.sin(xs / 23.0)) * (ys - HORIZON) / (SHORE - HORIZON)
    water = np.array([0.3, 0.45, 0.65])[None, None] + ripples[..., None]
    image[HORIZON:SHORE] = water[HORIZON:SHORE]
    noise = rng.random((HEIGHT - SHORE, WIDTH, 1)).astype(np.float32)
    image[SHORE:] = np.array([0.35, 0.45, 0.15]) * (0.5 + noise) + 0.1 * rng.random((HEIGHT - SHORE, WIDTH, 3))
    for x, top in BLADES:
        cv2.line(image, (x, SHORE + 5), (x + 8, top), (0.08, 0.1, 0.05), 2)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def blade_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for x, top in BLADES:
        cv2.line(mask, (x, SHORE + 5), (x + 8, top), 1, 2)
    return mask > 0


def _rgb_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)


@pytest.fixture(scope="module")
def found():
    return detect_motion(_rgb_tensor(landscape()))


def test_finds_sky_and_water_but_not_ground_or_blades(found):
    kinds = found.kinds
    sky, water = list(KINDS).index("sky") + 1, list(KINDS).index("sea") + 1
    blades = blade_mask()
    sky_band = np.zeros_like(blades)
    sky_band[5:HORIZON - 5] = True
    water_band = np.zeros_like(blades)
    water_band[HORIZON + 5:SHORE - 5] = True
    assert (kinds[sky_band] == sky).mean() > 0.9
    assert (kinds[water_band & ~blades] == water).mean() > 0.8
    assert not found.mask[SHORE + 3:].any(), "the ground must never move"
    assert not found.mask[blades].any(), "the blades crossing the water must never move"
    assert found.horizon is not None and abs(found.horizon - HORIZON) < 8


def test_guessed_arrows_clouds_sideways_water_towards_the_camera(found):
    auto = auto_annotation(found)
    assert auto.summary.startswith("sky ") and "drifting left" in auto.summary
    assert "sea" in auto.summary and "towards the camera" in auto.summary
    assert auto.guessed[found.mask].all() and not auto.guessed[~found.mask].any()
    for arrow in auto.annotation.hints:
        dx, dy = np.subtract(arrow.end, arrow.start)
        if arrow.start[1] < HORIZON:
            assert dx < 0 and dy == 0
        else:
            assert dy > 0 and dx == 0
    # Perspective: water arrows are longer nearer the camera (lower in the image).
    water = sorted((a.start[1], a.end[1] - a.start[1]) for a in auto.annotation.hints if a.start[1] > HORIZON)
    assert water[-1][1] > water[0][1]


def test_user_arrows_and_words_steer_the_guess(found):
    mine = HintArrow((240.0, 150.0), (200.0, 150.0))  # starts in the water, points left
    elsewhere = HintArrow((240.0, 240.0), (240.0, 200.0))  # starts on the ground
    auto = auto_annotation(found, [mine, elsewhere], parse_direction("slowly up"))
    water_arrows = [a for a in auto.annotation.hints if HORIZON < a.start[1] < SHORE]
    assert water_arrows == [mine], "an arrow replaces the guess in its region"
    sky_arrows = [a for a in auto.annotation.hints if a.start[1] < HORIZON]
    assert sky_arrows and all(a.end[1] < a.start[1] and a.end[0] == a.start[0] for a in sky_arrows)
    assert not auto.guessed.any(), "words and arrows are not guesses"
    # The arrow outside every region moves its own neighbourhood, as hints without a mask do.
    assert auto.annotation.regions[240, 240] > 0 and elsewhere in auto.annotation.hints
    assert "your arrows" in auto.summary


def test_nothing_found_on_a_close_up_of_texture():
    rng = np.random.default_rng(0)
    foliage = (rng.random((HEIGHT, WIDTH, 3)) * np.array([0.3, 0.7, 0.2])).astype(np.float32)
    found = detect_motion(torch.from_numpy(foliage).permute(2, 0, 1))
    assert not found.mask.any()
    auto = auto_annotation(found)
    assert auto.summary == "" and auto.annotation.mask is None and not auto.annotation.hints


def _frames(folder: str) -> list[np.ndarray]:
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    return [cv2.imread(os.path.join(folder, n)).astype(np.int16) for n in names]


def test_cli_photo_alone_animates_sky_and_water_and_keeps_the_ground(tmp_path):
    photo = str(tmp_path / "landscape.png")
    cv2.imwrite(photo, landscape()[:, :, ::-1])
    out = str(tmp_path / "frames")
    result = run_cli("render", photo, "--out", out, "--camera", "static", "--frames", "16", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "auto motion: sky" in result.stderr and "towards the camera" in result.stderr
    assert "flow: weight-free detection + hint interpolation" in result.stdout.splitlines()[-1]
    frames = _frames(out)
    assert len(frames) == 16
    change = np.abs(frames[8] - frames[0]).max(axis=2)
    assert change[:HORIZON].mean() > 0.5 and change[HORIZON + 5:SHORE - 5].mean() > 0.5
    ground = np.zeros(change.shape, bool)
    ground[SHORE + 3:] = True
    ground |= cv2.dilate(blade_mask().astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ground[SHORE - 5:SHORE + 3] = False  # the shore line itself: water meets ground there
    assert max(int(np.abs(f - frames[0]).max(axis=2)[ground].max()) for f in frames) <= 8


def test_cli_still_when_nothing_is_found_or_auto_motion_is_off(tmp_path):
    photo = str(tmp_path / "foliage.png")
    rng = np.random.default_rng(0)
    cv2.imwrite(photo, (rng.random((64, 96, 3)) * np.array([40, 180, 80])).astype(np.uint8))
    out = str(tmp_path / "frames")
    result = run_cli("render", photo, "--out", out, "--camera", "static", "--frames", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("note: auto motion found")]
    assert len(warnings) == 1 and "flow: none (still)" in result.stdout
    frames = _frames(out)
    assert all(np.array_equal(f, frames[0]) for f in frames)
    landscape_photo = str(tmp_path / "landscape.png")
    cv2.imwrite(landscape_photo, landscape()[:, :, ::-1])
    result = run_cli("render", landscape_photo, "--out", str(tmp_path / "still"), "--camera", "static",
                     "--frames", "3", "--no-auto-motion", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "auto motion" not in result.stderr and "flow: none (still)" in result.stdout


SEA_TOP, COAST = 120, 180  # a photo of sky above SEA_TOP, calm sea down to COAST, a dune below


def sea_under_sky() -> np.ndarray:
    """(H, W, 3) float RGB: a pale sky, a calm blue sea under a soft horizon, a textured dune."""
    rng = np.random.default_rng(4)
    height = 300
    rows = np.arange(height, dtype=np.float32)[:, None, None] / SEA_TOP
    image = np.zeros((height, WIDTH, 3), np.float32)
    image[:] = np.array([0.45, 0.65, 0.9]) * (1 - 0.3 * rows) + np.array([0.75, 0.85, 0.95]) * 0.3 * rows
    image[SEA_TOP:] = np.array([0.1, 0.45, 0.75]) + 0.01 * rng.standard_normal((height - SEA_TOP, WIDTH, 1))
    image = cv2.GaussianBlur(image, (0, 0), 4.0)  # a soft horizon, the foreground in focus
    noise = cv2.GaussianBlur(rng.random((height - COAST, WIDTH)).astype(np.float32), (0, 0), 1.0)[..., None]
    image[COAST:] = np.array([0.55, 0.5, 0.15]) * (0.6 + 0.8 * noise)
    return np.clip(image, 0, 1).astype(np.float32)


def test_sea_is_split_from_the_sky_at_the_horizon_and_comes_towards_the_camera():
    from cine_core.motion.detect import _split_at_horizon

    image = sea_under_sky()
    # The sky grown over the calm sea, as it grows over a soft horizon: the split finds the line.
    joined = np.zeros(image.shape[:2], bool)
    joined[:COAST] = True
    sky, sea = _split_at_horizon(image, joined)
    assert abs(int(np.argmax(sea.any(axis=1))) - SEA_TOP) <= 6
    assert sea[SEA_TOP + 8:COAST].all() and not sky[SEA_TOP + 8:].any() and sky[:SEA_TOP - 8].all()
    # The whole detector: sky above, sea below, the dune still; the sea's arrows come down the image.
    found = detect_motion(torch.from_numpy(image.transpose(2, 0, 1).copy()))
    assert (found.kinds[SEA_TOP + 10:COAST - 10] == 2).mean() > 0.95
    assert (found.kinds[10:SEA_TOP - 10] == 1).mean() > 0.95 and not found.kinds[COAST + 10:].any()
    auto = auto_annotation(found)
    sea_arrows = [h for h in auto.annotation.hints if found.kinds[int(h.start[1]), int(h.start[0])] == 2]
    assert sea_arrows and all(h.end[1] > h.start[1] and abs(h.end[0] - h.start[0]) < 1e-6 for h in sea_arrows)
    assert "sea" in auto.summary and "towards the camera" in auto.summary


def test_a_sky_without_horizon_is_not_split():
    from cine_core.motion.detect import _split_at_horizon

    rows = np.linspace(0.0, 1.0, 200, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(np.array([0.4, 0.6, 0.9]) * (1 - 0.4 * rows) + 0.4 * rows * 0.95,
                            (200, 300, 3)).astype(np.float32)
    sky = np.ones((200, 300), bool)
    split_sky, sea = _split_at_horizon(image, sky)
    assert split_sky.all() and not sea.any()


def storm_over(ground: str) -> np.ndarray:
    """(270, 480, 3) float32 RGB: a grey storm sky with soft clouds above row 150, and below it
    calm water mirroring it (``"lake"``: a little darker at the horizon, darker towards the
    camera, with the clouds' reflection), a dark field lit by it (``"field"``: albedo-dark, faint
    grain) or that field grey and streaked sideways (``"streaked field"``: seen from a moving car)."""
    height, width, horizon = 270, 480, 150
    rng = np.random.default_rng(3)
    rows = np.arange(height, dtype=np.float32)[:, None, None] / height
    clouds = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 12)
    clouds = np.clip((clouds - clouds.mean()) * 20, -1, 1)[..., None]
    image = np.array([0.30, 0.33, 0.38]) * (1 - rows) + np.array([0.55, 0.57, 0.6]) * rows + 0.12 * clouds
    near = (rows[horizon:] * height - horizon) / (height - horizon)  # 0 at the horizon, 1 at the bottom
    if ground == "lake":
        image[horizon:] = np.array([0.37, 0.40, 0.46]) * (1 - 0.35 * near) + 0.1 * clouds[::-1][horizon:] * (1 - near)
    elif ground == "field":
        grain = cv2.GaussianBlur(rng.random((height - horizon, width)).astype(np.float32), (0, 0), 1.5)[..., None]
        image[horizon:] = np.array([0.24, 0.23, 0.16]) * (1 + 0.2 * near) + 0.03 * (grain - 0.5)
    else:  # the field seen from a moving car: grey in the storm's cold light, streaked sideways
        grain = cv2.GaussianBlur(rng.random((height - horizon, width)).astype(np.float32), (0, 0), sigmaX=25, sigmaY=1.5)[..., None]
        image[horizon:] = np.array([0.16, 0.18, 0.2]) * (1 + 0.2 * near) + 0.4 * (grain - 0.5)
    return np.clip(cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.8), 0, 1)


@pytest.mark.parametrize("ground", ["lake", "field", "streaked field"])
def test_under_a_storm_sky_calm_water_moves_and_a_dark_field_does_not(ground):
    # The lake and the field are as smooth as each other; only water mirrors the sky (nearly its
    # brightness at the horizon). The streaked field's texture runs sideways like waves', but it
    # is grey, not blue.
    found = detect_motion(torch.from_numpy(storm_over(ground).transpose(2, 0, 1).copy()))
    assert (found.kinds[:140] == 1).mean() > 0.95
    as_water = (found.kinds[155:] == 2).mean()
    assert as_water > 0.95 if ground == "lake" else (found.kinds[155:] == 0).all()
