"""Command line: ``python -m cine_core render INPUT [options]``."""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from .annotations import parse_hint
from .camera import DEFAULT_MAGNITUDE, PRESETS, CropWindow, camera_path
from .devices import resolve_device
from .errors import CineError, is_out_of_memory
from .integrate import INTEGRATORS
from .neural import BACKENDS, MOTION_SIZE, NeuralBackend
from .pipeline import PrepareOptions, SceneInputs, prepare_scene, render_frames
from .scene import PreparedScene
from .video_io import write_video

EXIT_BAD_INPUT = 2


class ProgressBar:
    """A one-line text progress bar on stderr (silent when stderr is not a terminal and quiet)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.start = time.perf_counter()
        self.stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        if self.quiet:
            return
        filled = int(30 * min(max(fraction, 0.0), 1.0))
        elapsed = time.perf_counter() - self.start
        line = f"\r{stage:<7} [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%  {elapsed:6.1f}s"
        if stage != self.stage and self.stage:
            sys.stderr.write("\n")
        self.stage = stage
        sys.stderr.write(line)
        sys.stderr.flush()

    def done(self) -> None:
        if not self.quiet:
            sys.stderr.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cine_core",
                                     description="Turn one photo into a looping 3D cinemagraph.")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render a cinemagraph video from a photo",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    render.add_argument("input", help="a photo, a folder with image.png|jpg (+ image.json, mask.png, "
                                      "depth file), or a prepared scene (.cine)")
    render.add_argument("--out", default="cinemagraph.mp4",
                        help=".mp4, .webm, .gif, or a folder that receives frame_0000.png ...")
    render.add_argument("--camera", default="circle", choices=PRESETS, help="camera path")
    render.add_argument("--magnitude", type=float, default=None,
                        help="camera offset in scene units (nearest depth = 1); default per path: "
                             + ", ".join(f"{k} {v}" for k, v in DEFAULT_MAGNITUDE.items()))
    render.add_argument("--once", action="store_true",
                        help="move the camera once from start to end instead of returning (no loop)")
    render.add_argument("--start-crop", help="ken-burns start window cx,cy,width,height (photo pixels)")
    render.add_argument("--end-crop", help="ken-burns end window cx,cy,width,height (photo pixels)")
    render.add_argument("--focus-depth", type=float, default=None,
                        help="subject depth for swing/dolly-zoom/ken-burns (default: median of the "
                             "moving region)")
    render.add_argument("--frames", type=int, default=60, help="frames in the loop")
    render.add_argument("--fps", type=float, default=30.0)
    render.add_argument("--size", type=int, default=None, help="cap the long side of the photo")
    render.add_argument("--flow-scale", type=float, default=1.0, help="fluid speed multiplier")
    render.add_argument("--integrator", default="rk4", choices=INTEGRATORS)
    render.add_argument("--depth", help="depth or disparity map (PFM, 16-bit PNG, NPY)")
    render.add_argument("--depth-kind", default="disparity", choices=("depth", "disparity"),
                        help="what --depth holds: larger = farther (depth) or nearer (disparity)")
    render.add_argument("--annotation", help="labelme image.json or JSON of arrows")
    render.add_argument("--mask", help="mask image of the moving region")
    render.add_argument("--hint", action="append", default=[], metavar="X0,Y0,X1,Y1",
                        help="a motion arrow in photo pixels (repeatable)")
    render.add_argument("--direction", help="direction in words when there are no arrows, "
                                            "e.g. 'left to right, downwards' (without a mask: of "
                                            "every found region without arrows)")
    render.add_argument("--no-auto-motion", action="store_true",
                        help="without a mask, keep the photo still (camera parallax only) instead of "
                             "finding the sky and water and animating them")
    render.add_argument("--layers", type=int, default=3, help="maximum number of depth layers")
    render.add_argument("--seed", type=int, default=0,
                        help="random seed (the pipeline is deterministic; kept for reproducible "
                             "extensions)")
    render.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    render.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="networks: auto = each stage whose weight file is found runs its "
                             "network, classical = none, neural = all (a missing file is an error)")
    render.add_argument("--ckpts", default=None, metavar="DIR",
                        help="folder with the official weight files (default: ckpts/ in the project; "
                             "python install_deps.py --models downloads them)")
    render.add_argument("--motion-size", type=int, default=MOTION_SIZE,
                        help="grid of the motion network, a multiple of 256 (it was trained at 768)")
    render.add_argument("--half", action="store_true",
                        help="float16 image decoder on CUDA (faster; check it against float32 first)")
    render.add_argument("--save-scene", help="also write the prepared scene (.cine) for reuse")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_render(args: argparse.Namespace) -> str:
    if args.frames < 2:
        raise CineError("--frames must be at least 2")
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    progress = ProgressBar(args.quiet)
    backend = NeuralBackend(args.backend, args.ckpts, device, motion_size=args.motion_size)
    backend.check(["render"])  # fail before preparing, not after
    if args.input.endswith(".cine") and os.path.isfile(args.input):
        scene = PreparedScene.load(args.input)
    else:
        inputs = SceneInputs.find(args.input)
        inputs.annotation = args.annotation or inputs.annotation
        inputs.mask = args.mask or inputs.mask
        inputs.depth = args.depth or inputs.depth
        options = PrepareOptions(max_side=args.size, depth_kind=args.depth_kind,
                                 hints=[parse_hint(h) for h in args.hint], direction=args.direction,
                                 flow_scale=args.flow_scale, max_layers=args.layers,
                                 backend=args.backend, ckpts_dir=args.ckpts, device=device,
                                 motion_size=args.motion_size, auto_motion=not args.no_auto_motion,
                                 require_motion=not args.no_auto_motion)
        scene = prepare_scene(inputs, options, progress)
        if "auto_motion" in scene.info:
            progress.done()
            progress.stage = ""  # the bar starts a fresh line below
            sys.stderr.write(f"auto motion: {scene.info['auto_motion']}\n")
        if args.save_scene:
            scene.save(args.save_scene)
    scale = scene.size[0] / scene.info.get("original_width", scene.size[0])
    crops = [CropWindow.parse(c) for c in (args.start_crop, args.end_crop)] if args.start_crop or args.end_crop else []
    crops = [CropWindow(c.cx * scale, c.cy * scale, c.width * scale, c.height * scale) for c in crops]
    path = camera_path(args.camera, scene.intrinsics, args.frames, magnitude=args.magnitude,
                       focus_depth=args.focus_depth or scene.focus_depth(), loop=not args.once,
                       start_crop=crops[0] if crops else None, end_crop=crops[1] if len(crops) > 1 else None)
    frames = render_frames(scene, path, integrator=args.integrator, device=device, progress=progress,
                           backend=backend, half=args.half)
    count = write_video(frames, args.out, args.fps)
    progress.done()
    for note in scene.info.get("notes", []):
        sys.stderr.write(f"note: {note}\n")
    stages = ", ".join(f"{k}: {v}" for k, v in scene.info.get("stages", {}).items())
    return f"wrote {count} frames to {args.out} ({stages})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        message = run_render(args)
    except CineError as exc:
        sys.stderr.write(f"\nerror: {exc}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        sys.stderr.write("\nerror: out of memory; try a smaller --size, fewer --frames or --device cpu\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("\ncancelled; nothing was written\n")
        return 130
    print(message)
    return 0
