"""Motion from a video of the scene: real video files (H.264, VP9) with a known motion, written
with imageio/ffmpeg, read back through the core and the CLI."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

from conftest import run_cli, shaken_clip_frames, textured_image, write_clip
from cine_core.errors import CineError
from cine_core.io import video
from cine_core.io.annotations import HintArrow, MotionAnnotation
from cine_core.motion import from_video
from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene, with_motion
from cine_core.scene import PreparedScene

CLIP_SIZE = (320, 192)
#: The sliding texture: pixels per clip frame, and where it shows (frame-0 pixels of the clip).
VELOCITY = (1.5, 0.5)
REGION = (100, 40, 260, 150)
#: The photo: the clip's first frame, 1.5 times larger, its 30 rightmost columns cut off
#: (another size and aspect).
PHOTO_SCALE = 1.5
PHOTO_SIZE = (round(CLIP_SIZE[0] * PHOTO_SCALE) - 30, round(CLIP_SIZE[1] * PHOTO_SCALE))


def photo_region(margin: float = 0.0) -> np.ndarray:
    """(H, W) bool: the sliding region in the photo's pixels, shrunk (margin > 0) or grown."""
    x0, y0, x1, y1 = (v * PHOTO_SCALE for v in REGION)
    ys, xs = np.mgrid[0:PHOTO_SIZE[1], 0:PHOTO_SIZE[0]]
    return (xs >= x0 + margin) & (xs < x1 - margin) & (ys >= y0 + margin) & (ys < y1 - margin)


@pytest.fixture(scope="module")
def handheld(tmp_path_factory) -> dict:
    """A shaken 30 fps H.264 clip of a sliding texture, and the photo of the same view."""
    folder = tmp_path_factory.mktemp("handheld")
    frames, first = shaken_clip_frames(*CLIP_SIZE, 40, VELOCITY, REGION, shake_px=3.0, shake_deg=0.25)
    clip = write_clip(str(folder / "clip.mp4"), frames, fps=30.0)
    photo = cv2.resize(first, (round(CLIP_SIZE[0] * PHOTO_SCALE), PHOTO_SIZE[1]), interpolation=cv2.INTER_CUBIC)
    photo_path = str(folder / "photo.png")
    cv2.imwrite(photo_path, np.ascontiguousarray(photo[:, :PHOTO_SIZE[0], ::-1]))
    return {"clip": clip, "photo": photo_path, "folder": folder}


def as_tensor(path: str) -> torch.Tensor:
    return torch.from_numpy(cv2.imread(path)[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255.0


def test_a_shaken_clip_gives_its_flow_back_in_the_photos_pixels_and_frame_rate(handheld):
    motion = from_video.video_motion(as_tensor(handheld["photo"]), handheld["clip"], output_fps=24.0)
    flow = motion.flow.numpy()
    # Clip pixels per clip frame -> photo pixels (x1.5) per output frame (30 / 24 clip frames).
    expected = np.array(VELOCITY) * PHOTO_SCALE * 30.0 / 24.0
    measured = flow[:, photo_region(margin=12)].mean(axis=1)
    assert np.linalg.norm(measured - expected) <= 0.1 * np.linalg.norm(expected), (measured, expected)
    # Direction pixel by pixel, not only on average.
    inner = flow[:, photo_region(margin=12)]
    assert np.percentile(np.linalg.norm(inner - expected[:, None], axis=0), 90) < 0.25 * np.linalg.norm(expected)
    # The moving region is the sliding rectangle; the shaken still texture around it stays still.
    moving = motion.regions > 0
    truth = photo_region()
    assert (moving & truth).sum() / (moving | truth).sum() > 0.85
    assert not moving[~photo_region(margin=-12)].any()
    assert "shake up to" in motion.summary and motion.covered.all()


def test_prepare_scene_takes_the_clip_and_the_scene_stores_the_flow_not_the_clip(handheld, tmp_path):
    inputs = SceneInputs(photo=handheld["photo"], motion_video=handheld["clip"])
    options = PrepareOptions(backend="classical", fps=30.0)
    scene = prepare_scene(inputs, options)
    assert scene.info["stages"]["flow"].startswith("motion video")
    assert "moves" in scene.info["motion_video"]
    expected = np.linalg.norm(np.array(VELOCITY) * PHOTO_SCALE)
    speed = scene.flow.norm(dim=0)[torch.from_numpy(photo_region(margin=20))].mean()
    assert float(speed) == pytest.approx(expected, rel=0.1)
    assert not bool(scene.motion_mask[torch.from_numpy(~photo_region(margin=-12))].any())
    # --flow-scale multiplies the clip's speed.
    faster = prepare_scene(inputs, PrepareOptions(backend="classical", fps=30.0, flow_scale=2.0))
    assert torch.allclose(faster.flow, 2.0 * scene.flow, atol=1e-4)
    saved = str(tmp_path / "scene.cine")
    scene.save(saved)
    loaded = PreparedScene.load(saved)
    assert torch.equal(loaded.flow, scene.flow)
    assert os.path.getsize(saved) < os.path.getsize(handheld["clip"]) + 8 * scene.photo.numel() * 4


def test_the_users_mask_and_arrows_win_where_given(handheld):
    scene = prepare_scene(SceneInputs(photo=handheld["photo"]),
                          PrepareOptions(backend="classical", require_motion=False, auto_motion=False))
    width, height = scene.size
    # A mask over the left half of the sliding region only: that is what moves, at the clip's speed.
    mask = np.zeros((height, width), bool)
    x0, y0, x1, y1 = (round(v * PHOTO_SCALE) for v in REGION)
    mask[y0:y1, x0:(x0 + x1) // 2] = True
    masked = with_motion(scene, MotionAnnotation((width, height), mask), motion_video=handheld["clip"],
                         backend="classical")
    assert not bool(masked.motion_mask[torch.from_numpy(~mask)].any())
    inner = torch.zeros(height, width, dtype=torch.bool)
    inner[y0 + 15:y1 - 15, x0 + 15:(x0 + x1) // 2 - 15] = True
    assert float(masked.flow[0][inner].mean()) == pytest.approx(VELOCITY[0] * PHOTO_SCALE, rel=0.1)
    # An arrow inside the clip's region sets that region's velocity (upwards, 1 px per frame).
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    arrow = HintArrow(centre, (centre[0], centre[1] - 200.0))
    steered = with_motion(scene, MotionAnnotation((width, height), None, [arrow]), motion_video=handheld["clip"],
                          backend="classical")
    middle = torch.from_numpy(photo_region(margin=25))
    assert float(steered.flow[1][middle].mean()) == pytest.approx(-1.0, rel=0.1)
    assert float(steered.flow[0][middle].abs().mean()) < 0.05


def test_clip_formats_and_streaming(tmp_path):
    frames, _ = shaken_clip_frames(160, 96, 6, (1.0, 0.0), (40, 20, 120, 80), shake_px=0.0, shake_deg=0.0)
    for name in ("clip.webm", "clip.mov"):
        path = write_clip(str(tmp_path / name), frames, fps=25.0)
        header = video.read_clip_header(path)
        assert header.size == (160, 96) and header.fps == pytest.approx(25.0)
        read = list(video.stream_clip(path, (80, 48), 100))
        assert len(read) == 6 and read[0].shape == (48, 80) and read[0].dtype == np.uint8
        # Downscaled by ffmpeg as read: the frames are the clip's, averaged over 2x2 pixels.
        grey = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
        small = cv2.resize(grey, (80, 48), interpolation=cv2.INTER_AREA)
        assert np.abs(read[0].astype(int) - small).mean() < 6
    with pytest.raises(CineError, match="more than 3 frames"):
        list(video.stream_clip(path, (80, 48), 3))


def test_too_large_and_too_long_clips_are_refused_before_decoding(tmp_path, monkeypatch):
    path = write_clip(str(tmp_path / "clip.mp4"), [textured_image(64, 48)] * 3)
    monkeypatch.setattr(video, "MAX_CLIP_PIXELS", 64 * 48 - 1)
    with pytest.raises(CineError, match="above the limit of"):
        video.read_clip_header(path)
    monkeypatch.setattr(video, "MAX_CLIP_PIXELS", 64 * 48)
    monkeypatch.setattr(video, "MAX_CLIP_SECONDS", 0.05)
    with pytest.raises(CineError, match="trim it to at most"):
        video.read_clip_header(path)


def _cli_error(*args: str) -> str:
    result = run_cli("render", *args, "--frames", "2", "--backend", "classical", "--quiet")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_every_bad_clip_gets_its_one_line_error(handheld, tmp_path):
    photo, out = handheld["photo"], str(tmp_path / "out.mp4")
    assert "video not found" in _cli_error(photo, "--motion-video", str(tmp_path / "none.mp4"), "--out", out)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video at all" * 20)
    assert "cannot read video damaged.mp4" in _cli_error(photo, "--motion-video", str(damaged), "--out", out)
    single = write_clip(str(tmp_path / "single.mp4"), [cv2.imread(photo)[:, :, ::-1]])
    assert "needs at least 2" in _cli_error(photo, "--motion-video", single, "--out", out)
    frames, _ = shaken_clip_frames(*CLIP_SIZE, 8, VELOCITY, REGION, seed=7)
    other = write_clip(str(tmp_path / "other.mp4"), frames)
    assert "does not show the photo's view" in _cli_error(photo, "--motion-video", other, "--out", out)
    assert "give one of them" in _cli_error(photo, "--motion-video", handheld["clip"], "--direction", "left",
                                            "--out", out)
    assert "is a prepared scene" in _cli_error(str(tmp_path / "scene.cine"), "--motion-video", handheld["clip"],
                                               "--out", out)
    assert not os.path.exists(out)


def test_a_clip_where_nothing_moves_gives_a_still_with_a_note(handheld, tmp_path):
    still = cv2.imread(handheld["photo"])[:, :, ::-1]
    clip = write_clip(str(tmp_path / "still.mp4"), [still] * 12)
    out = str(tmp_path / "out.mp4")
    result = run_cli("render", handheld["photo"], "--motion-video", clip, "--out", out, "--frames", "2",
                     "--size", "160", "--backend", "classical", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "motion video: still.mp4: nothing moves in the video" in result.stderr
    assert "note: the motion video shows nothing moving" in result.stderr
    assert os.path.getsize(out) > 0
