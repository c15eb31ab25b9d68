"""Golden test: Depth Anything V2 Small against the reference network's outputs.

The reference (``depth_anything_v2/dpt.py`` of the published repository, ``DepthAnythingV2(encoder=
"vits", features=64, out_channels=[48, 96, 192, 384])``, run without xFormers) was loaded with the
deterministic synthetic weights of ``tests/synthetic_weights.py``, converted to float64 and run on a
fixed 70x98 input (5x7 patches, so the position embeddings are resized from the trained 37x37 grid).
``tests/data/golden/depth_anything_v2_small/`` holds that input, the weights check (keys in the
reference's order, per-tensor sums and first values), the output disparity, the head before its
last ReLU, and each tapped block's normalised tokens' channel means.

Acceptance as for the other ports: float64 within 1e-9 relative (summation order only), float32
within 1e-4.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cine_core.nets.depth_anything import DepthAnythingV2

from synthetic_weights import state_dict_fingerprint, synthetic_state_dict

GOLDEN = Path(__file__).parent / "data" / "golden" / "depth_anything_v2_small"


def _load(name: str) -> dict:
    return torch.load(GOLDEN / f"{name}.pt", map_location="cpu", weights_only=True)


def _relative_error(actual: torch.Tensor, reference: torch.Tensor) -> float:
    assert actual.shape == reference.shape, (actual.shape, reference.shape)
    reference = reference.double()
    return ((actual.double() - reference).abs().max() / reference.abs().max()).item()


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return synthetic_state_dict(DepthAnythingV2().state_dict())


def _run(weights: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    model = DepthAnythingV2()
    model.load_state_dict(weights, strict=True)
    model = model.to(dtype).eval()
    captured = {}
    model.depth_head.scratch.output_conv2[2].register_forward_hook(
        lambda module, inputs, output: captured.update(head_pre_relu=output))
    image = _load("inputs")["image"].to(dtype)
    with torch.no_grad():
        depth = model(image)
        tokens = model.pretrained(image, DepthAnythingV2.TAPS)
    return {"depth@f64": depth, "head_pre_relu@f64": captured["head_pre_relu"],
            "tokens_channel_mean@f64": torch.stack([t.mean(-1) for t in tokens])}


def test_keys_in_the_published_order_and_weight_rule(weights):
    check = _load("weights_check")
    assert list(weights) == check["keys"] and len(weights) == 239
    fingerprint = state_dict_fingerprint(weights)
    torch.testing.assert_close(fingerprint["sum_f64"], check["sum_f64"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fingerprint["first4_f32"], check["first4_f32"], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_outputs_match_the_reference(weights, dtype, tolerance):
    expected = _load("outputs")
    actual = _run(weights, dtype)
    assert expected["depth@f64"].min() > 0  # the golden input keeps the disparity off the final ReLU
    for name, reference in expected.items():
        assert _relative_error(actual[name], reference) <= tolerance, name
