"""The clip a user gets is byte for byte the one recorded in ``data/reference_frames.npz``.

The reference was rendered before the core was split into stage packages, so this
proves the move changed no frame: photo -> prepared scene -> frames through the public entry
points, once with the splatting renderer and once with the feature net + image decoder (random
weights in the published file layout). A deliberate change of the rendering regenerates it::

    .venv/bin/python tests/test_frames_unchanged.py --write

and the commit says why the frames changed.

The clips are rendered in a child process whose math libraries are held to one code path
(AVX2 in MKL, oneDNN and PyTorch's own kernels): left to choose, they pick kernels by CPU model,
and the decoder's convolutions then round differently on another machine (4 pixels by one level
between two AVX-512 Xeons).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)

from conftest import ROOT, write_scene  # noqa: E402

sys.path.insert(0, ROOT)

from cine_core import PrepareOptions, SceneInputs, camera_path, prepare_scene, render_frames  # noqa: E402

REFERENCE = os.path.join(TESTS, "data", "reference_frames.npz")
#: One code path for every CPU from AVX2 on (see the module docstring).
REPRODUCIBLE = {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def render_reference_clips(folder: str) -> dict[str, np.ndarray]:
    """(frames, H, W, 3) uint8 clips of the test scene: splatting (circle path) and decoder
    (swing path), each from a scene prepared by the classical stages."""
    from test_neural_backend import write_official_files

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order for the decoder's convolutions
    try:
        scene = prepare_scene(SceneInputs.find(write_scene(os.path.join(folder, "scene"))),
                              PrepareOptions(backend="classical"))
        weights = os.path.join(folder, "weights")
        write_official_files(weights, ("model_150000.pth",))
        splatting = render_frames(scene, camera_path("circle", scene.intrinsics, 6, outline=scene.content_outline()),
                                  backend="classical")
        decoder = render_frames(scene, camera_path("swing", scene.intrinsics, 4, outline=scene.content_outline()),
                                backend="auto", ckpts_dir=weights)
        clips = {"splatting": np.stack(list(splatting)), "decoder": np.stack(list(decoder))}
        assert scene.info["stages"]["render"].startswith("neural")  # the decoder really ran
        return clips
    finally:
        torch.set_num_threads(threads)


def render_reproducibly(folder: str) -> dict[str, np.ndarray]:
    """:func:`render_reference_clips` in a child process with :data:`REPRODUCIBLE` set."""
    out = os.path.join(folder, "clips.npz")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--render", out, folder],
                   env={**os.environ, **REPRODUCIBLE}, check=True)
    with np.load(out) as clips:
        return dict(clips)


def test_frames_match_the_reference(tmp_path):
    reference = np.load(REFERENCE)
    clips = render_reproducibly(str(tmp_path))
    assert sorted(clips) == sorted(reference.files)
    for name, clip in clips.items():
        expected = reference[name]
        assert clip.shape == expected.shape, name
        differing = int((clip != expected).any(-1).sum())
        assert differing == 0, f"{name}: {differing} pixels differ from the reference"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    with tempfile.TemporaryDirectory() as scratch:
        np.savez_compressed(REFERENCE, **render_reproducibly(scratch))
    print("wrote", REFERENCE)
elif __name__ == "__main__" and sys.argv[1:2] == ["--render"]:
    np.savez(sys.argv[2], **render_reference_clips(sys.argv[3]))
