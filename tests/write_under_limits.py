"""Child process of tests/test_outputs_complete.py: runs the real command line in-process against
a disk that runs out, and prints one JSON line per output kind.

    python tests/write_under_limits.py tmpfs|fsize FOLDER SCENE_DIR PREPARED.cine

``tmpfs``: FOLDER is a fresh tmpfs (mounted by the caller in its own mount namespace); before each
render it is filled with a filler file until about 1 kB is left. ``fsize``: the file-size limit
(RLIMIT_FSIZE) is set to 2 kB around each render, which the encoder process inherits: Python
gets "File too large", ffmpeg is stopped by SIGXFSZ. Each kind starts with an earlier output in
place, which must survive.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cine_core.pipeline.cli import main  # noqa: E402

EARLIER = b"an earlier render"
#: What each output kind's command renders: a prepared scene for the videos (quick), the scene
#: folder for --save-scene.
KINDS = ("clip.mp4", "clip.webm", "clip.gif", "frames", "scene.cine")


def _fill(folder: str, leave: int) -> None:
    """Take all but ``leave`` bytes of the file system holding ``folder``."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with open(os.path.join(folder, "filler"), "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


@contextlib.contextmanager
def _limited(mode: str, folder: str):
    if mode == "tmpfs":
        _fill(folder, 1024)
        try:
            yield
        finally:
            os.remove(os.path.join(folder, "filler"))
    else:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def run(mode: str, folder: str, scene: str, prepared: str) -> None:
    for kind in KINDS:
        target = os.path.join(folder, kind)
        if kind == "frames":
            os.mkdir(target)
            with open(os.path.join(target, "frame_0000.png"), "wb") as handle:
                handle.write(EARLIER)
        else:
            with open(target, "wb") as handle:
                handle.write(EARLIER)
        if kind == "scene.cine":
            argv = [scene, "--save-scene", target, "--out", os.path.join(folder, "unused.gif")]
        else:
            argv = [prepared, "--out", target]
        errors = io.StringIO()
        with _limited(mode, folder), contextlib.redirect_stderr(errors):
            code = main(["render", *argv, "--frames", "12", "--camera", "static", "--quiet"])
        earlier = os.path.join(target, "frame_0000.png") if kind == "frames" else target
        with open(earlier, "rb") as handle:
            kept = handle.read() == EARLIER
        print(json.dumps({"kind": kind, "code": code, "stderr": errors.getvalue(), "kept": kept,
                          "left": sorted(os.listdir(folder)),
                          "frames_left": sorted(os.listdir(target)) if kind == "frames" else None}), flush=True)
        if kind == "frames":
            shutil.rmtree(target)
        else:
            os.remove(target)


if __name__ == "__main__":
    run(*sys.argv[1:5])
