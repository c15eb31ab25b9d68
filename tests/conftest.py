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


def shaken_clip_frames(width: int, height: int, frames: int, velocity: tuple[float, float],
                       region: tuple[int, int, int, int], *, shake_px: float = 3.0, shake_deg: float = 0.25,
                       seed: int = 0, scene: np.ndarray | None = None, fluid: np.ndarray | None = None):
    """Frames (H, W, 3) uint8 RGB of a handheld clip with a known motion, and the still photo.

    A textured scene whose ``region`` (x0, y0, x1, y1 in frame-0 pixels) shows a second texture
    sliding by ``velocity`` (x, y) pixels per frame, filmed by a shaking camera: each frame
    after the first is shifted by up to ``shake_px`` and turned by up to ``shake_deg`` degrees
    (random, independently per frame). Frame 0 is unshaken; it is also returned as the photo.
    ``scene`` and ``fluid`` (RGB pictures) replace the generated textures (resized to fit).
    """
    rng = np.random.default_rng(seed)
    margin = int(4 * shake_px) + 8
    canvas_size = (width + 2 * margin, height + 2 * margin)
    scene = textured_image(*canvas_size, seed + 1) if scene is None else cv2.resize(scene, canvas_size)
    fluid = textured_image(*canvas_size, seed + 2) if fluid is None else cv2.resize(fluid, canvas_size)
    x0, y0, x1, y1 = (v + margin for v in region)
    clip = []
    for index in range(frames):
        vx, vy = velocity[0] * index, velocity[1] * index
        moved = cv2.warpAffine(fluid, np.float32([[1, 0, vx], [0, 1, vy]]), fluid.shape[1::-1],
                               flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        canvas = scene.copy()
        canvas[y0:y1, x0:x1] = moved[y0:y1, x0:x1]
        if index:
            angle = rng.uniform(-shake_deg, shake_deg)
            shift = rng.uniform(-shake_px, shake_px, 2)
            turn = cv2.getRotationMatrix2D((canvas.shape[1] / 2, canvas.shape[0] / 2), angle, 1.0)
            turn[:, 2] += shift
            canvas = cv2.warpAffine(canvas, turn, canvas.shape[1::-1], flags=cv2.INTER_CUBIC,
                                    borderMode=cv2.BORDER_REFLECT)
        clip.append(np.ascontiguousarray(canvas[margin:margin + height, margin:margin + width]))
    return clip, clip[0]


def write_clip(path: str, frames, fps: float = 30.0) -> str:
    """Write frames as a real video file (H.264 in .mp4/.mov, VP9 in .webm) with imageio/ffmpeg."""
    import imageio.v2 as imageio

    codec = "libvpx-vp9" if path.endswith(".webm") else "libx264"
    writer = imageio.get_writer(path, fps=fps, codec=codec, macro_block_size=1, pixelformat="yuv420p",
                                ffmpeg_log_level="error", output_params=["-crf", "18"])
    for frame in frames:
        writer.append_data(frame)
    writer.close()
    return path
