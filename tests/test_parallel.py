"""Work spread over threads (cine_core.parallel) and what runs on it: the results and their
order are those of one piece at a time, and PyTorch's settings come back as they were."""
from __future__ import annotations

import threading

import pytest
import torch

from conftest import write_scene
from cine_core import PrepareOptions, SceneInputs, prepare_scene
from cine_core.motion import animation, integrate
from cine_core.parallel import ordered_map, workers_for


def test_ordered_map_keeps_the_order_and_runs_at_once():
    threads = torch.get_num_threads()
    seen = []

    def square(item: int) -> int:
        seen.append((threading.get_ident(), torch.get_num_threads(), torch.is_inference_mode_enabled()))
        return item * item

    with torch.inference_mode():
        assert list(ordered_map(square, range(9), 3)) == [item * item for item in range(9)]
    assert len({ident for ident, _, _ in seen[1:]} - {threading.get_ident()}) >= 1  # workers' threads ran
    assert {count for _, count, _ in seen} == {1}  # one intra-op thread each meanwhile
    assert all(inference for _, _, inference in seen)  # the caller's mode holds in the workers
    assert torch.get_num_threads() == threads
    assert list(ordered_map(square, [], 2)) == []
    assert list(ordered_map(square, range(3), 1)) == [0, 1, 4]


def test_ordered_map_passes_errors_on_and_restores_the_threads():
    threads = torch.get_num_threads()

    def fails_on_three(item: int) -> int:
        if item == 3:
            raise ValueError("three")
        return item

    results = ordered_map(fails_on_three, range(6), 2)
    with pytest.raises(ValueError, match="three"):
        list(results)
    assert torch.get_num_threads() == threads
    abandoned = ordered_map(fails_on_three, range(2), 2)
    assert next(abandoned) == 0
    abandoned.close()
    assert torch.get_num_threads() == threads


def test_workers_per_device():
    assert workers_for("cpu") == max(1, torch.get_num_threads())
    assert workers_for(torch.device("meta")) == 1


def test_integration_in_chunks_gives_the_cloud_of_one_piece(tmp_path, monkeypatch):
    """Chunks of 7 points, two at once, give exactly the trajectories and depths of all points
    integrated at once (every particle is integrated on its own)."""
    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    whole = animation.animate_points(scene, 6)
    monkeypatch.setattr(integrate, "POINTS_PER_CHUNK", 7)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        chunked = animation.animate_points(scene, 6)
    finally:
        torch.set_num_threads(threads)
    assert whole.moving.numel() > 7 * 4
    for name in ("rest_uv", "depth", "values", "owner"):
        assert torch.equal(getattr(whole, name), getattr(chunked, name)), name
    for name in ("forward", "backward", "low", "high"):
        assert torch.equal(getattr(whole.trajectories, name), getattr(chunked.trajectories, name)), name
    for frame in range(7):
        for moved, chunked_moved in zip(whole.trajectories.displacements(frame),
                                        chunked.trajectories.displacements(frame)):
            assert torch.equal(moved, chunked_moved)
        for depth, chunked_depth in zip(whole.moving_positions(frame)[1::2], chunked.moving_positions(frame)[1::2]):
            assert torch.equal(depth, chunked_depth)
    assert whole.extent == chunked.extent
