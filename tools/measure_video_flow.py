"""Which dense optical flow the motion-from-video stage uses: accuracy and time of OpenCV's DIS
presets and Farneback on a clip with a known motion, at the analysis size.

Run from the repository root (not part of the test run)::

    .venv/bin/python tools/measure_video_flow.py [--scene PHOTO --fluid PHOTO]

The clip: a real photo (``--scene``) whose rectangle in the middle shows another photo
(``--fluid``) sliding by 1.3 px right and 0.6 px down per frame, 40 frames at 640x360, encoded
as H.264 (crf 18) and decoded again, without shake (the stabilisation is not measured here).
For each method: the per-pixel median of the flow between consecutive frames, as the stage
computes it, against the truth: the relative error of the mean velocity inside the rectangle
(away from its edge by 8 px), the mean |flow| of the still pixels 8 px or more outside it, and
the time per frame pair.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from conftest import shaken_clip_frames, write_clip  # noqa: E402
from cine_core.io.video import stream_clip  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
VELOCITY = (1.3, 0.6)
REGION = (160, 90, 480, 270)


def farneback(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def dis(preset: int, finest_scale: int | None = None):
    solver = cv2.DISOpticalFlow_create(preset)
    if finest_scale is not None:
        solver.setFinestScale(finest_scale)
    return lambda first, second: solver.calc(first, second, None)


METHODS = {"DIS ultrafast": dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST), "DIS fast": dis(cv2.DISOPTICAL_FLOW_PRESET_FAST),
           "DIS medium": dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
           "DIS fast, full": dis(cv2.DISOPTICAL_FLOW_PRESET_FAST, 0),
           "DIS medium, full": dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0), "Farneback": farneback}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", default=os.path.join(SHARED, "photos", "path.jpg"))
    parser.add_argument("--fluid", default=os.path.join(SHARED, "scenes", "rough-sea", "image.png"))
    args = parser.parse_args()
    scene = cv2.imread(args.scene)[:, :, ::-1]
    fluid = cv2.imread(args.fluid)[:, :, ::-1]
    frames, _ = shaken_clip_frames(640, 360, 40, VELOCITY, REGION, shake_px=0.0, shake_deg=0.0,
                                   scene=scene, fluid=fluid)
    with tempfile.TemporaryDirectory() as folder:
        path = write_clip(os.path.join(folder, "clip.mp4"), frames)
        decoded = list(stream_clip(path, (640, 360), 100))
    x0, y0, x1, y1 = REGION
    inside = np.zeros((360, 640), bool)
    inside[y0 + 8:y1 - 8, x0 + 8:x1 - 8] = True
    outside = np.ones((360, 640), bool)
    outside[y0 - 8:y1 + 8, x0 - 8:x1 + 8] = False
    print(f"{'method':<14} {'velocity error':>15} {'still |flow|':>13} {'ms / pair':>10}")
    for name, method in METHODS.items():
        start = time.perf_counter()
        flows = [method(a, b).transpose(2, 0, 1) for a, b in zip(decoded[:-1], decoded[1:])]
        per_pair = 1000 * (time.perf_counter() - start) / len(flows)
        median = np.median(np.stack(flows), axis=0)
        velocity = median[:, inside].mean(axis=1)
        error = np.linalg.norm(velocity - VELOCITY) / np.linalg.norm(VELOCITY)
        still = float(np.linalg.norm(median[:, outside], axis=0).mean())
        print(f"{name:<14} {100 * error:>14.1f}% {still:>13.3f} {per_pair:>10.1f}")


if __name__ == "__main__":
    main()
