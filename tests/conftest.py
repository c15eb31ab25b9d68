"""Shared fixtures: small real images written to disk, and a helper to run the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def textured_image(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 RGB with detail at every scale (noise + gradients), deterministic."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3))
    coarse = cv2.resize(rng.random((height // 8, width // 8, 3)), (width, height), interpolation=cv2.INTER_CUBIC)
    image = 0.5 * noise + 0.5 * np.clip(coarse, 0, 1)
    return (image * 255).astype(np.uint8)


def write_scene(folder: str, width: int = 96, height: int = 64, *, hints=((20, 40, 50, 40),),
                motion_box=(10, 30, 80, 60)) -> str:
    """A scene folder: image.png, labelme image.json (one motion rectangle + hints), depth.npy."""
    os.makedirs(folder, exist_ok=True)
    cv2.imwrite(os.path.join(folder, "image.png"), textured_image(width, height)[:, :, ::-1])
    x0, y0, x1, y1 = motion_box
    shapes = [{"label": "motion", "shape_type": "polygon",
               "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}]
    for index, (a, b, c, d) in enumerate(hints):
        shapes.append({"label": f"hint{index}", "shape_type": "line", "points": [[a, b], [c, d]]})
    with open(os.path.join(folder, "image.json"), "w") as handle:
        json.dump({"version": "5.0.1", "shapes": shapes, "imagePath": "stale_name.png",
                   "imageData": "not-really-base64", "imageHeight": height, "imageWidth": width}, handle)
    # Disparity: a far band on top, a near band at the bottom (two layers).
    disparity = np.full((height, width), 0.2, np.float32)
    disparity[height // 2:] = 0.9
    np.save(os.path.join(folder, "depth.npy"), disparity)
    return folder


@pytest.fixture
def scene_dir(tmp_path) -> str:
    return write_scene(str(tmp_path / "scene"))


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run([sys.executable, "-m", "cine_core", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)
