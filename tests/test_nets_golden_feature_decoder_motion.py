"""Golden tests: FeatureNet, ImageDecoder and MotionNet against the reference networks' outputs.

The reference networks (3D Cinemagraphy) were loaded with deterministic synthetic weights (the "weight rule",
``tests/synthetic_weights.py``) and run on fixed inputs; ``tests/data/golden/<net>/`` holds copies of
those inputs, the float64 reference outputs (``@f64``) and the per-tensor checksums of the weights
(``weights_check.pt``: the state-dict keys in order, each tensor's float64 sum and its first four values).

Acceptance: a float64 model matches ``@f64`` to ~1e-9 relative (max |diff| / max |ref|), only summation order
differs; a float32 model matches ``@f64`` to 1e-4 relative.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from cine_core.nets.feature_net import FeatureNet
from cine_core.nets.img_decoder import ImageDecoder, blend_renderings
from cine_core.nets.motion_net import MotionNet

from synthetic_weights import state_dict_fingerprint, synthetic_state_dict

GOLDEN_DIR = Path(__file__).parent / "data" / "golden"
F64_REL_TOL = 1e-9
F32_REL_TOL = 1e-4

NET_BUILDERS = {"feature_net": FeatureNet, "img_decoder": ImageDecoder, "motion_net": MotionNet}
NUM_KEYS = {"feature_net": 105, "img_decoder": 95, "motion_net": 142}


def _load_golden(net_name: str, file_stem: str) -> dict:
    return torch.load(GOLDEN_DIR / net_name / f"{file_stem}.pt", map_location="cpu", weights_only=True)


def _relative_error(actual: Tensor, reference: Tensor) -> float:
    """max |actual - reference| / max |reference|, computed in float64."""
    reference = reference.double()
    return ((actual.double() - reference).abs().max() / reference.abs().max()).item()


@lru_cache(maxsize=None)
def _synthetic_weights(net_name: str) -> dict[str, Tensor]:
    """Synthetic float32 weights of a network, generated once per test session (read-only use)."""
    return synthetic_state_dict(NET_BUILDERS[net_name]().state_dict())


def _golden_model(net_name: str, dtype: torch.dtype) -> nn.Module:
    """Fresh network with the synthetic weights (generated in float32, then converted like the reference)."""
    model = NET_BUILDERS[net_name]()
    model.load_state_dict(_synthetic_weights(net_name), strict=True)
    return model.to(dtype)


@pytest.fixture(scope="module", params=["feature_net", "img_decoder", "motion_net"])
def net_name(request: pytest.FixtureRequest) -> str:
    return request.param


# --------------------------------------------------------------------------------------------------------------
# Weight rule and state-dict compatibility


def test_weight_rule_matches_reference_checksums(net_name: str) -> None:
    reference = _load_golden(net_name, "weights_check")
    model_keys = list(NET_BUILDERS[net_name]().state_dict())
    fingerprint = state_dict_fingerprint(_synthetic_weights(net_name))

    assert len(model_keys) == NUM_KEYS[net_name]
    assert model_keys == reference["keys"]  # same names, same order as the checkpoint
    assert fingerprint["keys"] == reference["keys"]
    torch.testing.assert_close(fingerprint["sum_f64"], reference["sum_f64"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fingerprint["first4_f32"], reference["first4_f32"], rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(fingerprint["total_sum_f64"], reference["total_sum_f64"], rtol=1e-12, atol=1e-12)


def test_synthetic_state_dict_accepts_module() -> None:
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    from_module = synthetic_state_dict(module)
    from_dict = synthetic_state_dict(module.state_dict())
    assert list(from_module) == list(module.state_dict())
    for key, tensor in module.state_dict().items():
        assert from_module[key].shape == tensor.shape, key
        assert torch.equal(from_module[key], from_dict[key]), key
    module.load_state_dict(from_module, strict=True)


def test_synthetic_state_dict_special_keys() -> None:
    reference = {
        "enc_1.conv.mask_conv.weight": torch.zeros(2, 3, 3, 3),
        "enc_2.bn.running_var": torch.ones(4),
        "enc_2.bn.num_batches_tracked": torch.tensor(7),
        "conv.weight_u": torch.zeros(5, dtype=torch.float64),
    }
    plain = synthetic_state_dict(reference)
    assert not torch.equal(plain["enc_1.conv.mask_conv.weight"], torch.ones(2, 3, 3, 3))
    with_ones = synthetic_state_dict(reference, ones_for_mask_conv=True)
    assert torch.equal(with_ones["enc_1.conv.mask_conv.weight"], torch.ones(2, 3, 3, 3))
    assert torch.equal(with_ones["enc_2.bn.running_var"], plain["enc_2.bn.running_var"])

    var = plain["enc_2.bn.running_var"]
    assert var.dtype == torch.float32 and bool(((var >= 0.5) & (var <= 1.5)).all())
    count = plain["enc_2.bn.num_batches_tracked"]
    assert count.dtype == torch.int64 and count.item() == 0
    unit = plain["conv.weight_u"]
    assert unit.dtype == torch.float32  # generated as float32 whatever the reference dtype
    assert abs(torch.linalg.vector_norm(unit.double()).item() - 1.0) < 1e-6


def test_strict_loading_rejects_missing_and_misshaped_keys(net_name: str) -> None:
    model = NET_BUILDERS[net_name]()
    weights = _synthetic_weights(net_name)
    first_key = next(iter(weights))

    missing = dict(weights)
    del missing[first_key]
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict(missing, strict=True)

    misshaped = dict(weights)
    misshaped[first_key] = torch.zeros(tuple(misshaped[first_key].shape) + (2,))
    with pytest.raises(RuntimeError, match="size mismatch"):
        model.load_state_dict(misshaped, strict=True)

    unexpected = dict(weights)
    unexpected["not_in_checkpoint.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict(unexpected, strict=True)


# --------------------------------------------------------------------------------------------------------------
# Golden outputs


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, F64_REL_TOL), (torch.float32, F32_REL_TOL)])
def test_feature_net_matches_reference(dtype: torch.dtype, tolerance: float) -> None:
    inputs = _load_golden("feature_net", "inputs")
    reference = _load_golden("feature_net", "outputs")["featmaps@f64"]
    # The reference calls eval(); BatchNorm still uses batch statistics (no running stats exist).
    model = _golden_model("feature_net", dtype).eval()
    with torch.no_grad():
        featmaps = model(inputs["rgba_layers"].to(dtype))
    assert featmaps.shape == (2, 32, 16, 24)
    assert featmaps.dtype == dtype
    assert _relative_error(featmaps, reference) <= tolerance


def test_feature_net_uses_batch_statistics_in_eval_mode() -> None:
    model = _golden_model("feature_net", torch.float32)
    layers = _load_golden("feature_net", "inputs")["rgba_layers"]
    with torch.no_grad():
        train_out = model.train()(layers)
        eval_out = model.eval()(layers)
        single = model(layers[:1])
    assert torch.equal(train_out, eval_out)
    # A layer's features depend on the other layers of the batch.
    assert not torch.allclose(single, eval_out[:1])


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, F64_REL_TOL), (torch.float32, F32_REL_TOL)])
def test_img_decoder_matches_reference(dtype: torch.dtype, tolerance: float) -> None:
    inputs = _load_golden("img_decoder", "inputs")
    outputs = _load_golden("img_decoder", "outputs")
    x0, x1 = inputs["x0"].to(dtype), inputs["x1"].to(dtype)
    model = _golden_model("img_decoder", dtype).eval()
    with torch.no_grad():
        pred_rgb = model(x0, x1, float(inputs["time"]))
        pred_novel = model(x0, x0, float(inputs["time_novel_view"]))
    assert pred_rgb.shape == pred_novel.shape == (1, 3, 64, 96)
    assert _relative_error(pred_rgb, outputs["pred_rgb@f64"]) <= tolerance
    assert _relative_error(pred_novel, outputs["pred_rgb_novel_view@f64"]) <= tolerance


def test_img_decoder_blend_then_decode_equals_forward() -> None:
    inputs = _load_golden("img_decoder", "inputs")
    x0, x1 = inputs["x0"].double(), inputs["x1"].double()
    model = _golden_model("img_decoder", torch.float64).eval()
    time = float(inputs["time"])
    with torch.no_grad():
        blended = model.blend_renderings(x0, x1, time)
        assert torch.equal(blended, blend_renderings(x0, x1, time, model.alpha))
        # t = 0 selects the first rendering wherever its blend weight exceeds the 1e-6 clamp.
        only_first = model.blend_renderings(x0, x1, 0.0)
        weight0 = torch.exp(model.alpha * x0[:, 36:37]) * x0[:, 3:4]
        small0, small1 = x0[..., :32, :32], x1[..., :32, :32]
        assert torch.equal(model.decode(model.blend_renderings(small0, small1, time)), model(small0, small1, time))
    selected = (weight0 >= 1e-6).expand_as(x0)
    assert bool(selected.any())
    torch.testing.assert_close(only_first[selected], x0[selected], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(32, 32), (48, 64), (60, 90)])  # 64x96: golden test
def test_img_decoder_output_sizes(size: tuple[int, int]) -> None:
    # up1 crops the x2-upsampled bottleneck back to H/16 (negative reflect-pad amounts); up2-4 pad by reflection
    # for sizes that are not multiples of 16.
    model = ImageDecoder().eval()
    x = torch.rand(1, 37, *size)
    with torch.no_grad():
        out = model(x, x, 0.5)
    assert out.shape == (1, 3, *size)
    assert bool(((out > 0) & (out < 1)).all())


def test_img_decoder_rejects_odd_or_tiny_sizes() -> None:
    model = ImageDecoder()
    for size in [(33, 64), (64, 30)]:
        x = torch.rand(1, 37, *size)
        with pytest.raises(ValueError):
            model(x, x, 0.0)


def test_motion_net_matches_reference_first_forward() -> None:
    inputs = _load_golden("motion_net", "inputs")
    outputs = _load_golden("motion_net", "outputs")
    image, hint = inputs["image"], inputs["hint"]
    mask = inputs["mask_bool"].float()  # stored as bool to halve the file; the reference mask is {0., 1.}

    for dtype, tolerance in [(torch.float64, F64_REL_TOL), (torch.float32, F32_REL_TOL)]:
        # Training mode, as the reference: spectral norm does one power iteration on the first forward.
        model = _golden_model("motion_net", dtype)
        assert model.training
        with torch.no_grad():
            flow = model(image.to(dtype), mask.to(dtype), hint.to(dtype))
        assert flow.shape == (1, 2, 256, 256)
        assert flow.dtype == dtype
        error = _relative_error(flow, outputs["PredMotion@f64"])
        assert error <= tolerance, (dtype, error)

        buffers = model.state_dict()
        checked = 0
        for name, reference in outputs.items():
            if not name.startswith("sn_weight_"):
                continue
            key = name.split("/", 1)[1].removesuffix("@f64")
            error = _relative_error(buffers[key], reference)
            assert error <= tolerance, (dtype, key, error)
            checked += 1
        assert checked == 32  # u and v of conv1-8 and dconv1-8


def test_motion_net_rejects_sizes_not_multiple_of_256() -> None:
    model = MotionNet()
    with pytest.raises(ValueError):
        model(torch.zeros(1, 3, 384, 256), torch.zeros(1, 1, 384, 256), torch.zeros(1, 2, 384, 256))
