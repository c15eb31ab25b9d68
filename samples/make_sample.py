#!/usr/bin/env python3
"""Generate the bundled sample scene ``samples/lake-falls/`` procedurally (deterministic).

A waterfall drops from a cliff into a lake under drifting clouds, with a boulder in front.
It writes ``image.png`` (the photo), ``image.json`` (a labelme annotation: motion polygons and
hint arrows, as a user would draw them) and ``depth.png`` (16-bit disparity, larger = nearer,
the geometry the picture was painted from). Run it again to rebuild the files.
"""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

WIDTH, HEIGHT = 384, 216
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lake-falls")


def fractal_noise(shape: tuple[int, int], rng: np.random.Generator, octaves: int = 5,
                  persistence: float = 0.5) -> np.ndarray:
    """Sum of upsampled random grids: value noise in [0, 1], rougher for higher ``persistence``."""
    total = np.zeros(shape, np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = 4 * 2 ** octave
        grid = rng.random((cells, cells)).astype(np.float32)
        total += amplitude * cv2.resize(grid, shape[::-1], interpolation=cv2.INTER_CUBIC)
        weight += amplitude
        amplitude *= persistence
    total /= weight
    return (total - total.min()) / (total.max() - total.min())


def main() -> None:
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    disparity = np.zeros((HEIGHT, WIDTH), np.float32)

    # Sky with clouds (far).
    sky = np.stack([0.55 + 0.3 * ys / HEIGHT, 0.7 + 0.2 * ys / HEIGHT, np.full_like(ys, 0.95)], -1)
    clouds = np.clip((fractal_noise((HEIGHT, WIDTH), rng) - 0.45) * 3.0, 0, 1)[..., None]
    image[:] = sky * (1 - clouds) + clouds * 0.97
    disparity[:] = 0.02

    # Distant ridge.
    ridge = 70 + 25 * fractal_noise((1, WIDTH), rng, 4)[0]
    mountain = ys > ridge[None, :]
    tone = 0.35 + 0.15 * fractal_noise((HEIGHT, WIDTH), rng)
    image[mountain] = np.stack([tone * 0.75, tone * 0.85, tone], -1)[mountain]
    disparity[mountain] = 0.12

    # Cliff with the waterfall, mid distance.
    cliff = (ys > 95) & (ys < 150)
    rock = 0.15 + 0.45 * fractal_noise((HEIGHT, WIDTH), rng, 6, 0.75)
    image[cliff] = np.stack([rock * 0.9, rock * 0.8, rock * 0.65], -1)[cliff]
    disparity[cliff] = 0.3
    fall = cliff & (np.abs(xs - 190 - 0.15 * (ys - 95)) < 22)
    streaks = fractal_noise((HEIGHT // 4, WIDTH * 4), rng, 5, 0.8)
    streaks = np.clip(cv2.resize(streaks, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC), 0, 1)
    water = 0.45 + 0.55 * streaks ** 0.7
    image[fall] = np.stack([water * 0.92, water * 0.96, water], -1)[fall]

    # Lake, from the cliff foot to the bottom: a ground plane, nearer towards the bottom.
    lake = ys >= 150
    ripples = fractal_noise((HEIGHT * 4, WIDTH // 2), rng, 6, 0.8)
    ripples = np.clip(cv2.resize(ripples, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC), 0, 1)
    blue = 0.2 + 0.6 * ripples ** 1.5
    image[lake] = np.stack([blue * 0.5, blue * 0.75, blue], -1)[lake]
    disparity[lake] = (0.35 + 0.45 * (ys - 150) / (HEIGHT - 150))[lake]

    # Boulder in the foreground (nearest).
    boulder = ((xs - 70) / 55) ** 2 + ((ys - 205) / 40) ** 2 < 1
    stone = 0.2 + 0.45 * fractal_noise((HEIGHT, WIDTH), rng, 6, 0.75)
    shade = np.clip(1.1 - 0.6 * (xs - 40) / 110, 0.5, 1.0)
    image[boulder] = np.stack([stone * shade, stone * shade * 0.95, stone * shade * 0.85], -1)[boulder]
    disparity[boulder] = 1.0

    os.makedirs(OUT, exist_ok=True)
    rgb8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    cv2.imwrite(os.path.join(OUT, "image.png"), rgb8[:, :, ::-1])
    cv2.imwrite(os.path.join(OUT, "depth.png"), (disparity * 65535).astype(np.uint16))
    fall_top, fall_bottom = 96, 149
    shapes = [
        {"label": "motion", "shape_type": "polygon", "points":
            [[167, fall_top], [212, fall_top], [221, fall_bottom], [177, fall_bottom]]},
        {"label": "motion", "shape_type": "polygon", "points":
            [[140, 152], [300, 152], [384, 175], [384, 216], [135, 216], [120, 175]]},
        {"label": "motion", "shape_type": "polygon", "points": [[0, 0], [384, 0], [384, 60], [0, 60]]},
        {"label": "hint0", "shape_type": "line", "points": [[190, 100], [196, 140]]},
        {"label": "hint1", "shape_type": "line", "points": [[200, 165], [250, 185]]},
        {"label": "hint2", "shape_type": "line", "points": [[300, 190], [350, 200]]},
        {"label": "hint3", "shape_type": "line", "points": [[80, 25], [120, 25]]},
        {"label": "hint4", "shape_type": "line", "points": [[280, 30], [320, 30]]},
    ]
    for shape in shapes:
        shape.update({"group_id": None, "flags": {}})
    annotation = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "image.png",
                  "imageData": None, "imageHeight": HEIGHT, "imageWidth": WIDTH}
    with open(os.path.join(OUT, "image.json"), "w", encoding="utf-8") as handle:
        json.dump(annotation, handle, indent=1)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
