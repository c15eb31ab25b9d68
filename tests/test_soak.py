"""Soak: many renders in one process through the public API, with random valid options at tiny
sizes. Memory stays bounded, no file handle or temporary leaks, and every output is whole and
holds the frames asked for.

Short in the test run (``CINE_SOAK_RENDERS``, default 4); the long run is

    CINE_SOAK_RENDERS=50 .venv/bin/python -m pytest tests/test_soak.py -q -s

which prints its figures (docs/performance.md quotes them).
"""
from __future__ import annotations

import os
import random
import tempfile
import time

import numpy as np
import pytest

import cine_core
from cine_core.cameras.presets import PRESETS
from cine_core.io.images import least_long_side
from cine_core.io.integrity import check_complete
from cine_core.io.outputs import PARTIAL_PREFIX
from cine_core.io.video import read_video, write_video

from conftest import write_scene

RENDERS = int(os.environ.get("CINE_SOAK_RENDERS", "4"))
#: Renders before the baseline is taken: PyTorch, OpenCV and ffmpeg set up their caches then.
WARM_UP = 2
#: Most growth of the resident set over the soak, after the warm-up.
RSS_GROWTH_LIMIT = 150 << 20


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _partials(*folders: str) -> list[str]:
    return [name for folder in folders for name in os.listdir(folder) if name.startswith(PARTIAL_PREFIX)]


def _render_once(rng: random.Random, folder: str, index: int) -> tuple[str, int]:
    """One render with random valid options; returns (output path, frames written)."""
    width, height = rng.randint(40, 120), rng.randint(32, 90)
    scene_dir = write_scene(os.path.join(folder, f"scene{index}"), width, height,
                            hints=((width // 4, height // 2, width // 2, height // 2),),
                            motion_box=(2, 2, width - 3, height - 3))
    max_side = rng.choice([None, 32, 48, 64])
    if max_side and max_side < least_long_side(width, height):  # would leave a side under 16 pixels
        max_side = None
    options = cine_core.PrepareOptions(max_side=max_side, max_layers=rng.randint(1, 4),
                                       flow_scale=rng.uniform(0.2, 3.0))
    scene = cine_core.prepare_scene(cine_core.SceneInputs.find(scene_dir), options)
    if rng.random() < 0.3:  # through a saved scene now and then
        saved = os.path.join(folder, f"scene{index}.cine")
        scene.save(saved)
        check_complete(saved, ".cine")
        scene = cine_core.PreparedScene.load(saved)
    frames = rng.randint(2, 10)
    preset = rng.choice([p for p in PRESETS if p != "ken-burns"])
    path = cine_core.camera_path(preset, scene.intrinsics, frames, focus_depth=scene.focus_depth(),
                                 outline=scene.content_outline(), loop=rng.random() < 0.8)
    out = os.path.join(folder, f"out{index}" + rng.choice([".mp4", ".webm", ".gif", ""]))
    rendered = cine_core.render_frames(scene, path, integrator=rng.choice(["rk4", "euler"]), backend="classical")
    return out, write_video(rendered, out, rng.choice([12.0, 24.0, 30.0]))


def _check_output(out: str, frames: int) -> None:
    if os.path.isdir(out):
        names = sorted(os.listdir(out))
        assert names == [f"frame_{i:04d}.png" for i in range(frames)]
        for name in names:
            check_complete(os.path.join(out, name), ".png")
        return
    check_complete(out, os.path.splitext(out)[1])
    decoded, _ = read_video(out)
    assert len(decoded) == frames and all(np.ptp(frame) > 0 for frame in decoded)


def test_many_renders_in_one_process(tmp_path):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("reads /proc to count memory and open files")
    rng = random.Random(23)
    system_temp = tempfile.gettempdir()
    temp_before = set(_partials(system_temp))
    rss, files, seconds = [], [], []
    for index in range(max(RENDERS, WARM_UP + 2)):
        start = time.perf_counter()
        out, frames = _render_once(rng, str(tmp_path), index)
        seconds.append(time.perf_counter() - start)
        _check_output(out, frames)
        rss.append(_rss())
        files.append(_open_files())
    baseline = rss[WARM_UP - 1]
    print(f"\nsoak: {len(rss)} renders in {sum(seconds):.0f} s; RSS after the warm-up {baseline / 2**20:.0f} MB, "
          f"at the end {rss[-1] / 2**20:.0f} MB, largest {max(rss) / 2**20:.0f} MB; open files "
          f"{files[WARM_UP - 1]} -> {files[-1]}")
    assert max(rss[WARM_UP:]) - baseline < RSS_GROWTH_LIMIT
    assert files[-1] == files[WARM_UP - 1]
    assert _partials(str(tmp_path)) == [] and set(_partials(system_temp)) == temp_before
