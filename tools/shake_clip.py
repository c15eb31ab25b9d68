"""A handheld stand-in for a phone clip: a scene's real video shaken frame by frame and resized.

Run from the repository root::

    .venv/bin/python tools/shake_clip.py ../shared/data/scenes/cascade/gt.mp4 /tmp/cascade-shaken.mp4

Each frame (the first too) is shifted by up to ``--shift`` pixels and turned by up to ``--turn``
degrees about its centre, independently per frame (both measured at the output's size), with
reflected borders, then resized to ``--size`` (covering it, centre cropped to its aspect) and
written as H.264 (crf 18) at the source's frame rate. ``eval.run --from-video --motion-clip``
takes the result.
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cine_core.io.video import read_video, write_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source")
    parser.add_argument("out", help=".mp4 or .webm")
    parser.add_argument("--size", default="960x544", help="output width x height")
    parser.add_argument("--shift", type=float, default=4.0, help="largest shift, output pixels")
    parser.add_argument("--turn", type=float, default=0.25, help="largest turn, degrees")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    frames, fps = read_video(args.source)
    width, height = (int(v) for v in args.size.split("x"))
    source_h, source_w = frames[0].shape[:2]
    cover = max(width / source_w, height / source_h)
    rng = np.random.default_rng(args.seed)
    shaken = []
    for frame in frames:
        turn = cv2.getRotationMatrix2D((source_w / 2, source_h / 2), rng.uniform(-args.turn, args.turn), 1.0)
        turn[:, 2] += rng.uniform(-args.shift, args.shift, 2) / cover
        moved = cv2.warpAffine(frame, turn, (source_w, source_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        resized = cv2.resize(moved, (round(source_w * cover), round(source_h * cover)), interpolation=cv2.INTER_AREA)
        x0, y0 = (resized.shape[1] - width) // 2, (resized.shape[0] - height) // 2
        shaken.append(np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width]))
    write_video(shaken, args.out, fps)
    print(f"wrote {len(shaken)} frames of {width}x{height} at {fps:g} fps to {args.out}")


if __name__ == "__main__":
    main()
