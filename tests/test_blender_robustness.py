"""The Blender import under the memory estimate, and a damaged prepared scene, with the real
``bpy`` (scenarios in their own process, as in tests/test_blender_extension.py)."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import pytest

from test_blender_extension import _addon_module, _datablocks, _start, extension_zip, run_scenario  # noqa: F401

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy module")


def test_an_import_that_would_not_fit_in_memory_is_refused_at_once(tmp_path, extension_zip):
    import cv2

    from conftest import textured_image

    photo = str(tmp_path / "big.jpg")
    cv2.imwrite(photo, cv2.resize(textured_image(300, 200), (3000, 2000)))
    r = run_scenario("memory_guard", tmp_path, extension_zip, script=__file__, photo=photo)
    for key in ("full_size", "default_size"):
        report, seconds = r[key]
        assert report.startswith("Size Limit: this run needs about ") and "but 200 MB is available; " in report
        assert report.endswith(" or less fits")
    assert r["default_size"][1] < 2.0, r  # the first import also loads PyTorch
    assert r["full_size"][0].rsplit("; ", 1)[1] == r["default_size"][0].rsplit("; ", 1)[1]
    assert r["datablocks_before"] == r["datablocks_after"]
    assert r["at_the_size_named"] == ["FINISHED"]


def test_a_damaged_prepared_scene_is_reported_with_how_to_rebuild_it(tmp_path, extension_zip):
    from conftest import write_scene

    photo = os.path.join(write_scene(str(tmp_path / "scene")), "image.png")
    r = run_scenario("damaged_cache", tmp_path, extension_zip, script=__file__, photo=photo)
    assert r["imported"] == ["FINISHED"]
    assert "is damaged: its data does not match its checksum: the prepared scene " + r["cache"] in r["report"]
    assert "Rebuild it: import the photo again (File > Import > Photo as Cinemagraph)" in r["report"]


# --------------------------------------------------------------------------------------------
# The Blender side
# --------------------------------------------------------------------------------------------

def scenario_memory_guard(arguments: dict) -> dict:
    os.environ["CINE_CORE_MEMORY_LIMIT"] = "200M"
    bpy = _start(arguments)
    result = {"datablocks_before": _datablocks(bpy)}
    for key, size_limit in (("full_size", 0), ("default_size", 1024)):
        start = time.perf_counter()
        try:
            bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], size_limit=size_limit)
            report = "no error"
        except RuntimeError as exc:
            report = str(exc).split("Error: ", 1)[-1].strip()
        result[key] = [report, time.perf_counter() - start]
    result["datablocks_after"] = _datablocks(bpy)
    named = int(result["full_size"][0].rsplit("; ", 1)[1].split()[0])
    result["at_the_size_named"] = sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"],
                                                                        size_limit=named, loop_frames=60))
    return result


def scenario_damaged_cache(arguments: dict) -> dict:
    bpy = _start(arguments)
    result = {"imported": sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=4))}
    settings = bpy.context.scene.cinemagraph.active.cinemagraph
    path = _addon_module("cache").resolve(settings.cache_path)
    import torch

    record = torch.load(path, weights_only=True)
    record["depth"][3, 5] += 0.25  # what a flipped bit does to one value: the file is otherwise whole
    torch.save(record, path)
    _addon_module("runtime").forget_all()
    try:
        bpy.ops.cinemagraph.update_motion()
        result["report"] = "no error"
    except RuntimeError as exc:
        result["report"] = str(exc)
    result["cache"] = path
    return result


if __name__ == "__main__":
    measured = globals()[f"scenario_{sys.argv[1]}"](json.loads(sys.argv[2]))
    print("RESULT " + json.dumps(measured), flush=True)
    os._exit(0)  # skip Blender's slow teardown at exit
