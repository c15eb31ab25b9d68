"""Reading photos, annotations and depth maps, including the bad inputs users produce."""
from __future__ import annotations

import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from cine_core.io.annotations import parse_hint, read_arrows_json, read_labelme, read_mask_image
from cine_core.depth.conditioning import condition_depth, raw_to_disparity
from cine_core.io.depth_files import read_depth_file
from cine_core.motion.directions import parse_direction
from cine_core.errors import CineError
from cine_core.io.images import load_photo

from conftest import textured_image


def test_png_8_and_16_bit_grey_and_rgba(tmp_path):
    rgb = textured_image()
    path8 = str(tmp_path / "a.png")
    cv2.imwrite(path8, rgb[:, :, ::-1])
    photo = load_photo(path8)
    assert photo.size == (96, 64) and photo.scale == 1.0
    assert np.array_equal(photo.uint8(), rgb)
    path16 = str(tmp_path / "b.png")
    cv2.imwrite(path16, rgb[:, :, ::-1].astype(np.uint16) * 257)
    assert np.abs(load_photo(path16).uint8().astype(int) - rgb).max() <= 1
    grey = str(tmp_path / "g.png")
    cv2.imwrite(grey, rgb[:, :, 0])
    loaded = load_photo(grey).uint8()
    assert np.array_equal(loaded[:, :, 0], loaded[:, :, 2]) and np.array_equal(loaded[:, :, 0], rgb[:, :, 0])
    rgba = np.dstack([rgb[:, :, ::-1], np.zeros((64, 96), np.uint8)])
    rgba[:, :48, 3] = 255
    path_a = str(tmp_path / "c.png")
    cv2.imwrite(path_a, rgba)
    out = load_photo(path_a).uint8()
    assert np.array_equal(out[:, :48], rgb[:, :48]) and out[:, 48:].max() == 0


def test_jpeg_webp_tiff_and_exif_orientation(tmp_path):
    rgb = textured_image(96, 64)
    for ext in ("jpg", "webp", "tif"):
        path = str(tmp_path / f"p.{ext}")
        Image.fromarray(rgb).save(path, quality=95) if ext != "tif" else Image.fromarray(rgb).save(path)
        assert load_photo(path).size == (96, 64)
    # Orientation 6: the camera was rotated; viewers turn the stored image 90 degrees clockwise.
    path = str(tmp_path / "rotated.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    photo = load_photo(path)
    assert photo.size == (64, 96) and photo.original_size == (64, 96)
    upright = str(tmp_path / "upright.jpg")
    Image.fromarray(rgb).save(upright, quality=95)  # same JPEG losses, no orientation tag
    expected = np.rot90(load_photo(upright).uint8(), k=-1)
    assert np.abs(photo.uint8().astype(int) - expected).max() <= 2


def test_size_caps_long_side(tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, textured_image(96, 64))
    photo = load_photo(path, max_side=48)
    assert photo.size == (48, 32) and photo.original_size == (96, 64) and photo.scale == 0.5


def _png_header_only(path: str, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def test_bad_photos_give_one_line_errors(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    huge = str(tmp_path / "huge.png")
    _png_header_only(huge, 40000, 30000)
    cases = {str(corrupt): "damaged", huge: "megapixels", str(tmp_path / "missing.png"): "not found",
             str(tmp_path / "x.bmpx"): "unsupported"}
    (tmp_path / "x.bmpx").write_bytes(b"abc")
    for path, words in cases.items():
        with pytest.raises(CineError, match=words) as info:
            load_photo(path)
        assert "\n" not in str(info.value)


def test_labelme_real_world_mess(tmp_path):
    path = tmp_path / "image.json"
    shapes = [
        {"label": "motion", "shape_type": "polygon", "points": [[10, 10], [50, 10], [50, 40], [10, 40]]},
        {"label": "motion_2", "shape_type": "rectangle", "points": [[60, 10], [80, 30]]},
        {"label": "hint0", "shape_type": "line", "points": [[20, 20], [40, 25]]},
        {"label": "Hint1 ", "shape_type": "polygon", "points": [[30, 30], [35, 31], [38, 33], [45, 36]]},
        {"label": "tree", "shape_type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]},
    ]
    path.write_text(json.dumps({"shapes": shapes, "imagePath": "gone.jpg", "imageData": "xx",
                                "imageWidth": 96, "imageHeight": 64}))
    annotation = read_labelme(str(path), (96, 64))
    assert annotation.mask[20, 30] and annotation.mask[20, 70] and not annotation.mask[50, 5]
    assert [(h.start, h.end) for h in annotation.hints] == [((20, 20), (40, 25)), ((30, 30), (45, 36))]
    # Coordinates stay in original pixels; at_size maps them.
    half = annotation.at_size(48, 32)
    assert half.hints[0].start == (10, 10) and half.mask.shape == (32, 48)


def test_bad_annotations(tmp_path):
    not_json = tmp_path / "a.json"
    not_json.write_text("{oops")
    with pytest.raises(CineError, match="not valid JSON"):
        read_labelme(str(not_json), (96, 64))
    wrong = tmp_path / "b.json"
    wrong.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CineError, match="not a labelme"):
        read_labelme(str(wrong), (96, 64))
    other_size = tmp_path / "c.json"
    other_size.write_text(json.dumps({"shapes": [], "imageWidth": 100, "imageHeight": 100}))
    with pytest.raises(CineError, match="100x100"):
        read_labelme(str(other_size), (96, 64))
    broken_points = tmp_path / "d.json"
    broken_points.write_text(json.dumps({"shapes": [{"label": "hint0", "points": "x"}]}))
    with pytest.raises(CineError, match="points"):
        read_labelme(str(broken_points), (96, 64))
    zero = tmp_path / "e.json"
    zero.write_text(json.dumps({"shapes": [{"label": "hint0", "points": [[1, 1], [1, 1]]}]}))
    with pytest.raises(CineError, match="shorter than 0.5 pixel"):
        read_labelme(str(zero), (96, 64))
    short = tmp_path / "e2.json"  # a click, not a drag: the add-on's drawing refuses it too
    short.write_text(json.dumps({"shapes": [{"label": "hint0", "points": [[1, 1], [1.3, 1.2]]}]}))
    with pytest.raises(CineError, match="shorter than 0.5 pixel"):
        read_labelme(str(short), (96, 64))
    arrows = tmp_path / "f.json"
    arrows.write_text(json.dumps([{"start": [1, 2], "end": [3, 4]}, "bad"]))
    with pytest.raises(CineError, match="arrow"):
        read_arrows_json(str(arrows), (96, 64))
    with pytest.raises(CineError, match="four numbers"):
        parse_hint("1,2,3")


def test_mask_image_and_arrow_json(tmp_path):
    mask = np.zeros((64, 96), np.uint8)
    mask[20:40, 30:60] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    annotation = read_mask_image(str(tmp_path / "m.png"), (96, 64))
    assert annotation.mask.sum() == 20 * 30
    (tmp_path / "h.json").write_text(json.dumps({"hints": [[1, 2, 30, 4]]}))
    arrows = read_arrows_json(str(tmp_path / "h.json"), (96, 64))
    assert arrows.hints[0].end == (30, 4) and arrows.mask is None
    (tmp_path / "broken.png").write_bytes(b"nope")
    with pytest.raises(CineError, match="cannot read mask"):
        read_mask_image(str(tmp_path / "broken.png"), (96, 64))


def test_depth_files(tmp_path):
    values = np.linspace(-0.5, 20.0, 64 * 96, dtype=np.float32).reshape(64, 96)
    pfm = tmp_path / "d.pfm"
    with open(pfm, "wb") as handle:  # rows bottom-to-top, little endian, as DPT writes them
        handle.write(b"Pf\n96 64\n-1\n" + np.flipud(values).astype("<f4").tobytes())
    assert np.array_equal(read_depth_file(str(pfm)), values)
    np.save(tmp_path / "d.npy", values)
    assert np.array_equal(read_depth_file(str(tmp_path / "d.npy")), values)
    png = (np.linspace(0, 65535, 64 * 96).reshape(64, 96)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), png)
    assert np.array_equal(read_depth_file(str(tmp_path / "d.png")), png.astype(np.float32))
    truncated = tmp_path / "t.pfm"
    truncated.write_bytes(b"Pf\n96 64\n-1\n" + b"\0" * 100)
    with pytest.raises(CineError, match="truncated"):
        read_depth_file(str(truncated))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CineError):
        read_depth_file(str(tmp_path / "obj.npy"))


def test_depth_conditioning_is_robust():
    raw = np.linspace(-3.0, 500.0, 64 * 96, dtype=np.float32).reshape(64, 96)  # negative like DPT
    raw[0, 0] = 1e9  # an outlier
    depth = condition_depth(raw_to_disparity(raw, "disparity"), (96, 64), max_depth=50).depth
    assert depth.shape == (64, 96) and float(depth.min()) >= 1.0 and float(depth.max()) <= 50.0
    assert float(depth[-1, -1]) == pytest.approx(1.0, abs=0.05)  # nearest (largest disparity) -> 1
    as_depth = condition_depth(raw_to_disparity(np.abs(raw) + 1, "depth"), (96, 64)).depth
    assert float(as_depth[-1, -1]) > float(as_depth[0, 1])  # larger depth stays farther
    with pytest.raises(CineError, match="disparity"):
        raw_to_disparity(-np.ones((4, 4), np.float32), "depth")
    with pytest.raises(CineError, match="same view"):
        condition_depth(np.ones((64, 64), np.float32), (96, 64))


def test_direction_words():
    dx, dy, speed = parse_direction("left to right, downwards")
    assert dx == pytest.approx(2 ** -0.5) and dy == pytest.approx(2 ** -0.5) and speed == 1.0
    assert parse_direction("slowly to the left")[:3] == (-1.0, 0.0, 0.5)
    assert parse_direction("up")[:2] == (0.0, -1.0)
    with pytest.raises(CineError, match="cannot understand"):
        parse_direction("sideways-ish wobble")
    with pytest.raises(CineError, match="no direction"):
        parse_direction("left to right and right to left")


def test_running_out_of_memory_is_recognised():
    import torch

    from cine_core.errors import is_out_of_memory

    caught = []
    for allocate in (lambda: torch.empty(10**13), lambda: np.empty(10**13)):  # 40 TB, 80 TB
        with pytest.raises(Exception) as info:
            allocate()
        caught.append(info.value)
    # PyTorch's CPU allocator raises a RuntimeError, NumPy a MemoryError: both are out of memory.
    assert isinstance(caught[0], RuntimeError) and isinstance(caught[1], MemoryError)
    assert all(is_out_of_memory(exc) for exc in caught)
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(CineError("x"))
