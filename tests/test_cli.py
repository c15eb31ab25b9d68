"""The command line end to end: real files in, a playable video out, one-line errors otherwise."""
from __future__ import annotations

import os

import ast
import re

import cv2
import numpy as np
import pytest
import torch

from cine_core.io.video import read_video
from cine_core.motion.directions import parse_direction

from conftest import ROOT, run_cli, textured_image


def test_render_writes_a_playable_looping_mp4(scene_dir, tmp_path):
    out = str(tmp_path / "clip.mp4")
    result = run_cli("render", scene_dir, "--out", out, "--frames", "12", "--fps", "24", "--camera", "swing",
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert "wrote 12 frames" in result.stdout and "depth: file depth.npy" in result.stdout
    frames, fps = read_video(out)
    assert len(frames) == 12 and frames[0].shape == (64, 96, 3) and fps == 24
    assert not any(name.startswith(".partial") for name in os.listdir(tmp_path))
    # Readable like any new file (the temporary it was written to is private).
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask


def test_static_clip_keeps_still_pixels_identical(scene_dir, tmp_path):
    out = str(tmp_path / "frames")
    result = run_cli("render", scene_dir, "--out", out, "--frames", "8", "--camera", "static", "--quiet")
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(out))
    assert names == [f"frame_{i:04d}.png" for i in range(8)]
    frames = [cv2.imread(os.path.join(out, n)) for n in names]
    photo = cv2.imread(os.path.join(scene_dir, "image.png"))
    still = np.ones((64, 96), bool)
    still[28:62, 8:82] = False  # the motion rectangle (10..80, 30..60) grown by 2 px
    for frame in frames:
        assert np.array_equal(frame[still], photo[still])
    assert np.array_equal(frames[0], photo)  # time 0 from the source camera is the photo
    assert np.abs(frames[4].astype(int) - photo.astype(int))[~still].mean() > 3  # the fluid moved


def test_gif_hints_on_the_command_line_and_worded_direction(tmp_path):
    photo = str(tmp_path / "photo.png")
    cv2.imwrite(photo, textured_image(96, 64))
    out = str(tmp_path / "a.gif")
    result = run_cli("render", photo, "--hint", "10,10,40,20", "--out", out, "--frames", "6", "--quiet")
    assert result.returncode == 0, result.stderr
    assert len(read_video(out)[0]) == 6
    mask = np.zeros((64, 96), np.uint8)
    mask[:, 40:] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    out = str(tmp_path / "b.webm")
    result = run_cli("render", photo, "--mask", str(tmp_path / "mask.png"), "--direction", "left to right",
                     "--out", out, "--frames", "6", "--camera", "zoom-in", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "worded direction" in result.stdout and len(read_video(out)[0]) == 6


def test_bad_input_gives_one_line_error_exit_2_and_keeps_old_output(scene_dir, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"an earlier render")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    mask_only = tmp_path / "mask.png"
    cv2.imwrite(str(mask_only), np.full((64, 96), 255, np.uint8))
    cases = [
        (["render", str(tmp_path / "nothing.png")], "not found"),
        (["render", scene_dir, "--annotation", str(broken)], "not valid JSON"),
        (["render", scene_dir, "--depth", str(tmp_path / "none.pfm")], "depth file not found"),
        (["render", scene_dir, "--hint", "1,2"], "error: --hint: '1,2': expected four numbers"),
        (["render", scene_dir, "--direction", "sideways wobble"], "error: --direction: cannot understand"),
        (["render", scene_dir, "--frames", "1"], "from 2 to"),
        (["render", scene_dir, "--out", str(tmp_path / "x.avi")], ".mp4, .webm, .gif"),
        (["render", os.path.join(scene_dir, "image.png"), "--mask", str(mask_only)], "error: --hint: the motion "
                                                                                    "mask has no hint arrows"),
    ]
    if not torch.cuda.is_available():
        cases.append((["render", scene_dir, "--device", "cuda"], "error: --device: cuda is not available: "))
    for args, words in cases:
        result = run_cli(*args, "--out", str(out), "--quiet") if "--out" not in args else run_cli(*args, "--quiet")
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert out.read_bytes() == b"an earlier render"


def test_core_errors_name_their_parameter_and_each_front_end_words_it():
    """The core's error holds the setting it is about; the CLI names its option, Blender its
    property (``blender_addon/errors.py``); the sentence itself names neither."""
    from cine_core import CineError
    from cine_core.pipeline.cli import OPTIONS

    with pytest.raises(CineError) as caught:
        parse_direction("sideways wobble")
    error = caught.value
    assert error.parameter == "direction" and "--" not in str(error) and "Direction" not in str(error)
    assert error.worded(OPTIONS) == f"--direction: {error}"
    assert error.worded({"direction": "Direction"}) == f"Direction: {error}"
    assert CineError("the file is damaged").worded(OPTIONS) == "the file is damaged"
    # Every parameter the core's errors name has a word in the CLI and in Blender.
    named = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "cine_core")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    named |= set(re.findall(r'parameter="(\w+)"', handle.read()))
    with open(os.path.join(ROOT, "blender_addon", "errors.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    blender = next(ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PARAMETER_NAMES")
    assert len(named) > 8
    assert named - {"geometry"} <= set(OPTIONS), named - set(OPTIONS)  # the CLI takes no scene geometry
    assert named <= set(blender), named - set(blender)


def test_saved_scene_renders_again(scene_dir, tmp_path):
    saved = str(tmp_path / "s.cine")
    first = str(tmp_path / "a")
    assert run_cli("render", scene_dir, "--save-scene", saved, "--out", first, "--frames", "4",
                   "--quiet").returncode == 0
    second = str(tmp_path / "b")
    result = run_cli("render", saved, "--out", second, "--frames", "4", "--quiet")
    assert result.returncode == 0, result.stderr
    for name in os.listdir(first):
        assert np.array_equal(cv2.imread(os.path.join(first, name)), cv2.imread(os.path.join(second, name)))
