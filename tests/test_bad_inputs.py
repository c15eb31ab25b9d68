"""Bad input of every kind, as a careless or hostile user gives it: each is refused with one line
``error: ...`` and exit code 2, in under 2 s, before any stage does real work, and an earlier
output stays exactly as it was. Outputs appear complete or not at all.

The command line runs in-process (``cine_core.pipeline.cli.main``: the real argument parsing, checks and
pipeline) so the suite stays fast; a few cases run it as a subprocess to see the exit code and
the absence of a traceback as a user sees them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import http.server
import json
import os
import re
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib

import cv2
import numpy as np
import pytest
import torch

from cine_core.pipeline.cli import main
from cine_core.errors import CineError
from cine_core.io.outputs import PARTIAL_PREFIX
from cine_core.scene import PreparedScene, record_checksum
from cine_core.io.video import write_video

from conftest import ROOT, run_cli, textured_image, write_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> str:
    return write_scene(str(tmp_path_factory.mktemp("bad") / "scene"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory, scene) -> str:
    """A prepared scene written by the tool itself, to be tampered with."""
    path = str(tmp_path_factory.mktemp("cine") / "good.cine")
    assert main(["render", scene, "--save-scene", path, "--out", path[:-5] + ".gif", "--frames", "2",
                 "--camera", "static", "--quiet"]) == 0
    return path


@pytest.fixture
def earlier(tmp_path):
    """An earlier render that every refused command must leave untouched."""
    out = tmp_path / "earlier.mp4"
    out.write_bytes(b"an earlier render")
    yield str(out)
    assert out.read_bytes() == b"an earlier render"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(PARTIAL_PREFIX) or n.endswith(".tmp")]


def refused(capsys, *args: str, out: str | None = None) -> str:
    """Run the CLI in-process; assert exit 2, one line 'error: ...', no traceback, < 2 s."""
    argv = ["render", *args, "--quiet"] + (["--out", out] if out and "--out" not in args else [])
    start = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own complaints exit from inside
        code = exc.code
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
    assert elapsed < 2.0, (args, elapsed)
    return lines[0]


def _png_header(path, width: int, height: int) -> None:
    """A valid PNG signature and IHDR claiming width x height, and no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))


# ---------------------------------------------------------------------------- numbers and names

@pytest.mark.parametrize("option, value, words", [
    ("--fps", "30/1", "invalid float value: '30/1'"), ("--frames", "ten", "invalid int value"),
    ("--fps", "0", "--fps 0 is out of range"), ("--fps", "nan", "finite"), ("--fps", "inf", "finite"),
    ("--fps", "-30", "out of range"), ("--frames", "0", "--frames 0"), ("--frames", "1", "from 2"),
    ("--frames", "100000000", "out of range"), ("--magnitude", "-0.1", "at least 0"),
    ("--magnitude", "nan", "finite"), ("--magnitude", "1e9", "out of range"),
    ("--focus-depth", "0", "above 0"), ("--focus-depth", "-inf", "finite"),
    ("--flow-scale", "inf", "finite"), ("--flow-scale", "nan", "finite"), ("--flow-scale", "-1", "at least 0"),
    ("--size", "5", "--size 5"),
    ("--size", "-1", "--size -1"), ("--layers", "0", "--layers 0"), ("--layers", "99", "--layers 99"),
    ("--seed", "-1", "--seed -1"), ("--motion-size", "0", "--motion-size 0"),
    ("--hint", "nan,1,2,3", "finite"), ("--hint", "1,1,inf,3", "finite"), ("--hint", "1,2,3", "four numbers"),
    ("--hint", "5000,10,5100,20", "far outside the 96x64"),
    ("--device", "gpu", "not a device"), ("--device", "cuda:x", "not a device"),
    ("--device", "cpu; rm -rf /", "not a device"), ("--ckpts", "/nonexistent/ckpts", "is not a folder"),
    ("--ckpts", __file__, "is not a folder"), ("--direction", "sideways wobble", "cannot understand"),
])
def test_bad_numbers_and_names(capsys, scene, earlier, option, value, words):
    assert words in refused(capsys, scene, f"{option}={value}", out=earlier)


def test_gpu_that_is_not_there(capsys, scene, earlier):
    if torch.cuda.is_available():
        words = "GPU(s)"
        args = ["--device", f"cuda:{torch.cuda.device_count()}"]
    else:
        words, args = "no CUDA", ["--device", "cuda:0"]
    assert words in refused(capsys, scene, *args, out=earlier)


def test_unknown_camera_and_a_traceback_never_reaches_the_user(scene, tmp_path):
    out = str(tmp_path / "a.mp4")
    for args, words in ((["--camera", "dolly"], "invalid choice: 'dolly'"), (["--fps", "nan"], "finite")):
        result = run_cli("render", scene, "--out", out, "--quiet", *args, timeout=60)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
        assert words in lines[0] and "Traceback" not in result.stderr
    assert not os.path.exists(out)


# ---------------------------------------------------------------------------- Ken Burns crops

@pytest.mark.parametrize("crops, words", [
    (["--start-crop", "48,32,96,64", "--end-crop", "90,32,40,20"], "reaches outside the 96x64 photo"),
    (["--end-crop=-20,-20,10,10"], "reaches outside"), (["--start-crop", "nan,1,2,3"], "finite"),
    (["--end-crop", "10,10,0,5"], "positive"), (["--end-crop", "1,2"], "four numbers"),
])
def test_bad_crops(capsys, scene, earlier, crops, words):
    assert words in refused(capsys, scene, "--camera", "ken-burns", *crops, out=earlier)


def test_crops_need_the_ken_burns_path(capsys, scene, earlier):
    assert "add --camera ken-burns" in refused(capsys, scene, "--end-crop", "48,32,40,20", out=earlier)


def test_end_crop_alone_starts_from_the_whole_photo(capsys, scene, tmp_path):
    out = str(tmp_path / "kb")
    assert main(["render", scene, "--camera", "ken-burns", "--once", "--end-crop", "24,16,48,32",
                 "--frames", "3", "--out", out, "--quiet"]) == 0
    frames = [cv2.imread(os.path.join(out, f"frame_{i:04d}.png")).astype(float) for i in range(3)]
    photo = cv2.imread(os.path.join(scene, "image.png")).astype(float)
    # Frame 0 is the whole photo (up to the 5% overscan); the last is the top-left quarter.
    grown = cv2.resize(photo, None, fx=1.05, fy=1.05, interpolation=cv2.INTER_LINEAR)
    top, left = (grown.shape[0] - 64) // 2, (grown.shape[1] - 96) // 2
    quarter = cv2.resize(photo[:32, :48], (96, 64), interpolation=cv2.INTER_LINEAR)
    assert np.abs(frames[0] - grown[top:top + 64, left:left + 96]).mean() < np.abs(frames[0] - quarter).mean()
    assert np.abs(frames[2] - quarter).mean() < np.abs(frames[2] - photo).mean()


def test_crops_are_in_original_pixels_whatever_size_does(scene, tmp_path):
    """The same crop (original pixels) at full size and at --size 48 shows the same part."""
    last = {}
    for size in (None, 48):
        out = str(tmp_path / f"kb{size}")
        args = ["render", scene, "--camera", "ken-burns", "--once", "--start-crop", "48,32,96,64",
                "--end-crop", "66,40,48,32", "--frames", "2", "--out", out, "--quiet", "--camera", "ken-burns",
                "--flow-scale", "0"]  # a still: only where the crop lands is compared
        assert main(args + (["--size", str(size)] if size else [])) == 0
        last[size] = cv2.imread(os.path.join(out, "frame_0001.png")).astype(float)
    assert last[48].shape == (32, 48, 3)
    full_small = cv2.resize(last[None], (48, 32), interpolation=cv2.INTER_AREA)
    photo_small = cv2.resize(cv2.imread(os.path.join(scene, "image.png")), (48, 32),
                             interpolation=cv2.INTER_AREA).astype(float)
    # The right crop: close to the full-size render; the unscaled crop (the old bug) would show
    # another part of the photo. Compared blurred: the 48 px render magnifies a photo that lost
    # its finest noise to --size, which says nothing about where the crop landed.
    def blurred(image):
        return cv2.GaussianBlur(image, (5, 5), 0)
    assert np.abs(blurred(last[48]) - blurred(full_small)).mean() < \
        0.5 * np.abs(blurred(last[48]) - blurred(photo_small)).mean()


# ---------------------------------------------------------------------------- photos

def test_bad_photos(capsys, tmp_path, earlier):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), textured_image(96, 64))
    truncated_png = tmp_path / "truncated.png"
    truncated_png.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    jpeg = tmp_path / "good.jpg"
    cv2.imwrite(str(jpeg), textured_image(96, 64))
    truncated_jpg = tmp_path / "truncated.jpg"
    truncated_jpg.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    folder = tmp_path / "folder.png"
    folder.mkdir()
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "gone.png")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    huge = tmp_path / "huge.png"
    _png_header(huge, 100000, 100000)
    text = tmp_path / "text.jpg"
    text.write_text("just some words")
    exr_named_png = tmp_path / "exr.png"
    exr_named_png.write_bytes(b"\x76\x2f\x31\x01" + b"\0" * 64)
    wrong_kind = tmp_path / "photo.gif"
    wrong_kind.write_bytes(b"GIF89a")
    cases = {empty: "damaged or not an image", truncated_png: "damaged or not an image",
             truncated_jpg: "damaged or not an image", folder: "holds no image.png",
             dangling: "not found", tiny: "1x1 pixels", huge: "megapixels", text: "damaged or not an image",
             exr_named_png: "damaged", wrong_kind: "unsupported photo format"}
    for path, words in cases.items():
        assert words in refused(capsys, str(path), "--hint", "1,1,5,5", out=earlier), path


def test_scene_folder_whose_image_is_a_folder(capsys, tmp_path, earlier):
    (tmp_path / "scene" / "image.png").mkdir(parents=True)
    assert "holds no image" in refused(capsys, str(tmp_path / "scene"), out=earlier)


def test_jpeg_is_decoded_reduced_under_size(tmp_path):
    from cine_core.io.images import load_photo

    rgb = cv2.resize(textured_image(96, 64), (768, 512), interpolation=cv2.INTER_CUBIC)
    path = str(tmp_path / "big.jpg")
    cv2.imwrite(path, rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])
    reduced = load_photo(path, max_side=96)  # decoded at 1/8 by libjpeg, never at full size
    full = cv2.resize(load_photo(path).uint8(), (96, 64), interpolation=cv2.INTER_AREA)
    assert reduced.size == (96, 64) and reduced.original_size == (768, 512) and reduced.scale == 0.125
    assert np.abs(reduced.uint8().astype(int) - full).mean() < 3


# ---------------------------------------------------------------------------- JSON files

def _labelme(**fields) -> dict:
    data = {"shapes": [{"label": "motion", "points": [[10, 30], [80, 30], [80, 60], [10, 60]]},
                       {"label": "hint0", "shape_type": "line", "points": [[20, 40], [50, 40]]}],
            "imageWidth": 96, "imageHeight": 64}
    data.update(fields)
    return data


@pytest.mark.parametrize("content, words", [
    ("[" * 100000 + "]" * 100000, "nests lists or objects more than 32 deep"),
    ("[" * 40 + "]" * 40, "more than 32 deep"),
    (b"\xff\xfe{\x00}\x00", "not UTF-8"),
    ("", "not valid JSON"),
    (json.dumps(_labelme(imageWidth="abc")), "imageWidth 'abc' is not a positive whole number"),
    (json.dumps(_labelme(imageWidth=-96, imageHeight=-64)), "not a positive whole number"),
    (json.dumps(_labelme(imageWidth=128000, imageHeight=72000)), "far larger than the photo"),
    (json.dumps(_labelme(imageWidth=True)), "not a positive whole number"),
    (json.dumps(_labelme(imageWidth=96.5)), "not a positive whole number"),
    (json.dumps(_labelme(shapes=[{"label": "hint0", "points": [[1, 1], [float("nan"), 2]]}])), "NaN"),
    ('{"shapes": [{"label": "hint0", "points": [[1, 1], [1e400, 2]]}]}', "malformed points"),
    (json.dumps(_labelme(shapes=[{"label": "motion", "points": [[0, 0], [1e7, 0], [0, 5]]}])), "far outside"),
    (json.dumps(_labelme(shapes=[{"label": "hint0", "points": [[10, 10], [900, 10]]}])), "far outside"),
    (json.dumps(_labelme(shapes=[{"label": "hint\x1b[31mred", "points": [[10, 10], [10, 10]]}])), "\\x1b[31mred"),
    (json.dumps(_labelme(shapes=[{"label": "hint0", "points": [[1, 2], [3, 4]]}] * 1001)), "at most 1000"),
    (json.dumps(_labelme(shapes=[[1, 2]])), "not a JSON object"),
    (json.dumps({"hints": [[1, 2, "x", 4]]}), "is not [x0, y0, x1, y1]"),
    (json.dumps({"hints": [[1, 2, 3]]}), "is not [x0, y0, x1, y1]"),
    (json.dumps({"hints": [[1, 2, 30, 4]], "size": [96]}), "'size' must be [width, height]"),
    (json.dumps({"hints": [[1, 2, 30, 4]], "size": [960000, 640000]}), "far larger"),
    (json.dumps({"hints": "up"}), "expected a list of arrows"),
    (json.dumps(42), "expected a list of arrows"),
    ('{"hints": [[1, 2, 3, ' + "9" * 5000 + "]]}", "not valid JSON"),
])
def test_bad_json(capsys, scene, tmp_path, earlier, content, words):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = refused(capsys, scene, "--annotation", str(path), out=earlier)
    assert words in line and "\x1b" not in line


def test_annotation_that_is_a_folder_or_missing(capsys, scene, tmp_path, earlier):
    assert "is a folder" in refused(capsys, scene, "--annotation", str(tmp_path), out=earlier)
    assert "not found" in refused(capsys, scene, "--annotation", str(tmp_path / "none.json"), out=earlier)


# ---------------------------------------------------------------------------- masks and depth

def test_a_mask_of_specks(capsys, scene, tmp_path, earlier):
    """Each separate moving piece is integrated on its own: thousands of specks are refused
    before any stage runs instead of exhausting memory."""
    specks = np.zeros((64, 96), np.uint8)
    specks[::2, ::2] = 255  # 1536 one-pixel pieces
    cv2.imwrite(str(tmp_path / "specks.png"), specks)
    line = refused(capsys, os.path.join(scene, "image.png"), "--mask", str(tmp_path / "specks.png"),
                   "--direction", "up", out=earlier)
    assert "falls apart into 1536 separate pieces (at most 256)" in line


def test_bad_masks(capsys, scene, tmp_path, earlier):
    photo = os.path.join(scene, "image.png")
    wrong = tmp_path / "wrong.png"
    cv2.imwrite(str(wrong), np.full((50, 50), 255, np.uint8))
    huge = tmp_path / "huge.png"
    _png_header(huge, 96000, 64000)
    truncated = tmp_path / "truncated.png"
    cv2.imwrite(str(truncated), np.full((64, 96), 255, np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:60])
    for path, words in ((wrong, "50x50 image but the photo is 96x64"), (huge, "megapixels"),
                        (truncated, "cannot read mask truncated.png"), (tmp_path, "is a folder")):
        assert words in refused(capsys, photo, "--mask", str(path), "--direction", "up", out=earlier)


def _npy_header_only(path, shape) -> None:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple(shape)}, }}".encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    with open(path, "wb") as handle:
        handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)


def test_bad_depth_files(capsys, scene, tmp_path, earlier):
    photo = os.path.join(scene, "image.png")
    cases = {}
    np.save(tmp_path / "nan.npy", np.full((64, 96), np.nan, np.float32))
    cases["nan.npy"] = "no finite depth values"
    np.save(tmp_path / "wrong.npy", np.ones((30, 30), np.float32))
    cases["wrong.npy"] = "they must show the same view"
    _npy_header_only(tmp_path / "bomb.npy", (100000, 100000))
    cases["bomb.npy"] = "megapixels"
    _npy_header_only(tmp_path / "short.npy", (64, 96))
    cases["short.npy"] = "cannot read short.npy"
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["obj.npy"] = "must hold numbers, got object"
    np.save(tmp_path / "text.npy", np.array([["a"] * 4] * 4))
    cases["text.npy"] = "must hold numbers"
    np.save(tmp_path / "flat.npy", np.ones(100, np.float32))
    cases["flat.npy"] = "must be a 2-D array"
    np.save(tmp_path / "empty.npy", np.ones((64, 96, 0), np.float32))
    cases["empty.npy"] = "must be a 2-D array"
    _npy_header_only(tmp_path / "deep.npy", (64, 96, 10**9))
    cases["deep.npy"] = "must be a 2-D array"
    (tmp_path / "bomb.pfm").write_bytes(b"Pf\n100000 100000\n-1\n" + b"\0" * 16)
    cases["bomb.pfm"] = "megapixels"
    (tmp_path / "scale.pfm").write_bytes(b"Pf\n96 64\nnan\n" + b"\0" * 96 * 64 * 4)
    cases["scale.pfm"] = "malformed PFM scale"
    (tmp_path / "short.pfm").write_bytes(b"Pf\n96 64\n-1\n" + b"\0" * 64)
    cases["short.pfm"] = "truncated"
    (tmp_path / "neg.pfm").write_bytes(b"Pf\n-96 64\n-1\n")
    cases["neg.pfm"] = "malformed PFM size"
    _png_header(tmp_path / "bomb.png", 96000, 64000)
    cases["bomb.png"] = "megapixels"
    (tmp_path / "zero.png").write_bytes(b"")
    cases["zero.png"] = "damaged or not an image"
    (tmp_path / "depth.bmp").write_bytes(b"BM")
    cases["depth.bmp"] = "unsupported depth format"
    for name, words in cases.items():
        assert words in refused(capsys, photo, "--depth", str(tmp_path / name), "--hint", "1,1,9,9",
                                out=earlier), name


def test_extreme_depth_values_stay_finite(tmp_path):
    from cine_core.depth.conditioning import condition_depth, raw_to_disparity

    raw = np.linspace(-3e38, 3e38, 64 * 96, dtype=np.float32).reshape(64, 96)
    raw[0, :10] = np.inf
    raw[1, :10] = np.nan
    for kind in ("disparity", "depth"):
        depth = condition_depth(raw_to_disparity(raw, kind), (96, 64)).depth
        assert bool(torch.isfinite(depth).all()) and float(depth.min()) >= 1.0


def test_exr_depth_is_read_after_its_header_is_checked(tmp_path):
    """docs/blender.md promises EXR depth maps; OpenCV reads them only when
    its OpenEXR decoder is enabled, which reading an .exr depth file does."""
    from cine_core.io.depth_files import read_depth_file

    values = np.linspace(1.0, 40.0, 64 * 96, dtype=np.float32).reshape(64, 96)
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # for writing the test file
    path = str(tmp_path / "depth.exr")
    assert cv2.imwrite(path, np.dstack([values] * 3))
    assert np.array_equal(read_depth_file(path), values)
    with open(path, "r+b") as handle:  # the header claims a huge data window
        data = handle.read()
        at = data.index(b"dataWindow\0box2i\0") + len(b"dataWindow\0box2i\0") + 4
        handle.seek(at)
        handle.write(struct.pack("<4i", 0, 0, 99999, 99999))
    with pytest.raises(CineError, match="megapixels"):
        read_depth_file(path)


# ---------------------------------------------------------------------------- prepared scenes

def _tampered(saved: str, tmp_path, change) -> str:
    """A scene file changed by ``change`` and signed again, as a crafted file would be: every
    field is still checked (the checksum only proves that a file is as it was written)."""
    record = torch.load(saved, weights_only=True)
    change(record)
    if "checksum" in record:
        record["checksum"] = record_checksum(record)
    path = str(tmp_path / "tampered.cine")
    torch.save(record, path)
    return path


def _meta(record, **changes) -> None:
    meta = json.loads(record["meta"])
    for key, value in changes.items():
        section, field = key.split("__")
        meta[section][field] = value
    record["meta"] = json.dumps(meta)


@pytest.mark.parametrize("change, words", [
    (lambda r: _meta(r, intrinsics__width=200000, intrinsics__height=100000), "intrinsics for 200000x100000"),
    (lambda r: _meta(r, intrinsics__fx=float("nan")), "NaN"),
    (lambda r: _meta(r, intrinsics__fx=-1), "intrinsics out of range"),
    (lambda r: _meta(r, intrinsics__cx="centre"), "intrinsics cx"),
    (lambda r: r.update(flow=torch.zeros(2, 10, 10)), "flow is not torch.float32 of shape (2, 64, 96)"),
    (lambda r: r.update(depth=torch.full((64, 96), float("nan"))), "depth holds NaN"),
    (lambda r: r.update(depth=torch.zeros(64, 96)), "depths of 0 or less"),
    (lambda r: r.update(photo=r["photo"].float()), "photo"),
    (lambda r: r.update(regions=-torch.ones(64, 96, dtype=torch.int32)), "negative region"),
    (lambda r: r.update(regions=torch.arange(64 * 96, dtype=torch.int32).reshape(64, 96)), "more than 256 regions"),
    (lambda r: r.update(depth=torch.ones(1).expand(64, 96)), "a view of less data than it claims"),
    (lambda r: r.update(edges=torch.zeros(7, dtype=torch.float64)), "edges"),
    (lambda r: r.update(extra=torch.zeros(1)), "unexpected or missing entries"),
    (lambda r: r.update(format=torch.tensor(99)), "another version"),
    (lambda r: r.update(meta="[" * 5000), "more than 32 deep"),
    (lambda r: r.update(meta=b"bytes"), "meta"),
    (lambda r: [r.pop(k) for k in list(r) if k.startswith("layer")], "0 layers"),
])
def test_tampered_prepared_scenes(capsys, saved, tmp_path, earlier, change, words):
    line = refused(capsys, _tampered(saved, tmp_path, change), out=earlier)
    assert words in line and "prepare the scene again" in line


def test_compressed_or_foreign_scene_files(capsys, saved, tmp_path, earlier):
    bomb = tmp_path / "bomb.cine"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            target.writestr(member.filename, source.read(member))
    assert "compressed data" in refused(capsys, str(bomb), out=earlier)
    for content in (b"", b"garbage", b"PK\x03\x04" + os.urandom(64)):
        (tmp_path / "foreign.cine").write_bytes(content)
        assert "not a readable prepared scene" in refused(capsys, str(tmp_path / "foreign.cine"), out=earlier)
    (tmp_path / "dir.cine").mkdir()
    assert "is a folder" in refused(capsys, str(tmp_path / "dir.cine"), out=earlier)


def test_prepare_options_with_a_prepared_scene(capsys, saved, earlier):
    assert "--size, --hint prepare a photo" in refused(capsys, saved, "--size", "32", "--hint", "1,1,5,5",
                                                       out=earlier)


def test_notes_in_a_scene_are_printed_safely(capsys, saved, tmp_path):
    path = _tampered(saved, tmp_path, lambda r: _meta(r, info__notes=["\x1b]0;owned\x07\x1b[2Jhello\nerror: fake"]))
    assert main(["render", path, "--out", str(tmp_path / "a.gif"), "--frames", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "hello\\nerror: fake" in err
    assert [line for line in err.splitlines() if line.strip()] == [line for line in err.splitlines()
                                                                   if line.startswith("note: ")]


# ---------------------------------------------------------------------------- output paths

def test_bad_output_paths(capsys, scene, tmp_path):
    (tmp_path / "clip.mp4").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    (tmp_path / "frames-file").write_text("x")
    cases = [(["--out", str(tmp_path / "clip.mp4")], "is an existing folder"),
             (["--out", str(tmp_path / "a-file" / "clip.mp4")], "is a file, not a folder"),
             (["--out", str(busy)], "holds other files than frames (notes.txt)"),
             (["--out", str(tmp_path / "frames-file")], "is a file; give a new folder name"),
             (["--out", str(tmp_path / "x.avi")], "use .mp4, .webm, .gif or a folder"),
             (["--save-scene", str(tmp_path / "s.pt"), "--out", str(tmp_path / "ok.gif")], "must end in .cine"),
             (["--save-scene", str(tmp_path / "a-file" / "s.cine"), "--out", str(tmp_path / "ok.gif")],
              "is a file, not a folder"),
             (["--save-scene", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "ok.gif")], "must end in .cine")]
    for args, words in cases:
        assert words in refused(capsys, scene, *args)
    assert (busy / "notes.txt").read_text() == "mine" and os.listdir(tmp_path / "clip.mp4") == []
    assert not os.path.exists(tmp_path / "clip.mp4.cine")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(capsys, scene, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert "cannot write in" in refused(capsys, scene, "--out", str(locked / "a.mp4"))
    finally:
        locked.chmod(0o700)


# ---------------------------------------------------------------------------- atomic outputs

def _frames(count: int, fail_after: int | None = None, error: type[BaseException] = KeyboardInterrupt):
    for index in range(count):
        if fail_after is not None and index == fail_after:
            raise error("stopped while writing")
        yield np.full((16, 24, 3), index * 20, np.uint8)


@pytest.mark.parametrize("error", [KeyboardInterrupt, CineError])
def test_interrupted_writing_keeps_the_earlier_output(tmp_path, error):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"earlier")
    folder = tmp_path / "frames"
    assert write_video(_frames(5), str(folder), 30) == 5
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    for out in (video, folder):
        with pytest.raises(error):
            write_video(_frames(8, fail_after=3, error=error), str(out), 30)
    assert video.read_bytes() == b"earlier"
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4", "frames"]  # no temporary left


def test_failed_writing_removes_the_folders_it_made(tmp_path):
    for out in (tmp_path / "new" / "deeper" / "clip.gif", tmp_path / "new" / "deeper" / "frames"):
        with pytest.raises(KeyboardInterrupt):
            write_video(_frames(8, fail_after=2), str(out), 30)
        assert os.listdir(tmp_path) == []


def test_a_new_frame_set_replaces_the_old_one_whole(tmp_path):
    folder = tmp_path / "frames"
    assert write_video(_frames(6), str(folder), 30) == 6
    assert write_video(_frames(3), str(folder), 30) == 3
    assert sorted(os.listdir(folder)) == [f"frame_{i:04d}.png" for i in range(3)]
    assert sorted(os.listdir(tmp_path)) == ["frames"]


def test_failed_scene_save_leaves_nothing(saved, tmp_path):
    scene = PreparedScene.load(saved)
    target = tmp_path / "taken.cine"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(CineError, match="cannot write .*taken.cine: Is a directory"):
        scene.save(str(target))  # a folder is in the way: torch.save succeeds, the move fails
    assert os.listdir(tmp_path) == ["taken.cine"] and (target / "keep").read_text() == "x"
    path = tmp_path / "ok.cine"
    path.write_bytes(b"earlier")
    scene.info["unserialisable"] = object()  # fails while the record is built
    with pytest.raises(TypeError):
        scene.save(str(path))
    assert path.read_bytes() == b"earlier" and sorted(os.listdir(tmp_path)) == ["ok.cine", "taken.cine"]


def test_failed_render_keeps_the_saved_scene_and_video_apart(capsys, scene, tmp_path):
    """A bad option found after preparing must not exist: every check runs before the work."""
    out = tmp_path / "out.mp4"
    refused(capsys, scene, "--save-scene", str(tmp_path / "s.cine"), "--camera", "ken-burns",
            "--end-crop", "500,500,10,10", out=str(out))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- model downloader

class _Mirror(http.server.BaseHTTPRequestHandler):
    """A weight mirror on 127.0.0.1: strong ETags, Range honoured only while If-Range matches
    (RFC 9110), optional redirects; ``log`` records (path, Range, If-Range)."""

    files: dict[str, bytes] = {}
    redirects: dict[str, str] = {}
    etags = True
    log: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        name = self.path.lstrip("/")
        self.log.append((name, self.headers.get("Range"), self.headers.get("If-Range")))
        if name in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[name])
            self.end_headers()
            return
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        wanted = self.headers.get("Range", "")
        same = self.headers.get("If-Range") in (None, etag)
        start = int(wanted[6:].split("-")[0]) if wanted.startswith("bytes=") and same else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if self.etags:
            self.send_header("ETag", etag)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """(http base URL, handler class, https base URL or None, environment trusting its cert)."""
    handler = type("Mirror", (_Mirror,), {"files": {}, "redirects": {}, "log": [], "etags": True})
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)]
    env = dict(os.environ)
    https_base = None
    if shutil.which("openssl"):
        cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
        made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                               "-addext", "subjectAltName=IP:127.0.0.1",
                               "-keyout", key, "-out", cert], capture_output=True)
        if made.returncode == 0:
            secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            secure.socket = context.wrap_socket(secure.socket, server_side=True)
            servers.append(secure)
            https_base = f"https://127.0.0.1:{secure.server_address[1]}"
            env["SSL_CERT_FILE"] = cert  # the download trusts this self-signed certificate only
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{servers[0].server_address[1]}", handler, https_base, env
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def models_cli(capsys, monkeypatch):
    """``install_deps.py --models ...`` in-process (its real ``main``); returns (code, stdout, stderr)."""
    import install_deps

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code = install_deps.main(["--models", "--timeout", "10", *args])
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)
    return run


def _manifest(tmp_path, *entries: dict) -> str:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"models": list(entries)}))
    return str(path)


def test_plain_http_is_refused_unless_allowed(tmp_path, mirror, models_cli):
    base, handler, _, _ = mirror
    handler.files = {"w.pth": b"weights" * 100}
    folder = tmp_path / "ckpts"
    refused_run = models_cli("--ckpts", str(folder), "--models-url-base", base,
                          "--models-manifest", _manifest(tmp_path, {"file": "w.pth", "urls": ["x"]}))
    assert refused_run.returncode == 2 and "refusing the plain-http URL" in refused_run.stderr
    assert "--allow-http" in refused_run.stderr and handler.log == [] and not folder.exists()
    in_table = models_cli("--ckpts", str(folder), "--models-manifest",
                       _manifest(tmp_path, {"file": "w.pth", "urls": [f"{base}/w.pth"]}))
    assert in_table.returncode == 1 and "refusing the plain-http URL" in in_table.stderr and handler.log == []
    allowed = models_cli("--ckpts", str(folder), "--models-url-base", base, "--allow-http",
                      "--models-manifest", _manifest(tmp_path, {"file": "w.pth", "urls": ["x"], "size": 700}))
    assert allowed.returncode == 0, allowed.stderr
    assert (folder / "w.pth").read_bytes() == b"weights" * 100 and os.listdir(folder) == ["w.pth"]


def test_https_download_and_no_downgrade_on_redirect(tmp_path, mirror, models_cli):
    base, handler, https_base, env = mirror
    if https_base is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    payload = os.urandom(50_000)
    handler.files = {"w.pth": payload}
    handler.redirects = {"moved.pth": f"{base}/w.pth"}
    folder = tmp_path / "ckpts"
    manifest = _manifest(tmp_path, {"file": "w.pth", "urls": [f"{https_base}/w.pth"],
                                    "sha256": hashlib.sha256(payload).hexdigest()},
                         {"file": "moved.pth", "urls": [f"{https_base}/moved.pth"]})
    result = models_cli("--ckpts", str(folder), "--models-manifest", manifest, env=env)
    assert (folder / "w.pth").read_bytes() == payload
    assert result.returncode == 1 and "moved.pth" in result.stderr and "refusing the plain-http URL" in result.stderr
    assert [entry[0] for entry in handler.log].count("w.pth") == 1  # the redirect was not followed
    assert sorted(os.listdir(folder)) == ["w.pth"]


def test_resume_only_while_the_server_has_the_same_file(tmp_path, mirror, models_cli):
    base, handler, _, _ = mirror
    old, new = os.urandom(90_000), os.urandom(120_000)
    handler.files = {"w.pth": new}
    folder = tmp_path / "ckpts"
    folder.mkdir()
    # A part file from an earlier run of another version of the file: If-Range quotes the old
    # ETag, the server answers with the whole new file, and the result is the new file exactly.
    (folder / "w.pth.part").write_bytes(old[:30_000])
    (folder / "w.pth.part.json").write_text(json.dumps({"url": f"{base}/w.pth", "validator": '"old"',
                                                         "total": len(old)}))
    manifest = _manifest(tmp_path, {"file": "w.pth", "urls": ["x"]})
    result = models_cli("--ckpts", str(folder), "--models-url-base", base, "--allow-http",
                        "--models-manifest", manifest)
    assert result.returncode == 0, result.stderr
    assert handler.log == [("w.pth", "bytes=30000-", '"old"')]
    assert (folder / "w.pth").read_bytes() == new and os.listdir(folder) == ["w.pth"]
    # The same file still there: resumed where it stopped.
    (folder / "w.pth").unlink()
    (folder / "w.pth.part").write_bytes(new[:50_000])
    etag = f'"{hashlib.sha256(new).hexdigest()[:16]}"'
    (folder / "w.pth.part.json").write_text(json.dumps({"url": f"{base}/w.pth", "validator": etag}))
    handler.log.clear()
    assert models_cli("--ckpts", str(folder), "--models-url-base", base, "--allow-http",
                   "--models-manifest", manifest).returncode == 0
    assert handler.log == [("w.pth", "bytes=50000-", etag)] and (folder / "w.pth").read_bytes() == new
    # No validator and no published hash: nothing proves it is the same file, so start again.
    (folder / "w.pth").unlink()
    (folder / "w.pth.part").write_bytes(old[:30_000])
    handler.log.clear()
    assert models_cli("--ckpts", str(folder), "--models-url-base", base, "--allow-http",
                   "--models-manifest", manifest).returncode == 0
    assert handler.log == [("w.pth", None, None)] and (folder / "w.pth").read_bytes() == new


def test_wrong_size_is_deleted(tmp_path, mirror, models_cli):
    base, handler, _, _ = mirror
    handler.files = {"w.pth": b"x" * 1000}
    folder = tmp_path / "ckpts"
    result = models_cli("--ckpts", str(folder), "--models-url-base", base, "--allow-http",
                     "--models-manifest", _manifest(tmp_path, {"file": "w.pth", "urls": ["x"], "size": 999}))
    assert result.returncode == 1 and "size 1000 bytes instead of 999" in result.stderr
    assert os.listdir(folder) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as on Linux")
def test_a_full_disk_stops_the_download_and_keeps_nothing(tmp_path, mirror):
    """The file-size limit makes writing the weights fail as a full disk does: no retry, the part
    file deleted (it holds the space), an earlier weight file kept, one line saying why."""
    import resource

    base, handler, _, _ = mirror
    handler.files = {"big.pth": os.urandom(300_000)}
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / "earlier.pth").write_bytes(b"earlier weights")
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "install_deps.py"), "--models", "--ckpts", str(folder), "--timeout", "10",
         "--models-url-base", base, "--allow-http", "--models-manifest",
         _manifest(tmp_path, {"file": "big.pth", "urls": ["x"]})],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard)),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"error: big.pth: no room to write big.pth in {folder} (File too large); nothing was kept" in result.stderr
    assert "resuming" not in result.stderr and len(handler.log) == 1
    assert sorted(os.listdir(folder)) == ["earlier.pth"] and (folder / "earlier.pth").read_bytes() == b"earlier weights"


@pytest.mark.parametrize("name", ["../evil.pth", "/tmp/evil.pth", "sub/evil.pth", ".hidden", "a\\..\\b",
                                  "x" * 300, "", 7, "w.pth.part"])
def test_file_names_that_would_leave_the_folder(tmp_path, mirror, models_cli, name):
    base, handler, _, _ = mirror
    result = models_cli("--ckpts", str(tmp_path / "ckpts"), "--models-url-base", base, "--allow-http",
                     "--models-manifest", _manifest(tmp_path, {"file": name, "urls": ["x"]}))
    assert result.returncode == 2 and "refusing the file name" in result.stderr
    assert "Traceback" not in result.stderr and handler.log == [] and not (tmp_path / "ckpts").exists()


def test_bad_manifests(tmp_path, models_cli):
    for content, words in (("{", "cannot read the manifest"), ("[]", "expected"),
                           (json.dumps({"models": [{"file": "a.pth", "urls": "https://x"}]}), "list of strings"),
                           (json.dumps({"models": [{"file": "a.pth", "urls": ["https://x"], "size": -1}]}), "'size'"),
                           (json.dumps({"models": [{"file": "a.pth", "urls": ["https://x"], "sha256": "zz"}]}),
                            "hexadecimal"),
                           (json.dumps({"models": [{"file": "a.pth", "archive": "b.zip"}]}), "not in 'archives'")):
        (tmp_path / "m.json").write_text(content)
        result = models_cli("--ckpts", str(tmp_path / "ckpts"), "--models-manifest", str(tmp_path / "m.json"))
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, content


def test_python_versions():
    import install_deps

    assert install_deps.python_problem((3, 11), with_tests=True) is None
    assert "published for Python 3.11 only" in install_deps.python_problem((3, 13), with_tests=True)
    assert install_deps.python_problem((3, 13), with_tests=False) is None  # Blender 5.1's Python
    assert "too old" in install_deps.python_problem((3, 10), with_tests=False)


# ---------------------------------------------------------------------------- what the docs promise

def test_the_same_input_gives_the_same_video_on_the_cpu(scene, tmp_path):
    """README: no stage draws random numbers; on the CPU a render is repeatable bit for bit."""
    outputs = []
    for run, seed in enumerate(("0", "12345")):
        out = tmp_path / f"run{run}"
        assert main(["render", scene, "--out", str(out), "--frames", "3", "--seed", seed, "--device", "cpu",
                     "--quiet"]) == 0
        outputs.append({name: (out / name).read_bytes() for name in sorted(os.listdir(out))})
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3


@pytest.mark.parametrize("out_name, signum", [("clip.mp4", signal.SIGINT), ("frames", signal.SIGTERM)])
def test_ctrl_c_or_kill_while_writing(scene, tmp_path, out_name, signum):
    """A real process stopped while it writes (Ctrl-C reaches the whole process group, ffmpeg
    included; a kill only the tool): the earlier output stays, no temporary is left."""
    out = tmp_path / out_name
    if out_name == "frames":
        out.mkdir()
        (out / "frame_0000.png").write_bytes(b"earlier")
    else:
        out.write_bytes(b"earlier")
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_WAIT_POLICY="PASSIVE")
    # A test run started in the background (CI, `cmd &`) inherits an ignored SIGINT, which the
    # tool would keep; a user's Ctrl-C reaches a tool started in the foreground, as here.
    process = subprocess.Popen([sys.executable, "-m", "cine_core", "render", scene, "--out", str(out),
                                "--frames", "1000", "--quiet"], cwd=ROOT, env=env, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(n.startswith(PARTIAL_PREFIX) for n in os.listdir(tmp_path)) and process.poll() is None:
        assert time.monotonic() < deadline, "the render never started writing"
        time.sleep(0.05)
    time.sleep(0.3)  # some frames into the temporary
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert "was not written" in err
    assert sorted(os.listdir(tmp_path)) == [out_name]
    assert (out / "frame_0000.png" if out.is_dir() else out).read_bytes() == b"earlier"


def test_frame_folder_given_as_a_link(tmp_path):
    """--out names a link to a folder of frames: the link is replaced by the new folder, the
    frames it pointed to stay, and nothing temporary is left."""
    real = tmp_path / "real"
    assert write_video(_frames(2), str(real), 30) == 2
    link = tmp_path / "frames"
    link.symlink_to(real, target_is_directory=True)
    assert write_video(_frames(3), str(link), 30) == 3
    assert not link.is_symlink() and len(os.listdir(link)) == 3 and len(os.listdir(real)) == 2
    assert sorted(os.listdir(tmp_path)) == ["frames", "real"]


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy module")
def test_exr_written_by_blender_is_read(tmp_path):
    """docs/blender.md: a depth map saved by Blender as OpenEXR (float image) is read as stored."""
    path = str(tmp_path / "blender.exr")
    script = (
        "import bpy, numpy as np\n"
        "image = bpy.data.images.new('depth', 48, 32, float_buffer=True)\n"
        "values = np.linspace(1.0, 40.0, 48, dtype=np.float32)[None, :].repeat(32, 0)\n"
        "pixels = np.dstack([values, values, values, np.ones_like(values)])\n"
        "image.pixels.foreach_set(pixels.ravel())\n"
        "settings = bpy.context.scene.render.image_settings\n"
        "settings.file_format, settings.color_mode, settings.color_depth = 'OPEN_EXR', 'BW', '32'\n"
        f"image.save_render({path!r}, scene=bpy.context.scene)\n")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
    from cine_core.io.depth_files import read_depth_file

    depth = read_depth_file(path)
    assert depth.shape == (32, 48)
    assert np.allclose(depth[0], np.linspace(1.0, 40.0, 48), rtol=1e-5) and np.allclose(depth[0], depth[-1])


# ---------------------------------------------------------------------------- second round (issue 23)

def test_a_flipped_bit_in_a_scene_is_found(capsys, saved, tmp_path, earlier):
    """One bit of array data flipped on disk: the checksum refuses the file; an old file without a
    checksum still renders."""
    with open(saved, "rb") as handle:
        data = bytearray(handle.read())
    with zipfile.ZipFile(saved) as archive:  # flip a bit in the middle of the depth's bytes
        record = torch.load(saved, weights_only=True)
        depth_bytes = record["depth"].numpy().tobytes()
        member = next(m for m in archive.infolist() if archive.read(m) == depth_bytes)
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    data[start + member.file_size // 2] ^= 0x10
    damaged = tmp_path / "damaged.cine"
    damaged.write_bytes(bytes(data))
    line = refused(capsys, str(damaged), out=earlier)
    assert "damaged.cine is damaged: its data does not match its checksum; prepare the scene again" in line
    record.pop("checksum")
    torch.save(record, str(tmp_path / "old.cine"))  # as written before the checksum existed
    assert main(["render", str(tmp_path / "old.cine"), "--out", str(tmp_path / "old.gif"), "--frames", "2",
                 "--quiet"]) == 0


@pytest.mark.parametrize("option", ["input", "--annotation", "--mask", "--depth", "cine"])
def test_special_files_are_not_regular_files(capsys, scene, tmp_path, earlier, option):
    photo = os.path.join(scene, "image.png")  # alone: the folder's own annotation would win over --mask
    pipe = tmp_path / ("pipe.cine" if option == "cine" else "pipe.png")
    os.mkfifo(pipe)
    for special, words in ((str(pipe), "is a named pipe, not a regular file"),
                           ("/dev/zero", "is a device, not a regular file")):
        if option in ("input", "cine"):
            args = [special] if option == "input" or special != "/dev/zero" else []
        else:
            args = [photo, option, special]
        if args:
            assert words in refused(capsys, *args, out=earlier)
    if option != "input":  # a folder as input is a scene folder
        folder = tmp_path / ("dir.cine" if option == "cine" else "dir")
        folder.mkdir()
        args = [str(folder)] if option == "cine" else [photo, option, str(folder)]
        assert "is a folder, not a regular file" in refused(capsys, *args, out=earlier)


def test_a_size_that_leaves_a_side_under_16_pixels(capsys, tmp_path, earlier):
    """A 4000x16 panorama: --size 64 would make it 64x1; refused, naming the size that keeps 16
    pixels. Without --size the default cap is widened to keep them, and the clip renders the
    same every time (frames of a thin photo were black or grey from run to run)."""
    photo = tmp_path / "pano.png"
    cv2.imwrite(str(photo), textured_image(4000, 16)[:, :, ::-1])
    for camera in ("static", "circle"):
        line = refused(capsys, str(photo), "--size", "64", "--camera", camera, out=earlier)
        assert line == ("error: --size: 64 would shrink this 4000x16 photo to 64x1 pixels; a side needs at least "
                        "16: use 3875 or more")
    clips = []
    for run in range(2):
        out = tmp_path / f"pano{run}"
        assert main(["render", str(photo), "--out", str(out), "--frames", "2", "--camera", "static",
                     "--no-auto-motion", "--quiet"]) == 0
        clips.append([cv2.imread(str(out / name)) for name in sorted(os.listdir(out))])
    assert clips[0][0].shape == (16, 3875, 3)
    assert all(np.array_equal(a, b) for a, b in zip(*clips)) and clips[0][0].std() > 10


def test_a_run_that_would_not_fit_in_memory_is_refused(capsys, tmp_path, earlier, monkeypatch):
    """The estimate against the memory available (here set by CINE_CORE_MEMORY_LIMIT): refused
    at once, naming the --size that fits; that size then runs."""
    photo = tmp_path / "big.jpg"
    cv2.imwrite(str(photo), cv2.resize(textured_image(300, 200), (6000, 4000)))
    monkeypatch.setenv("CINE_CORE_MEMORY_LIMIT", "400M")
    line = refused(capsys, str(photo), out=earlier)
    assert line.startswith("error: --size: this run needs about ") and "at 1024x683 pixels with 60 frames, but " \
           "400 MB is available; " in line and line.endswith(" or less fits")
    fitting = int(line.rsplit("; ", 1)[1].split()[0])
    assert 128 < fitting < 1024
    monkeypatch.setenv("CINE_CORE_MEMORY_LIMIT", "560K")  # only the smallest size, with a shorter loop
    assert re.search(r"^error: --frames: .*; \d+ frames or fewer fit at a size limit of 24$",
                     refused(capsys, str(photo), out=earlier))
    monkeypatch.setenv("CINE_CORE_MEMORY_LIMIT", "100K")  # nothing fits
    assert refused(capsys, str(photo), out=earlier).endswith("; free some memory")
    monkeypatch.setenv("CINE_CORE_MEMORY_LIMIT", "lots")
    assert "CINE_CORE_MEMORY_LIMIT=lots is not an amount of memory" in refused(capsys, str(photo), out=earlier)
    monkeypatch.setenv("CINE_CORE_MEMORY_LIMIT", "400M")
    out = tmp_path / "fits.gif"
    assert main(["render", str(photo), "--size", str(fitting), "--frames", "2", "--out", str(out), "--quiet"]) == 0


def test_a_depth_file_matches_a_photo_shrunk_to_a_few_dozen_pixels():
    """A depth map at the photo's 44x81 and the photo shrunk to 17x32: rounding to whole pixels
    moves the aspect by 2.2 %, which is still the same view (the soak test found it refused)."""
    from cine_core.depth.conditioning import check_same_view

    check_same_view((81, 44), (17, 32))
    with pytest.raises(CineError, match="the depth map is 44x81 but the photo is 20x32"):
        check_same_view((81, 44), (20, 32))
