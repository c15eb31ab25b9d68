"""The pipeline's entry points for tools that show the motion at once (the Blender add-on):
a prepared scene together with its animated points, from one call, with the photo decoded once."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from cine_core.errors import CineError
from cine_core.io.annotations import HintArrow, MotionAnnotation
from cine_core.io.images import load_photo
from cine_core.motion.animation import animate_points, playback_points
from cine_core.pipeline import run
from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_animated, prepare_scene, with_motion
from cine_core.scene import PreparedScene

from conftest import write_scene


def assert_same_cloud(a, b, name: str = "cloud") -> None:
    """Equal tensors and values, field by field into the dataclasses and lists a cloud holds."""
    if isinstance(a, torch.Tensor) or a is None:
        assert (torch.equal(a, b) if a is not None else b is None), name
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), name
        for index, (left, right) in enumerate(zip(a, b)):
            assert_same_cloud(left, right, f"{name}[{index}]")
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            if field.compare:  # the others are derived from the fields compared
                assert_same_cloud(getattr(a, field.name), getattr(b, field.name), f"{name}.{field.name}")
    else:
        assert a == b, name


def assert_same_scene(a, b) -> None:
    for name in ("photo", "depth", "flow", "hidden_flow", "regions"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.info == b.info and a.intrinsics == b.intrinsics


def test_prepare_animated_is_prepare_scene_then_the_loop(tmp_path):
    inputs, options = SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical")
    reports = []
    scene, cloud = prepare_animated(inputs, options, 6, lambda stage, fraction: reports.append((stage, fraction)))
    assert_same_scene(scene, prepare_scene(inputs, options).as_stored())
    assert cloud.trajectories.every == 1  # every step's positions kept, for a viewport
    assert_same_cloud(cloud, playback_points(scene, 6))
    # The scene as its file holds it: saved and loaded again, it animates to the same points.
    scene.save(str(tmp_path / "scene.cine"))
    assert_same_cloud(cloud, playback_points(PreparedScene.load(str(tmp_path / "scene.cine")), 6))
    assert cloud.num_frames == 6
    fractions = [fraction for _, fraction in reports]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert [stage for stage, _ in reports][-2:] == ["motion", "motion"]


def test_a_loaded_photo_is_used_as_it_is(tmp_path, monkeypatch):
    inputs = SceneInputs.find(write_scene(str(tmp_path / "scene")))
    options = PrepareOptions(backend="classical", max_side=48)
    photo = load_photo(inputs.photo, options.max_side)
    reference = prepare_scene(inputs, options)
    loads = []
    monkeypatch.setattr(run, "load_photo", lambda *args: loads.append(args))
    scene, _ = prepare_animated(inputs, options, 4, photo=photo)
    assert loads == []  # not decoded again
    assert_same_scene(scene, reference.as_stored())


def test_a_photo_that_does_not_match_the_inputs_is_refused(tmp_path):
    inputs = SceneInputs.find(write_scene(str(tmp_path / "scene")))
    other = write_scene(str(tmp_path / "other"))
    with pytest.raises(CineError, match="48x32 pixels but full size makes it 96x64"):
        prepare_scene(inputs, PrepareOptions(backend="classical"), photo=load_photo(inputs.photo, 48))
    with pytest.raises(CineError, match="is not the scene's photo"):
        prepare_scene(inputs, PrepareOptions(backend="classical"), photo=load_photo(SceneInputs.find(other).photo))


def test_a_loop_of_one_frame_is_refused_before_any_stage_runs(tmp_path):
    inputs = SceneInputs.find(write_scene(str(tmp_path / "scene")))
    reports = []
    with pytest.raises(CineError, match="a loop needs at least 2 frames, not 1"):
        prepare_animated(inputs, PrepareOptions(backend="classical"), 1, lambda *report: reports.append(report))
    assert reports == []


def test_with_motion_animated_is_with_motion_then_the_loop(tmp_path):
    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    annotation = MotionAnnotation((96, 64), None, [HintArrow((10, 10), (40, 20))])
    reports = []
    moved, cloud = run.with_motion_animated(scene, annotation, 5, flow_scale=2.0, backend="classical",
                                            progress=lambda stage, fraction: reports.append((stage, fraction)))
    assert_same_scene(moved, with_motion(scene, annotation, flow_scale=2.0, backend="classical"))
    assert_same_cloud(cloud, playback_points(moved, 5))
    assert reports[0] == ("flow", 0.0) and reports[-1] == ("motion", 1.0)


def test_a_scene_as_stored_is_what_its_file_gives_back(tmp_path):
    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    # What a stage may leave in memory that the file holds otherwise: float64 depths (NumPy's
    # exp), colours between the file's levels, region numbers outside the moving region.
    layer = scene.layered.layers[-1]
    layer.depth = layer.depth.double() * (1.0 + 1e-9)
    layer.rgb = layer.rgb + 1e-6
    scene.regions = torch.ones(scene.depth.shape, dtype=torch.int32)
    scene.save(str(tmp_path / "scene.cine"))
    loaded, stored = PreparedScene.load(str(tmp_path / "scene.cine")), scene.as_stored()
    assert_same_scene(stored, loaded)
    for mine, theirs in zip(stored.layered.layers, loaded.layered.layers):
        for name in ("rgb", "depth", "alpha", "hidden"):
            assert torch.equal(getattr(mine, name), getattr(theirs, name)), name
    assert_same_cloud(animate_points(stored, 4), animate_points(loaded, 4))
