"""How well the automatic motion detection does, on photos with and without an annotation.

Run from the repository root (not part of the test run)::

    .venv/bin/python -m eval.auto_motion                       # ../shared/data/{scenes,photos}
    .venv/bin/python -m eval.auto_motion --sheet docs/auto-motion.png --json /tmp/auto.json
    .venv/bin/python -m eval.auto_motion --backend auto         # the ADE20K network when present

1. **Annotated scenes** (folders with ``image.png|jpg`` and ``image.json`` and/or ``mask.png``):
   the detector sees the photo only (``prepare_scene``'s :func:`~cine_core.pipeline.run.find_motion`,
   at ``--detect-size``, 1280 by default); its regions are compared with the labelled moving
   region: intersection over union, the share of the label found (recall) and the share of the
   found region inside the label (precision). The labels mark only what their author chose to
   animate (e.g. the sea but not the sky), so a low precision may be a region that moves
   plausibly all the same: look at the contact sheet.
2. **Photos without annotation** (image files): the whole pipeline from the photo alone at
   ``--size`` (640), static camera, ``--frames`` (60) frames; frame 0 against mid-loop: the mean
   change (8-bit levels) inside the moving region (flow not zero) and the largest change outside
   it (solid ground), plus the share of still pixels that changed by more than 8 levels.
3. **Time** of the weight-free detection (finding the regions and their arrows) on each scene
   photo at 1280x720, and of the flow stage from those arrows against the flow from the labelled
   annotation.

``--sheet`` writes a contact sheet: each photo with its found regions (sky red, sea/lake blue,
waterfall cyan, river green) and, for annotated scenes, the labelled region's outline in yellow.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import cv2
import numpy as np
import torch

from cine_core import (KINDS, PHOTO_EXTENSIONS, NeuralBackend, PrepareOptions, SceneInputs, camera_path,
                       eulerian_flow, find_motion, load_annotation, load_photo, make_renderer, prepare_scene,
                       to_uint8_image)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
#: BGR overlay colour of each kind, in :data:`KINDS` order.
COLOURS = [(60, 60, 230), (230, 110, 30), (230, 230, 40), (60, 200, 60)]
TILE_WIDTH = 256


def overlay(rgb: np.ndarray, kinds: np.ndarray, label: np.ndarray | None, text: str) -> np.ndarray:
    """(h, w, 3) BGR tile: the photo with the found kinds tinted and the label outlined."""
    image = np.ascontiguousarray(rgb[:, :, ::-1])
    tinted = image.copy()
    for index, colour in enumerate(COLOURS[:len(KINDS)], start=1):
        region = kinds == index
        tinted[region] = (0.45 * tinted[region] + 0.55 * np.array(colour)).astype(np.uint8)
    if label is not None:
        contours, _ = cv2.findContours(label.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(tinted, contours, -1, (0, 230, 255), max(2, image.shape[1] // 300))
    scale = TILE_WIDTH / image.shape[1]
    tile = cv2.resize(tinted, (TILE_WIDTH, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thickness, cv2.LINE_AA)
    return tile


def contact_sheet(tiles: list[np.ndarray], columns: int = 3) -> np.ndarray:
    height = max(t.shape[0] for t in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    padded += [np.zeros_like(padded[0])] * (-len(padded) % columns)
    return np.concatenate([np.concatenate(padded[i:i + columns], axis=1) for i in range(0, len(padded), columns)])


def score_scene(folder: str, backend: NeuralBackend, size: int) -> tuple[dict, np.ndarray]:
    """IoU of the found region with the labelled one, and the contact-sheet tile."""
    inputs = SceneInputs.find(folder)
    photo = load_photo(inputs.photo, size)
    label = load_annotation(inputs, photo, []).at_size(*photo.size).mask
    found, method = find_motion(photo.rgb, [], None, backend)
    mask = found.annotation.mask if found.annotation.mask is not None else np.zeros_like(label)
    inter, union = float((mask & label).sum()), float((mask | label).sum())
    record = {"scene": os.path.basename(os.path.normpath(folder)), "iou": inter / max(union, 1.0),
              "recall": inter / max(float(label.sum()), 1.0), "precision": inter / max(float(mask.sum()), 1.0),
              "found": found.summary or "nothing", "method": method}
    tile = overlay(photo.uint8(), found.found.kinds, label, f"{record['scene']}  IoU {record['iou']:.2f}")
    return record, tile


def clip_check(path: str, backend: str, size: int, frames: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Frame 0 vs mid-loop of a static-camera clip made from the photo alone."""
    scene = prepare_scene(SceneInputs(path), PrepareOptions(max_side=size, backend=backend))
    path_ = camera_path("static", scene.intrinsics, frames)
    renderer = make_renderer(scene, frames, NeuralBackend(backend))
    with torch.inference_mode():
        first = to_uint8_image(renderer.render(0, path_[0]))
        middle = to_uint8_image(renderer.render(frames // 2, path_[frames // 2]))
    change = np.abs(middle.astype(np.int16) - first).max(axis=2)
    moving = scene.motion_mask.numpy()
    still = ~moving
    # The detector leaves a margin of still sky/water around what it animates (at 640 px one
    # pixel); moving points splatted at the region's edge reach into that margin, so solid
    # ground starts beyond it.
    distance = cv2.distanceTransform(still.astype(np.uint8), cv2.DIST_L2, 3)
    ground = still & (distance > 1.5)
    record = {"photo": os.path.basename(path), "auto_motion": scene.info.get("auto_motion", ""),
              "moving_share": float(moving.mean()),
              "moving_mean_change": float(change[moving].mean()) if moving.any() else 0.0,
              "still_max_change": int(change[still].max()) if still.any() else 0,
              "still_share_above_8": float((change[still] > 8).mean()) if still.any() else 0.0,
              "ground_max_change": int(change[ground].max()) if ground.any() else 0,
              "flow": scene.info["stages"]["flow"]}
    return record, first, middle


def time_detection(folder: str, repeats: int = 3) -> dict:
    """Seconds for the weight-free detection and for the flow from its arrows vs the labelled flow."""
    inputs = SceneInputs.find(folder)
    photo = load_photo(inputs.photo, 1280)
    labelled = load_annotation(inputs, photo, []).at_size(*photo.size)
    backend = NeuralBackend("classical")
    detect, flow_auto, flow_label = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        found, _ = find_motion(photo.rgb, [], None, backend)
        detect.append(time.perf_counter() - start)
        if found.annotation.mask is not None:
            start = time.perf_counter()
            eulerian_flow(found.annotation)
            flow_auto.append(time.perf_counter() - start)
        if labelled.hints:
            start = time.perf_counter()
            eulerian_flow(labelled)
            flow_label.append(time.perf_counter() - start)
    median = lambda values: float(np.median(values)) if values else None  # noqa: E731
    return {"scene": os.path.basename(os.path.normpath(folder)), "size": list(photo.size),
            "detect_s": median(detect), "flow_from_found_s": median(flow_auto), "flow_from_label_s": median(flow_label)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.auto_motion", description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default=os.path.join(SHARED, "scenes"), help="folder of annotated scenes")
    parser.add_argument("--photos", default=os.path.join(SHARED, "photos"), help="folder of photos alone")
    parser.add_argument("--backend", default="classical", help="classical (weight-free) or auto")
    parser.add_argument("--detect-size", type=int, default=1280, help="long side for the IoU and timing")
    parser.add_argument("--size", type=int, default=640, help="long side of the clips")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--sheet", help="write the contact sheet (PNG) here")
    parser.add_argument("--frames-dir", help="write frame 0 and mid-loop of each clip here")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)
    backend = NeuralBackend(args.backend)
    scenes = sorted(d for d in glob.glob(os.path.join(args.scenes, "*")) if os.path.isdir(d))
    photos = sorted(p for p in glob.glob(os.path.join(args.photos, "*")) if p.lower().endswith(PHOTO_EXTENSIONS))
    results: dict = {"scenes": [], "photos": [], "timing": []}
    tiles = []
    print(f"{'scene':<16} {'IoU':>5} {'recall':>6} {'prec.':>6}  found")
    for folder in scenes:
        record, tile = score_scene(folder, backend, args.detect_size)
        results["scenes"].append(record)
        tiles.append(tile)
        print(f"{record['scene']:<16} {record['iou']:5.2f} {record['recall']:6.2f} {record['precision']:6.2f}  "
              f"{record['found']}", flush=True)
    print(f"\n{'photo':<18} {'moving':>6} {'mean chg':>8} {'still max':>9} {'>8/255':>7} {'ground max':>10}  auto motion")
    for path in photos:
        record, first, middle = clip_check(path, args.backend, args.size, args.frames)
        results["photos"].append(record)
        photo = load_photo(path, args.detect_size)
        found, _ = find_motion(photo.rgb, [], None, backend)
        tiles.append(overlay(photo.uint8(), found.found.kinds, None, record["photo"]))
        if args.frames_dir:
            os.makedirs(args.frames_dir, exist_ok=True)
            stem = os.path.splitext(record["photo"])[0]
            cv2.imwrite(os.path.join(args.frames_dir, f"{stem}_0000.png"), first[:, :, ::-1])
            cv2.imwrite(os.path.join(args.frames_dir, f"{stem}_{args.frames // 2:04d}.png"), middle[:, :, ::-1])
        print(f"{record['photo']:<18} {record['moving_share']:6.2f} {record['moving_mean_change']:8.2f} "
              f"{record['still_max_change']:9d} {record['still_share_above_8']:7.4f} {record['ground_max_change']:10d}"
              f"  {record['auto_motion']}", flush=True)
    print(f"\n{'scene':<16} {'detect s':>8} {'flow(found) s':>13} {'flow(label) s':>13}")
    for folder in scenes:
        record = time_detection(folder)
        results["timing"].append(record)
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        print(f"{record['scene']:<16} {fmt(record['detect_s']):>8} {fmt(record['flow_from_found_s']):>13} "
              f"{fmt(record['flow_from_label_s']):>13}", flush=True)
    if args.sheet:
        cv2.imwrite(args.sheet, contact_sheet(tiles))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
