"""The Eulerian flow from annotations: per-region interpolation, words, speed, confinement."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cine_core.io.annotations import HintArrow, MotionAnnotation
from cine_core.errors import CineError
from cine_core.motion.flow import (ARROW_PIXELS_PER_FRAME_UNIT, dense_hint, eulerian_flow, extend_flow, feather_flow,
                            motion_regions)
from cine_core.motion.integrate import loop_displacements


#: The length of an arrow that means one pixel per frame.
UNIT = ARROW_PIXELS_PER_FRAME_UNIT


def two_regions() -> MotionAnnotation:
    """A 'waterfall' on top falling down, a 'lake' below flowing right, both at one pixel per
    frame; drawn as two shapes."""
    regions = np.zeros((60, 80), np.int32)
    regions[5:30, 30:50] = 1
    regions[30:55, 5:75] = 2
    hints = [HintArrow((40, 10), (40, 10 + UNIT)), HintArrow((20, 45), (20 + UNIT, 45))]
    return MotionAnnotation((80, 60), regions > 0, hints, regions)


def test_an_arrow_of_200_pixels_means_one_pixel_per_frame():
    """The documented speed convention (calibrated against real footage, see the constant's
    comment), in the photo's pixels at any working size."""
    arrow = HintArrow((10.0, 20.0), (10.0, 220.0))  # 200 photo pixels, downwards
    full = eulerian_flow(MotionAnnotation((400, 300), np.ones((300, 400), bool), [arrow]))
    assert torch.allclose(full[1], torch.ones(300, 400)) and float(full[0].abs().max()) == 0.0
    half = MotionAnnotation((400, 300), np.ones((300, 400), bool), [arrow]).at_size(200, 150)
    assert torch.allclose(eulerian_flow(half)[1], torch.full((150, 200), 0.5))  # half-size pixels


def test_dense_hint_is_deterministic_and_exact_at_a_single_arrow():
    arrows = torch.tensor([[10.0, 10.0, 10.0 + UNIT, 10.0]])
    field = dense_hint(arrows, 64, 32)
    assert torch.allclose(field[0], torch.ones(32, 64)) and torch.allclose(field[1], torch.zeros(32, 64))
    two = torch.tensor([[5.0, 5.0, 5.0 + UNIT, 5.0], [60.0, 28.0, 60.0, 28.0 + UNIT]])
    assert torch.equal(dense_hint(two, 64, 32), dense_hint(two, 64, 32))
    far = dense_hint(two, 64, 32)
    assert float(far[0, 0, 0]) > 0.98 and float(far[1, 31, 63]) > 0.98  # nearest arrow wins at its end


def test_each_region_follows_its_own_arrows():
    flow = eulerian_flow(two_regions())
    fall, lake = flow[:, 15, 40], flow[:, 45, 40]
    assert float(fall[1]) == pytest.approx(1.0, abs=0.02) and abs(float(fall[0])) < 0.02
    assert float(lake[0]) == pytest.approx(1.0, abs=0.02) and abs(float(lake[1])) < 0.02
    assert float(flow[:, 2, 2].abs().sum()) == 0.0  # still outside the mask
    assert torch.allclose(eulerian_flow(two_regions(), flow_scale=2.0), 2 * flow)


def test_particles_stay_in_their_region():
    annotation = two_regions()
    flow = eulerian_flow(annotation)
    regions = torch.from_numpy(motion_regions(annotation))
    fall_only = flow * (regions == 1)
    forward, _ = loop_displacements(fall_only, torch.tensor([[40.0, 20.0]]), 40)
    final_y = 20.0 + float(forward[-1, 0, 1])
    assert 28.0 <= final_y <= 30.0  # stopped at the fall's lower edge, not carried along the lake


def test_worded_direction_and_its_errors():
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:50] = True
    flow = eulerian_flow(MotionAnnotation((60, 40), mask), direction=(0.0, -1.0, 2.0))
    assert float(flow[1, 20, 30]) == pytest.approx(-2.0 * 60 / 1280, rel=1e-4)
    with pytest.raises(CineError, match="no hint arrows"):
        eulerian_flow(MotionAnnotation((60, 40), mask))
    with pytest.raises(CineError, match="empty"):
        eulerian_flow(MotionAnnotation((60, 40), np.zeros((40, 60), bool)), direction=(1.0, 0.0, 1.0))
    with pytest.raises(CineError, match="nothing moves"):
        eulerian_flow(MotionAnnotation((60, 40)))


def test_extended_flow_reaches_neighbours_with_full_speed():
    flow = torch.zeros(2, 40, 40)
    flow[0, 10:30, 10:20] = 1.5
    extended = extend_flow(flow, 4)
    assert torch.equal(extended[:, 10:30, 10:20], flow[:, 10:30, 10:20])
    assert float(extended[0, 20, 22]) == pytest.approx(1.5, abs=1e-4)  # beside: same velocity
    assert float(extended[0, 20, 30]) == 0.0  # beyond the reach: still


def test_a_region_drawn_just_short_of_the_frame_reaches_it():
    """A mask 3 px short of the left and top edges (as annotators draw) moves at full speed up to
    the frame, not feathered towards a sliver of still pixels; a still bank 40 px wide at the
    right edge keeps its border."""
    mask = np.zeros((300, 400), bool)
    mask[3:, 3:360] = True
    annotation = MotionAnnotation((400, 300), mask, [HintArrow((200, 150), (200 + UNIT, 150))])
    regions = torch.from_numpy(motion_regions(annotation))
    flow = feather_flow(eulerian_flow(annotation), regions)
    assert bool((regions[:, :3] > 0).all()) and bool((regions[:3, :360] > 0).all())
    assert float(flow[0, 150, 0]) == pytest.approx(1.0, abs=0.02)
    assert float(flow[0, 0, 200]) == pytest.approx(1.0, abs=0.02)
    assert float(flow[:, :, 360:].abs().max()) == 0.0 and float(flow[0, 150, 359]) < 0.05


def test_a_narrow_region_still_reaches_its_speed():
    """A fall 16 px wide in a 400 px photo (the ramp would be 12 px from each side) moves at the
    arrows' speed along its middle; the ramp shrinks to half its inradius."""
    mask = np.zeros((300, 400), bool)
    mask[20:280, 192:208] = True
    annotation = MotionAnnotation((400, 300), mask, [HintArrow((200, 30), (200, 30 + UNIT))])
    flow = feather_flow(eulerian_flow(annotation), torch.from_numpy(motion_regions(annotation)))
    assert float(flow[1, 150, 199:201].min()) == pytest.approx(1.0, abs=0.02)
    assert float(flow[1, 150, 192]) < 0.5  # still feathered at its edge
