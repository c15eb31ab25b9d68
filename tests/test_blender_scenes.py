"""Several cinemagraphs in one Blender scene, seen through any camera (the real ``bpy``).

Runs like ``test_blender_extension.py``: each scenario in its own process, this file run as a
script with the scenario's name, printing its measurements as JSON.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from test_blender_extension import (_addon_module, _psnr, _RecordingLayout, _render, _start, _use_cycles,
                                    extension_zip, run_as_script, run_scenario)  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy module")
HORIZON = 24  # rows above it are sky in the landscapes written here


def write_landscape(folder: str, seed: int) -> tuple[str, str]:
    """A 96x64 photo with a labelme motion box and a disparity map: sky (disparity 0, which depth
    conditioning clips to 50 times the nearest depth) above :data:`HORIZON`, ground rising to
    the nearest point at the bottom. Returns the photo's and the depth map's paths."""
    import cv2
    from conftest import textured_image, write_scene

    write_scene(folder)
    photo = os.path.join(folder, "image.png")
    cv2.imwrite(photo, textured_image(seed=seed)[:, :, ::-1])
    disparity = np.zeros((64, 96), np.float32)
    disparity[HORIZON:] = np.linspace(0.1, 1.0, 64 - HORIZON, dtype=np.float32)[:, None]
    depth = os.path.join(folder, "depth.npy")
    np.save(depth, disparity)
    return photo, depth


def test_two_photos_in_the_default_scene(tmp_path, extension_zip):
    first = write_landscape(str(tmp_path / "first"), seed=0)
    second = write_landscape(str(tmp_path / "second"), seed=5)
    r = run_scenario("two_photos", tmp_path, extension_zip, timeout=400, script=__file__,
                     first=first, second=second)
    # The first photo's camera renders the same picture after the second import, and after the
    # second is hidden or its surface deleted; the second import keeps the output size.
    assert r["same_after_second_import"] >= 35.0
    assert r["same_with_second_hidden"] >= 35.0 and r["same_with_second_deleted"] >= 35.0
    assert r["output_size"] == [[96, 64], [96, 64]]
    assert "kept the scene's output size" in r["stdout"]
    # Each renders through its own camera, whichever is active.
    assert r["second_own_camera"] >= 35.0
    # The scene's own camera sees the sky (the default 100 m clip end is enough at the default
    # Nearest Distance) and shows in Cycles what the engine shows.
    assert r["default_clip_end"] == r["clip_end_after_imports"] == pytest.approx(100.0)
    assert r["cycles_vs_engine"] >= 28.0, r
    assert r["cycles_world_pixels"] == 0
    # Placement: the default cube and the other cinemagraph are out of each source camera's
    # view, and the report says where the cinemagraph went.
    assert "so that Cube is behind its source camera" in r["stdout"] and r["cube_behind_first_camera"]
    assert "along +X from the 3D cursor, out of the view of Cube, first Surface" in r["stdout"]
    # A camera that sees both shows both, merged by depth: hiding the second changes only its side.
    assert r["both"]["first_pixels"] > 200 and r["both"]["second_pixels"] > 200
    assert r["both"]["first_change"] <= 1 and r["both"]["second_change"] <= 1
    # A deleted surface takes only its own cinemagraph out of rendering.
    assert r["deleted"]["renders"] and "no cinemagraph" not in r["deleted"]["error"]
    for preset, measured in r["presets"].items():
        assert measured["reach"] <= 0.5 + 1e-4, (preset, measured)
        assert measured["reach"] == pytest.approx(measured["promised"], rel=1e-3, abs=1e-6), (preset, measured)
    assert r["presets"]["ken-burns"]["reach"] > 0.05 and r["presets"]["circle"]["reach"] > 0.05
    # Ken Burns and dolly-zoom aim at a surface, not at the sky.
    assert r["focus_depth"] < 0.9 * r["far_depth"]
    assert any(label.startswith("Moves up to") for label in r["camera_labels"])
    # A bigger scene makes the scene's cameras see farther, and says so.
    assert r["bigger"]["clip_end"] > 100.0 and "clip end of Camera set to" in r["stdout"]


def scenario_two_photos(arguments: dict) -> dict:
    import cv2

    bpy = _start(arguments, empty=False)
    from mathutils import Matrix

    tmp = arguments["tmp"]
    scene = bpy.context.scene
    default_camera = bpy.data.objects["Camera"]
    result = {"default_clip_end": default_camera.data.clip_end}
    photo, depth = arguments["first"]
    bpy.ops.cinemagraph.import_image(filepath=photo, loop_frames=8, size_limit=0, depth_source="FILE",
                                     depth_file=depth)
    first = scene.cinemagraph.active.cinemagraph
    cube_in_camera = first.source_camera.matrix_world.inverted() @ bpy.data.objects["Cube"].matrix_world.translation
    result["cube_behind_first_camera"] = cube_in_camera.z > 1.0  # a camera looks along its -Z
    sizes = [[scene.render.resolution_x, scene.render.resolution_y]]
    scene.frame_set(3)
    before = _render(bpy, os.path.join(tmp, "first_before.png"))

    photo, depth = arguments["second"]
    bpy.ops.cinemagraph.import_image(filepath=photo, loop_frames=6, size_limit=0, depth_source="FILE",
                                     depth_file=depth)
    second = scene.cinemagraph.active.cinemagraph
    sizes.append([scene.render.resolution_x, scene.render.resolution_y])
    result["output_size"] = sizes
    result["second_own_camera"] = _psnr(_render(bpy, os.path.join(tmp, "second_own.png")),
                                        _render(bpy, os.path.join(tmp, "second_own_again.png")))
    scene.camera = first.source_camera
    result["same_after_second_import"] = _psnr(_render(bpy, os.path.join(tmp, "first_after.png")), before)
    second.points.hide_render = True
    result["same_with_second_hidden"] = _psnr(_render(bpy, os.path.join(tmp, "first_hidden.png")), before)
    second.points.hide_render = False

    # The scene's own camera at the first photo's camera, with the lens the source camera has.
    result["clip_end_after_imports"] = default_camera.data.clip_end
    world = first.source_camera.matrix_world.copy()
    default_camera.matrix_world = world
    default_camera.data.lens = first.source_camera.data.lens
    default_camera.data.sensor_width = first.source_camera.data.sensor_width
    default_camera.data.sensor_fit = first.source_camera.data.sensor_fit
    scene.camera = default_camera
    engine = _render(bpy, os.path.join(tmp, "default_engine.png"))
    _use_cycles(scene)
    scene.render.film_transparent = True
    scene.render.image_settings.color_mode = "RGBA"
    path = os.path.join(tmp, "default_cycles.png")
    cycles = _render(bpy, path)
    result["cycles_world_pixels"] = int((cv2.imread(path, cv2.IMREAD_UNCHANGED)[:, :, 3] < 255).sum())
    result["cycles_vs_engine"] = _psnr(cycles, engine)
    if arguments.get("eevee"):  # measured by hand (docs/blender.md): EEVEE renders in software here, slowly
        scene.render.engine = "BLENDER_EEVEE"
        scene.eevee.taa_render_samples = arguments["eevee"]
        path = os.path.join(tmp, "default_eevee.png")
        eevee = _render(bpy, path)
        result["eevee_world_pixels"] = int((cv2.imread(path, cv2.IMREAD_UNCHANGED)[:, :, 3] < 255).sum())
        result["eevee_vs_engine"] = _psnr(eevee, engine)
    scene.render.film_transparent = False
    scene.render.image_settings.color_mode = "RGB"
    scene.render.engine = "CINEMAGRAPH"

    # A camera behind both source cameras, between them, seeing both surfaces side by side.
    left, right = first.source_camera.matrix_world.translation, second.source_camera.matrix_world.translation
    both = bpy.data.objects.new("Both", first.source_camera.data.copy())
    both.data.clip_end = 1e4
    backwards = world.col[2].xyz  # a camera looks along its -Z
    both.matrix_world = Matrix.Translation((left + right) / 2 + 1.5 * (right - left).length * backwards) @ \
        world.to_quaternion().to_matrix().to_4x4()
    scene.collection.objects.link(both)
    scene.camera = both
    scene.render.film_transparent = True  # alpha: where each photo's points land
    scene.render.image_settings.color_mode = "RGBA"

    def render_rgba(name: str):
        _render(bpy, os.path.join(tmp, name))
        return cv2.imread(os.path.join(tmp, name), cv2.IMREAD_UNCHANGED).astype(int)

    together = render_rgba("both.png")
    second.points.hide_render = True
    alone = render_rgba("both_second_hidden.png")
    second.points.hide_render = False
    first.points.hide_render = True
    second_alone = render_rgba("both_first_hidden.png")
    first.points.hide_render = False
    scene.render.film_transparent = False
    scene.render.image_settings.color_mode = "RGB"
    # Where one photo alone covers the pixel, the merged frame shows it.
    first_covers, second_covers = alone[:, :, 3] == 255, second_alone[:, :, 3] == 255
    result["both"] = {"first_pixels": int(first_covers.sum()), "second_pixels": int(second_covers.sum()),
                      "first_change": float(np.abs(together - alone)[first_covers].max()),
                      "second_change": float(np.abs(together - second_alone)[second_covers].max())}

    # The second surface deleted (X in the viewport): the first still renders, unchanged.
    for collection in second.points.users_collection:
        collection.objects.unlink(second.points)
    scene.camera = first.source_camera
    try:
        result["same_with_second_deleted"] = _psnr(_render(bpy, os.path.join(tmp, "deleted.png")), before)
        result["deleted"] = {"renders": True, "error": ""}
    except RuntimeError as exc:
        result["same_with_second_deleted"] = 0.0
        result["deleted"] = {"renders": False, "error": str(exc)}

    # Every preset path at strength 1 keeps the camera within half the nearest distance, as far
    # as the Camera panel says it moves.
    scene.cinemagraph.active = first.id_data
    nearest = first.nearest_depth * first.points.matrix_world.to_scale()[0]
    source = first.source_camera.matrix_world.translation
    panels = _addon_module("panels")
    result["presets"] = {}
    for preset in _addon_module("properties").CAMERA_PRESETS:
        first.path_preset = preset[0]
        promised = panels.path_reach(first) * first.points.matrix_world.to_scale()[0]
        bpy.ops.cinemagraph.add_camera_path(preset=preset[0], strength=1.0, key_interval=1)
        reach = 0.0
        for frame in range(first.loop_start, first.loop_start + first.loop_frames):
            scene.frame_set(frame)
            reach = max(reach, (scene.camera.matrix_world.translation - source).length)
        result["presets"][preset[0]] = {"reach": reach / nearest, "promised": promised / nearest}
    labels = []
    panels.VIEW3D_PT_cinemagraph_camera.draw(type("Panel", (), {"layout": _RecordingLayout([], labels)})(),
                                             bpy.context)
    result["camera_labels"] = labels
    focus = _addon_module("runtime").prepared_scene(bpy.path.abspath(first.cache_path))
    result["focus_depth"], result["far_depth"] = focus.focus_depth(), float(focus.depth.max())

    # Twice the default Nearest Distance puts the sky beyond 100 m: the scene's camera follows.
    photo, depth = arguments["first"]
    bpy.ops.cinemagraph.import_image(filepath=photo, loop_frames=8, size_limit=0, depth_source="FILE",
                                     depth_file=depth, scale=3.0)
    result["bigger"] = {"clip_end": default_camera.data.clip_end}
    return result


def test_render_panel_warns_about_aspect_and_frame_rate(tmp_path, extension_zip):
    photo, depth = write_landscape(str(tmp_path / "photo"), seed=0)
    r = run_scenario("render_panel", tmp_path, extension_zip, script=__file__, photo=photo, depth=depth)
    assert not any("sees past" in label or "fps" in label for label in r["as_imported"]), r["as_imported"]
    # A square output of a 3:2 photo: the panel says so before any render, and offers the fix.
    square = " ".join(r["square"]["labels"])
    assert "taller than the photo" in square and "cinemagraph.match_photo_aspect" in r["square"]["operators"]
    assert r["matched"] == [96, 64]
    # The motion is made per frame: another frame rate says what it changes.
    assert "imported at 24 fps; at 30 fps its fluid moves 25 % faster" in " ".join(r["faster"])
    assert r["frame_rate"] == 24.0


def scenario_render_panel(arguments: dict) -> dict:
    bpy = _start(arguments)
    scene = bpy.context.scene
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0, depth_source="FILE",
                                     depth_file=arguments["depth"])
    panel = _addon_module("panels").VIEW3D_PT_cinemagraph_render

    def draw() -> dict:
        operators, labels = [], []
        panel.draw(type("Panel", (), {"layout": _RecordingLayout(operators, labels)})(), bpy.context)
        return {"operators": operators, "labels": labels}

    result = {"as_imported": draw()["labels"], "frame_rate": scene.cinemagraph.active.cinemagraph.frame_rate}
    scene.render.resolution_y = scene.render.resolution_x
    result["square"] = draw()
    bpy.ops.cinemagraph.match_photo_aspect()
    result["matched"] = [scene.render.resolution_x, scene.render.resolution_y]
    scene.render.fps = 30
    result["faster"] = draw()["labels"]
    return result


if __name__ == "__main__":
    run_as_script(globals())
