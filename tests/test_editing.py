"""What an editor runs through the public API: a photo imported for editing in one call, with
progress and a cancel token."""
from __future__ import annotations

import numpy as np
import pytest

from cine_core import (CancelToken, Cancelled, PrepareOptions, SceneInputs, import_photo, prepare_scene,
                       read_arrows_json)


def test_import_photo_is_the_whole_import_in_one_call(scene_dir):
    inputs = SceneInputs.find(scene_dir)
    inputs.depth = None  # the classical estimate, as a photo without a depth file imports
    options = PrepareOptions(max_side=64, require_motion=False, backend="classical")
    stages = []
    imported = import_photo(inputs, options, 4, lens_mm=36.0, nearest=2.5,
                            progress=lambda stage, fraction: stages.append((stage, fraction)))
    scene, cloud = imported.scene, imported.cloud
    assert scene.size == (64, 43) and cloud.num_frames == 4
    # The annotation the motion was made from, at the working size: the file's region and arrow.
    from_file = read_arrows_json(inputs.annotation, (96, 64)).at_size(64, 43)
    assert np.array_equal(imported.annotation.mask, from_file.mask) and len(imported.annotation.hints) == 1
    assert bool(scene.motion_mask.any())
    # A 36 mm lens spans the long side: fx = 64 pixels; the size asked for and the safe radius.
    assert scene.intrinsics.fx == pytest.approx(64.0) and imported.scale == 2.5 and imported.safe_radius > 0
    assert imported.found_motion == ""  # no detection asked for
    # The same scene as preparing the photo directly (the import adds the loop and measures).
    direct = prepare_scene(inputs, PrepareOptions(max_side=64, require_motion=False, backend="classical",
                                                  focal=64.0, auto_motion=False))
    assert np.allclose(direct.flow.numpy(), scene.flow.numpy(), atol=1e-5)
    assert np.allclose(direct.depth.numpy(), scene.depth.numpy(), atol=1e-5)
    # Progress runs from the photo to the animated loop, never backwards.
    fractions = [fraction for _, fraction in stages]
    assert stages[0] == ("load", 0.0) and stages[-1] == ("motion", 1.0) and fractions == sorted(fractions)


def test_import_photo_stops_when_cancelled(scene_dir):
    token = CancelToken()
    seen = []

    def progress(stage: str, fraction: float) -> None:
        seen.append(stage)
        if stage == "layers":
            token.cancel()

    with pytest.raises(Cancelled):
        import_photo(SceneInputs.find(scene_dir), PrepareOptions(max_side=64, backend="classical"), 4,
                     progress=progress, cancel=token)
    assert seen[-1] == "layers" and "motion" not in seen  # stopped at the next step


def test_a_cancel_token_stops_what_does_not_come_back_to_it():
    token, calls = CancelToken(), []
    token.on_cancel(lambda: calls.append("first"))
    token.check()  # not cancelled: nothing happens
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))  # already cancelled: called at once
    assert calls == ["first", "late"] and token.cancelled
    with pytest.raises(Cancelled):
        token.check()
