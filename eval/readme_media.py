"""The README's media, made by the tool itself: a looping animation of a shared scene rendered by
the command line, and the evaluation's contact sheets of all shared scenes. Rerun it after any
change to rendering (not part of the test run)::

    .venv/bin/python -m eval.readme_media                 # animation + sheets + evaluation JSON
    .venv/bin/python -m eval.readme_media --no-sheets     # the animation only

The animation is ``python -m cine_core render`` (:data:`ANIMATION_OPTIONS`) written as PNG frames, then
encoded as a looping animated WebP (lossy, about 1 MB for 480x270 x 60 frames; a GIF of the same
frames is ~7 MB). The sheets and JSON come from ``python -m eval.run`` at 640 px
(:data:`EVALUATION_OPTIONS`), see docs/performance.md.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile

if __package__ in (None, ""):  # run as a script: python eval/readme_media.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from PIL import Image

from eval.run import DEFAULT_SCENES, REPO
from eval.run import main as evaluate

MEDIA = os.path.join(REPO, "docs", "media")
#: The README's animation: this scene (mask + worded direction, the one with a real video) with
#: these options of ``python -m cine_core render``: the swing camera, 480 px, one 60-frame loop.
ANIMATION_SCENE = "cascade"
ANIMATION_OPTIONS = ["--direction", "downwards", "--camera", "swing", "--size", "480", "--frames", "60",
                     "--fps", "30", "--backend", "classical", "--quiet"]
ANIMATION_FPS = 30.0
#: Options of ``python -m eval.run`` for the contact sheets (static camera, 640 px).
EVALUATION_OPTIONS = ["--size", "640", "--no-video", "--sheets", os.path.join(MEDIA, "sheets")]
WEBP_QUALITY = 75


def write_webp(frames: list[np.ndarray], out: str, fps: float) -> None:
    """A looping animated WebP from (H, W, 3) uint8 RGB frames (written whole, then renamed)."""
    images = [Image.fromarray(frame) for frame in frames]
    partial = out + ".partial.webp"
    images[0].save(partial, save_all=True, append_images=images[1:], duration=round(1000.0 / fps), loop=0,
                   quality=WEBP_QUALITY, method=4)
    os.replace(partial, out)


def make_animation(out: str, scenes: str = DEFAULT_SCENES) -> None:
    from cine_core import command_line as cine

    with tempfile.TemporaryDirectory(prefix="readme-media-") as folder:
        code = cine(["render", os.path.join(scenes, ANIMATION_SCENE), *ANIMATION_OPTIONS,
                     "--out", os.path.join(folder, "frames")])
        if code:
            raise SystemExit(code)
        paths = sorted(glob.glob(os.path.join(folder, "frames", "frame_*.png")))
        frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_webp(frames, out, ANIMATION_FPS)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB, {len(frames)} frames)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.readme_media", description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", default=DEFAULT_SCENES, help="the shared scenes folder")
    parser.add_argument("--out", default=os.path.join(MEDIA, "cascade-swing.webp"), help="the animation")
    parser.add_argument("--no-sheets", action="store_true", help="skip the evaluation and its sheets")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.scenes, ANIMATION_SCENE)):
        raise SystemExit(f"{args.scenes} holds no {ANIMATION_SCENE} scene; pass the shared scenes with --scenes")
    make_animation(args.out, args.scenes)
    return 0 if args.no_sheets else evaluate([args.scenes, *EVALUATION_OPTIONS])


if __name__ == "__main__":
    sys.exit(main())
