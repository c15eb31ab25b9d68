"""Golden tests: own inpainting nets, DPT-Hybrid and its ADE20K segmentation model vs the reference architectures.

The reference networks (3D Photo Inpainting ``Inpaint_Depth_Net`` / ``Inpaint_Color_Net``, MiDaS
``DPTDepthModel`` with the ``vitb_rn50_384`` backbone) were loaded with deterministic synthetic weights and
run on fixed inputs (the rule is in ``tests/synthetic_weights.py``). Here the own implementations get the same
weights and must reproduce the stored ``@f64`` outputs:

* float64 model vs ``@f64``: relative error (max |diff| / max |ref|) <= 1e-9 (only summation order differs);
* float32 model vs ``@f64``: relative error <= 1e-4 (float32 rounding; observed ~1e-5).

Data under ``tests/data/golden/`` is a subset of the full set of golden vectors made for the project:

* ``inpaint_depth/``, ``inpaint_color/``: only the inputs each net consumes and the ``@f64`` outputs;
* ``dpt_hybrid/``: input, ``head_pre_relu@f64`` and the four ``debug_layer_J_channel_mean@f64`` for the
  timm-1.0.31 model and for ``timm0.4.5/``. ``inv_depth@f64`` was dropped because it is bit-for-bit
  ``relu(head_pre_relu@f64)[:, 0]`` (checked when the subset was made), so it is rebuilt from that here.
  The timm-1.0.31 golden uses the weight standardisation ``(w - mean) / sqrt(var + 1e-8)``, ``timm0.4.5/``
  the one of the released weights, ``(w - mean) / (std + 1e-5)``.
* ``dpt_hybrid_ade20k/``: input, weights check, and the ``@f64`` outputs only (13 logit channels, the mean of
  all 150, the argmax labels, the reassembled maps' channel means).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

from cine_core.nets.dpt import DPTHybrid, DPTSegmentation
from cine_core.nets import banded, dpt
from cine_core.nets.inpaint_nets import ColorInpaintNet, DepthInpaintNet, inpaint_padded

from synthetic_weights import synthetic_state_dict

GOLDEN = Path(__file__).parent / "data" / "golden"

F64_TOLERANCE = 1e-9
F32_TOLERANCE = 1e-4


def _load(net_dir: str, name: str) -> dict:
    return torch.load(GOLDEN / net_dir / f"{name}.pt", map_location="cpu", weights_only=True)


def relative_error(actual: torch.Tensor, reference: torch.Tensor) -> float:
    """max |actual - reference| / max |reference|, computed in float64."""
    assert actual.shape == reference.shape, (actual.shape, reference.shape)
    reference = reference.double()
    return ((actual.double() - reference).abs().max() / reference.abs().max()).item()


def assert_matches_weights_check(weights: dict[str, torch.Tensor], net_dir: str) -> None:
    """Key order, per-tensor float64 sums and first four values as in ``weights_check.pt``."""
    check = _load(net_dir, "weights_check")
    assert list(weights) == check["keys"]
    sums = torch.stack([tensor.double().sum() for tensor in weights.values()])
    torch.testing.assert_close(sums, check["sum_f64"], rtol=1e-12, atol=1e-12)
    first4 = torch.full((len(weights), 4), float("nan"), dtype=torch.float32)
    for row, tensor in enumerate(weights.values()):
        head = tensor.reshape(-1)[:4].float()
        first4[row, : head.numel()] = head
    torch.testing.assert_close(first4, check["first4_f32"], rtol=0, atol=0, equal_nan=True)
    # Stored as a 0-dim tensor by most goldens, as a Python float by dpt_hybrid_ade20k's.
    total = torch.as_tensor(check["total_sum_f64"], dtype=torch.float64)
    torch.testing.assert_close(sums.sum(), total, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------------------------------------
# Inpainting nets
# ----------------------------------------------------------------------------------------------------------

# net dir -> (class, name of the image-like input, output name)
INPAINT_NETS = {
    "inpaint_depth": (DepthInpaintNet, "zero_mean_depth", "inpainted_zero_mean_log_depth"),
    "inpaint_color": (ColorInpaintNet, "context_rgb", "inpainted_rgb"),
}
INPAINT_CASES = ("", "pad100x120/")  # 128x128 (no padding) and 100x120 (padded to 128x128, anchors 14 and 4)


@pytest.fixture(scope="module", params=list(INPAINT_NETS))
def inpaint_results(request) -> dict:
    """Build one inpainting net with the synthetic weights and run every case in float64 and float32."""
    net_dir = request.param
    net_class, image_key, output_key = INPAINT_NETS[net_dir]
    net = net_class().eval()
    weights = synthetic_state_dict(net.state_dict(), ones_for_mask_conv=True)
    net.load_state_dict(weights, strict=True)
    inputs = _load(net_dir, "inputs")

    outputs = {}
    for dtype in (torch.float64, torch.float32):
        net.to(dtype)
        for case in INPAINT_CASES:
            args = [inputs[case + key].to(dtype) for key in ("holes", "context", image_key, "edge")]
            with torch.no_grad():
                outputs[case, dtype] = net.inpaint(*args)
    return {"net_dir": net_dir, "net": net, "weights": weights, "outputs": outputs, "output_key": output_key}


def test_inpaint_synthetic_weights_match_golden(inpaint_results):
    assert_matches_weights_check(inpaint_results["weights"], inpaint_results["net_dir"])


@pytest.mark.parametrize("case", INPAINT_CASES)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, F64_TOLERANCE), (torch.float32, F32_TOLERANCE)])
def test_inpaint_output_matches_golden(inpaint_results, case, dtype, tolerance):
    reference = _load(inpaint_results["net_dir"], "outputs")[case + inpaint_results["output_key"] + "@f64"]
    actual = inpaint_results["outputs"][case, dtype]
    assert actual.dtype == dtype
    assert relative_error(actual, reference) <= tolerance


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, F64_TOLERANCE), (torch.float32, F32_TOLERANCE)])
def test_inpaint_nets_in_bands_of_rows_match_golden(inpaint_results, monkeypatch, dtype, tolerance):
    """A stride-1 partial convolution whose input is large runs on bands of rows; forced on the
    golden input (bands of 8 rows, the least: most bands have both edges inside the image), the outputs
    match the golden ones and the one-pass outputs up to rounding."""
    net, case = inpaint_results["net"], INPAINT_CASES[0]
    inputs = _load(inpaint_results["net_dir"], "inputs")
    image_key = INPAINT_NETS[inpaint_results["net_dir"]][1]
    args = [inputs[case + key].to(dtype) for key in ("holes", "context", image_key, "edge")]
    monkeypatch.setattr(banded, "INPUT_BYTES_AT_ONCE", 1)
    try:
        net.to(dtype)
        with torch.no_grad():
            in_bands = net.inpaint(*args)
    finally:
        net.to(torch.float32)  # as the fixture leaves it
    reference = _load(inpaint_results["net_dir"], "outputs")[case + inpaint_results["output_key"] + "@f64"]
    assert relative_error(in_bands, reference) <= tolerance
    assert relative_error(in_bands, inpaint_results["outputs"][case, dtype]) <= tolerance / 10


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_a_convolution_in_bands_of_rows_equals_one_pass(monkeypatch, kernel):
    conv = torch.nn.Conv2d(6, 4, kernel, padding=kernel // 2)
    image = torch.rand(1, 6, 37, 23, generator=torch.Generator().manual_seed(kernel))
    with torch.no_grad():
        whole = conv(image)
        monkeypatch.setattr(banded, "INPUT_BYTES_AT_ONCE", 1)  # bands of 8 rows, the last one of 5
        rows = banded.conv2d_in_bands(conv, lambda top, bottom: image[:, :, top:bottom], 37, 23)
    torch.testing.assert_close(rows, whole, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="stride-1"):
        banded.conv2d_in_bands(torch.nn.Conv2d(6, 4, 3, stride=2, padding=1), lambda top, bottom: image, 37, 23)


def test_a_per_pixel_step_after_a_convolution_in_bands_runs_on_each_band(monkeypatch):
    conv, step = torch.nn.Conv2d(6, 4, 3, padding=1), torch.nn.Conv2d(4, 9, 1)
    image = torch.rand(1, 6, 37, 23, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = step(conv(image))
        monkeypatch.setattr(banded, "INPUT_BYTES_AT_ONCE", 1)
        rows = banded.conv2d_in_bands(conv, lambda top, bottom: image[:, :, top:bottom], 37, 23, followed_by=step)
    torch.testing.assert_close(rows, whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("height, width", [(1, 5), (2, 3), (16, 24), (64, 64)])
def test_upsampled_rows_are_those_of_the_bilinear_upsampling(height, width):
    """Each band of rows of the x2 upsampling (``align_corners``) from the input rows it reaches:
    the same rows whatever the bands' height, and the whole map's up to a rounding (bit-identical
    here from 64x64 up, a rounding apart on smaller maps, where PyTorch sums in another order)."""
    image = torch.rand(2, 3, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(height))
    whole = torch.nn.functional.interpolate(image, scale_factor=2.0, mode="bilinear", align_corners=True)
    one_band = banded.upsampled_rows(image, 0, 2 * height)
    torch.testing.assert_close(one_band, whole, rtol=0, atol=1e-15)
    for rows in (1, 3, 8):
        in_bands = torch.cat([banded.upsampled_rows(image, top, min(top + rows, 2 * height))
                              for top in range(0, 2 * height, rows)], dim=2)
        assert torch.equal(in_bands, one_band)


def test_inpaint_padded_uses_centred_anchor(inpaint_results):
    """inpaint_padded equals running the net on the hand-padded input (anchor = residual // 2) and cropping."""
    net = inpaint_results["net"]  # float32 after the fixture
    channels = 4 if isinstance(net, DepthInpaintNet) else 6
    net_input = torch.rand(1, channels, 100, 120, generator=torch.Generator().manual_seed(0))
    padded = torch.zeros(1, channels, 128, 128)
    padded[..., 14:114, 4:124] = net_input  # residuals 28 and 8 -> anchors 14 and 4
    with torch.no_grad():
        expected = net(padded)[..., 14:114, 4:124]
        actual = inpaint_padded(net, net_input)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------------------
# DPT-Hybrid
# ----------------------------------------------------------------------------------------------------------

# std_conv_formula -> prefix of the golden entries produced with it
DPT_GOLDENS = {"sqrt_var_plus_eps": "", "std_plus_eps": "timm0.4.5/"}


@functools.cache
def _dpt_synthetic_weights() -> dict[str, torch.Tensor]:
    """Synthetic DPT weights (shared by both formulas: the state-dict keys and shapes do not depend on it)."""
    with torch.device("meta"):  # only keys and shapes are needed: skip allocating and initialising 123M params
        reference = DPTHybrid().state_dict()
    return synthetic_state_dict(reference)


@pytest.fixture(scope="module", params=list(DPT_GOLDENS))
def dpt_results(request) -> dict:
    """Build DPT-Hybrid with one standardisation formula and run the golden input in float64 and float32.

    pytest finalises a module-scoped parametrised fixture before building the next parameter, so only one
    model (left in float32) is alive at a time.
    """
    formula = request.param
    net = DPTHybrid(std_conv_formula=formula).eval()
    net.load_state_dict(_dpt_synthetic_weights(), strict=True)
    image = _load("dpt_hybrid", "inputs")["image"]

    results = {}
    for dtype in (torch.float64, torch.float32):
        net.to(dtype)
        with torch.no_grad():
            output = net.forward_with_intermediates(image.to(dtype))
        results[dtype] = {
            "head_pre_relu": output.head_pre_relu,
            "inv_depth": output.inv_depth,
            **{f"debug_layer_{j}_channel_mean": f.mean(dim=(2, 3)) for j, f in enumerate(output.features, 1)},
        }
    return {"prefix": DPT_GOLDENS[formula], "net": net, "outputs": results}


def _dpt_reference(prefix: str, name: str) -> torch.Tensor:
    golden = _load("dpt_hybrid", "outputs")
    if name == "inv_depth":
        return torch.relu(golden[prefix + "head_pre_relu@f64"])[:, 0]
    return golden[prefix + name + "@f64"]


def test_dpt_synthetic_weights_match_golden():
    assert_matches_weights_check(_dpt_synthetic_weights(), "dpt_hybrid")


DPT_COMPARED = ("head_pre_relu", "inv_depth") + tuple(f"debug_layer_{j}_channel_mean" for j in range(1, 5))


@pytest.mark.parametrize("name", DPT_COMPARED)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, F64_TOLERANCE), (torch.float32, F32_TOLERANCE)])
def test_dpt_output_matches_golden(dpt_results, name, dtype, tolerance):
    actual = dpt_results["outputs"][dtype][name]
    assert actual.dtype == dtype
    assert relative_error(actual, _dpt_reference(dpt_results["prefix"], name)) <= tolerance


def test_dpt_standardisation_formula_is_distinguishable(dpt_results):
    """In float64 the other formula's golden must be clearly missed (README: rel ~1e-5 apart)."""
    other_prefix = next(p for p in DPT_GOLDENS.values() if p != dpt_results["prefix"])
    actual = dpt_results["outputs"][torch.float64]["head_pre_relu"]
    assert relative_error(actual, _dpt_reference(other_prefix, "head_pre_relu")) > 1e-7


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, F64_TOLERANCE), (torch.float32, F32_TOLERANCE / 10)])
def test_dpt_depth_head_in_bands_of_rows_equals_the_whole_head(dpt_results, monkeypatch, dtype, tolerance):
    """The depth head's first convolution on bands of rows (the least the convolution allows),
    each band upsampled from the map before the last fusion block's upsampling, gives the
    depth of the head on the whole upsampled map, and forward gives forward_with_intermediates'
    depth."""
    net, image = dpt_results["net"], _load("dpt_hybrid", "inputs")["image"].to(dtype)
    try:
        net.to(dtype)
        with torch.no_grad():
            whole = net.scratch(list(net.pretrained(image)))
            monkeypatch.setattr(dpt, "HEAD_INPUT_BYTES_AT_ONCE", 1)
            in_bands = net.forward_with_intermediates(image)
            depth = net(image)
    finally:
        net.to(torch.float32)  # as the fixture leaves it
    assert in_bands.head_pre_relu.shape == whole.shape
    assert relative_error(in_bands.head_pre_relu, whole) <= tolerance
    assert torch.equal(depth, in_bands.inv_depth)


def test_dpt_non_384_input_runs(dpt_results):
    """Sides that are multiples of 32 but not 384 work (position embeddings resized); others are rejected."""
    net = dpt_results["net"]  # float32 after the fixture
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        output = net.forward_with_intermediates(image)
    assert output.inv_depth.shape == (1, 64, 96)
    assert [tuple(f.shape[-2:]) for f in output.features] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert torch.isfinite(output.head_pre_relu).all()
    torch.testing.assert_close(output.inv_depth, torch.relu(output.head_pre_relu)[:, 0], rtol=0, atol=0)
    with pytest.raises(ValueError):
        net(torch.zeros(1, 3, 64, 80))


# ----------------------------------------------------------------------------------------------------------
# DPT-Hybrid ADE20K segmentation
# ----------------------------------------------------------------------------------------------------------
# ``dpt_hybrid_ade20k/``: input, weights check and the ``@f64`` outputs (the 13 stored logit channels, the
# spatial mean of all 150, the argmax labels and the four reassembled maps' channel means); built with
# timm 1.0.31, so the weight standardisation is ``sqrt_var_plus_eps``.


@pytest.fixture(scope="module")
def segmentation_results() -> dict:
    """DPT segmentation with the synthetic weights (eval mode) on the golden input, float64 and float32."""
    with torch.device("meta"):
        reference = DPTSegmentation().state_dict()
    weights = synthetic_state_dict(reference)
    net = DPTSegmentation(std_conv_formula="sqrt_var_plus_eps").eval()
    net.load_state_dict(weights, strict=True)
    image = _load("dpt_hybrid_ade20k", "inputs")["image"]
    results = {}
    for dtype in (torch.float64, torch.float32):
        net.to(dtype)
        with torch.no_grad():
            logits, features = net.forward_with_features(image.to(dtype))
        results[dtype] = {"logits": logits, **{f"debug_layer_{j}_channel_mean": f.mean(dim=(2, 3))
                                               for j, f in enumerate(features, 1)}}
    return {"weights": weights, "outputs": results, "net": net, "image": image}


def test_segmentation_logits_in_pieces_match_golden(segmentation_results, monkeypatch):
    """What the motion detection uses: the head on bands of rows (forced to the least), the
    logits before the last upsampling, then upsampled a few channels at a time; the same logits
    as the golden ones and as one pass."""
    net, image = segmentation_results["net"], segmentation_results["image"].float()
    monkeypatch.setattr(dpt, "HEAD_INPUT_BYTES_AT_ONCE", 1)
    with torch.no_grad():
        half = net.float().half_size_logits(image)
        logits = torch.cat([net.upsample_logits(half[:, start:start + 7]) for start in range(0, half.shape[1], 7)], 1)
    golden = _load("dpt_hybrid_ade20k", "outputs")
    assert relative_error(logits[:, golden["channels"]], golden["logits_selected@f64"]) <= F32_TOLERANCE
    assert relative_error(logits, segmentation_results["outputs"][torch.float32]["logits"]) <= F32_TOLERANCE / 10


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, F64_TOLERANCE), (torch.float32, F32_TOLERANCE / 10)])
def test_segmentation_head_in_bands_of_rows_equals_the_whole_head(segmentation_results, monkeypatch, dtype, tolerance):
    """The head on bands of 8 rows (the least; the golden input's fused map has 32), each band
    upsampled from the map before the last fusion block's upsampling, gives the logits of the
    head on the whole upsampled map (float64: a rounding apart, from the upsampling at this size;
    float32: also the convolution library's kernels for the bands' shapes)."""
    net, image = segmentation_results["net"], segmentation_results["image"].to(dtype)
    try:
        net.to(dtype)
        with torch.no_grad():
            whole = net.scratch.output_conv[:-1](net.scratch.fuse(net.pretrained(image)))
            monkeypatch.setattr(dpt, "HEAD_INPUT_BYTES_AT_ONCE", 1)
            in_bands = net.half_size_logits(image)
    finally:
        net.to(torch.float32)  # as the fixture leaves it
    assert in_bands.shape == whole.shape == (1, 150, 32, 48)
    assert relative_error(in_bands, whole) <= tolerance


def test_segmentation_synthetic_weights_match_golden(segmentation_results):
    assert_matches_weights_check(segmentation_results["weights"], "dpt_hybrid_ade20k")


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, F64_TOLERANCE), (torch.float32, F32_TOLERANCE)])
def test_segmentation_logits_match_golden(segmentation_results, dtype, tolerance):
    golden = _load("dpt_hybrid_ade20k", "outputs")
    outputs = segmentation_results["outputs"][dtype]
    logits = outputs["logits"]
    assert logits.dtype == dtype and logits.shape == (1, 150, 64, 96)
    assert relative_error(logits[:, golden["channels"]], golden["logits_selected@f64"]) <= tolerance
    assert relative_error(logits.mean(dim=(2, 3)), golden["logits_channel_mean@f64"]) <= tolerance
    for j in range(1, 5):
        name = f"debug_layer_{j}_channel_mean"
        assert relative_error(outputs[name], golden[name + "@f64"]) <= tolerance


def test_segmentation_labels_match_golden(segmentation_results):
    """The argmax over the 150 classes (what the motion detection uses) is the reference's everywhere."""
    labels = segmentation_results["outputs"][torch.float64]["logits"].argmax(dim=1)
    torch.testing.assert_close(labels, _load("dpt_hybrid_ade20k", "outputs")["labels@f64"], rtol=0, atol=0)
