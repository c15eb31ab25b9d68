"""Every output appears whole or not at all, also when the disk runs out while it is written.

A real full file system (a small tmpfs, mounted in a private mount namespace where the machine
allows it) and a real fault (the file-size limit, which stops the encoder process with SIGXFSZ
and makes Python's own writes fail) each meet every writer: MP4, WebM, GIF, a folder of frames
and a prepared scene. The command must answer ``error: ...`` with exit code 2, keep the earlier
output and leave no temporary.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cine_core.errors import CineError
from cine_core.io.integrity import check_complete
from cine_core.io.outputs import PARTIAL_PREFIX
from cine_core.io.video import write_video
from cine_core.pipeline.cli import main
from cine_core.scene import PreparedScene

from conftest import ROOT, write_scene

HELPER = os.path.join(ROOT, "tests", "write_under_limits.py")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[str, str]:
    """(scene folder, a prepared scene of it)."""
    folder = tmp_path_factory.mktemp("inputs")
    scene = write_scene(str(folder / "scene"))
    prepared = str(folder / "prepared.cine")
    assert main(["render", scene, "--save-scene", prepared, "--out", str(folder / "first.gif"), "--frames", "2",
                 "--camera", "static", "--quiet"]) == 0
    return scene, prepared


def _rows(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _assert_refused_whole(rows: list[dict], words: tuple[str, ...]) -> None:
    assert [row["kind"] for row in rows] == ["clip.mp4", "clip.webm", "clip.gif", "frames", "scene.cine"]
    for row in rows:
        lines = [line for line in row["stderr"].splitlines() if line.strip()]
        assert row["code"] == 2, row
        assert len(lines) == 1 and lines[0].startswith("error: cannot write "), row
        assert row["kind"] in lines[0] and any(word in lines[0] for word in words), row
        assert row["kept"], row  # the earlier output, byte for byte
        assert not [name for name in row["left"] if name.startswith(PARTIAL_PREFIX)], row
        assert row["frames_left"] in (None, ["frame_0000.png"]), row


def _can_mount_in_namespace() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


def test_a_full_file_system_keeps_the_earlier_output(tmp_path, inputs):
    if not _can_mount_in_namespace():
        pytest.skip("this machine does not let the test mount a small tmpfs (unshare -rm)")
    disk = tmp_path / "disk"
    disk.mkdir()
    command = (f"mount -t tmpfs -o size=512k tmpfs '{disk}' && "
               f"exec '{sys.executable}' '{HELPER}' tmpfs '{disk}' '{inputs[0]}' '{inputs[1]}'")
    result = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=ROOT, OMP_WAIT_POLICY="PASSIVE"))
    _assert_refused_whole(_rows(result), ("No space left on device", "is the disk full"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_file_size_limit_keeps_the_earlier_output(tmp_path, inputs):
    """The encoder is stopped by a signal (its exit status is what says so), Python's writes fail."""
    result = subprocess.run([sys.executable, HELPER, "fsize", str(tmp_path), *inputs], capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT, OMP_WAIT_POLICY="PASSIVE"))
    _assert_refused_whole(_rows(result), ("SIGXFSZ", "File too large", "is the disk full"))


def _frames(count: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (17, 23, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize("kind", [".mp4", ".webm", ".gif", ".png", ".cine"])
def test_a_file_cut_short_is_found(tmp_path, inputs, kind):
    """Real files of each kind pass; the same files cut anywhere (the end lost, as a full disk
    leaves them) are refused, naming the file."""
    path = tmp_path / f"whole{kind}"
    if kind == ".png":
        write_video(_frames(1), str(tmp_path / "frames"), 30)
        shutil.copy(tmp_path / "frames" / "frame_0000.png", path)
    elif kind == ".cine":
        PreparedScene.load(inputs[1]).save(str(path))
    else:
        write_video(_frames(), str(path), 30)
    check_complete(str(path), kind)
    data = path.read_bytes()
    for keep in (len(data) - 1, len(data) - 9, len(data) // 2, 40, 0):
        cut = tmp_path / f"cut{kind}"
        cut.write_bytes(data[:keep])
        with pytest.raises(CineError, match=f"cannot write cut{kind}: the written file is incomplete"):
            check_complete(str(cut), kind)


def test_an_mp4_without_its_index_is_refused(tmp_path):
    """What a full disk left in the issue: the media data whole, the moov index never written."""
    path = tmp_path / "clip.mp4"
    write_video(_frames(), str(path), 30)
    data = path.read_bytes()
    boxes, position = [], 0
    while position < len(data):
        size = int.from_bytes(data[position:position + 4], "big")
        boxes.append((data[position + 4:position + 8], data[position:position + size]))
        position += size
    path.write_bytes(b"".join(box for kind, box in boxes if kind != b"moov"))
    with pytest.raises(CineError, match="no moov index"):
        check_complete(str(path), ".mp4")
