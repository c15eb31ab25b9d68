"""The neural backend: official-layout weight files, safe strict loading, backend choice per stage,
the network stages, the CLI end to end, and the weight downloader against a local HTTP server.

Weight files here hold random weights in the layout of the published files (nested dicts,
optimizer and scheduler states included); nothing touches the internet.
"""
from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
import torch

from cine_core.errors import CineError
from cine_core.nets.checkpoints import FILES, NETWORKS, find_checkpoint, load_networks, read_checkpoint
from cine_core.nets.dpt import DPTHybrid, DPTSegmentation
from cine_core.nets.feature_net import FeatureNet
from cine_core.nets.img_decoder import ImageDecoder
from cine_core.nets.inpaint_nets import ColorInpaintNet, DepthInpaintNet
from cine_core.nets.motion_net import MotionNet
from cine_core.depth.dpt import dpt_input_size
from cine_core.nets.depth_anything import DepthAnythingV2
from cine_core.motion.network import MotionPredictor
from cine_core.pipeline.backend import NeuralBackend

from conftest import ROOT, run_cli, write_scene



def _adam_state(parameters: list[torch.nn.Parameter]) -> tuple[dict, dict]:
    """A real Adam + StepLR state after one step (moments for a few parameters keep files small)."""
    optimizer = torch.optim.Adam(parameters, lr=1e-4, weight_decay=1e-4, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=50000, gamma=0.5)
    loss = sum(p.float().square().sum() for p in parameters[-3:])
    loss.backward()
    optimizer.step()
    scheduler.step()
    for p in parameters:
        p.grad = None
    return optimizer.state_dict(), scheduler.state_dict()


def write_official_files(folder: str, files: tuple[str, ...] = FILES) -> dict[str, dict]:
    """Random-weight files in the published layout; returns name -> state dict written, per network."""
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    written: dict[str, dict] = {}
    if "model_150000.pth" in files:
        feature_net, decoder = FeatureNet(), ImageDecoder()
        optim_g, sched_g = _adam_state(list(feature_net.parameters()) + list(decoder.parameters()))
        discriminator = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 4, 2, 1), torch.nn.Conv2d(8, 1, 4))
        optim_d, sched_d = _adam_state(list(discriminator.parameters()))
        written["feature_net"], written["img_decoder"] = feature_net.state_dict(), decoder.state_dict()
        torch.save({"optimG": optim_g, "schedG": sched_g, "optimD": optim_d, "schedD": sched_d,
                    "feature_net": written["feature_net"], "img_decoder": written["img_decoder"],
                    "netD": {f"netD.{k}": v for k, v in discriminator.state_dict().items()}},
                   os.path.join(folder, "model_150000.pth"))
    if "sceneflow_model.pth" in files:
        motion = MotionNet()
        optim_g, _ = _adam_state(list(motion.parameters()))
        written["motion_net"] = motion.state_dict()
        torch.save({"netG": written["motion_net"], "optimizer_G": optim_g, "epoch": 120},
                   os.path.join(folder, "sceneflow_model.pth"))
    for name, build, filename in (("inpaint_depth", DepthInpaintNet, "depth-model.pth"),
                                  ("inpaint_color", ColorInpaintNet, "color-model.pth"),
                                  ("dpt", DPTHybrid, "dpt_hybrid-midas-501f0c75.pt"),
                                  ("dpt_ade20k", DPTSegmentation, "dpt_hybrid-ade20k-53898607.pt"),
                                  ("depth_anything_v2_small", DepthAnythingV2, "depth_anything_v2_vits.pth")):
        if filename in files:
            written[name] = build().state_dict()
            torch.save(written[name], os.path.join(folder, filename))
    return written


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> tuple[str, dict]:
    """A folder with all seven files (written once per module: about 1.6 GB, a few seconds)."""
    folder = str(tmp_path_factory.mktemp("ckpts"))
    return folder, write_official_files(folder)


# ------------------------------------------------------------------------------ loading

def test_downloader_fetches_exactly_the_files_the_core_loads():
    import install_deps  # standard library only: it reads the table of cine_core/nets/weight_files.py

    assert sorted(model["file"] for model in install_deps.MODELS) == sorted(FILES)
    assert len(FILES) == 7


def test_official_layout_loads_strictly(official):
    folder, written = official
    for name, spec in NETWORKS.items():
        path = find_checkpoint(spec.file, [folder])
        module = load_networks([name], path)[name]
        state = module.state_dict()
        assert list(state) == list(written[name])
        assert all(torch.equal(state[k], written[name][k]) for k in state)
        assert module.training == (name == "motion_net")  # the motion net stays in training mode


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_unexpected_and_misshapen_keys_are_named(tmp_path, official):
    _, written = official
    state = dict(written["img_decoder"])
    del state["alpha"]
    del state["outc.conv.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = str(tmp_path / "model_150000.pth")
    torch.save({"feature_net": written["feature_net"], "img_decoder": state}, path)
    with pytest.raises(CineError) as exc:
        load_networks(["feature_net", "img_decoder"], path)
    message = _one_line(exc)
    assert path in message and "img_decoder" in message
    assert "missing keys: alpha, outc.conv.bias" in message and "unexpected keys: extra.weight" in message

    shapes = dict(written["inpaint_depth"])
    key = next(iter(shapes))
    shapes[key] = torch.zeros(3)
    bad = str(tmp_path / "depth-model.pth")
    torch.save(shapes, bad)
    with pytest.raises(CineError) as exc:
        load_networks(["inpaint_depth"], bad)
    assert "wrong shapes" in _one_line(exc) and key in str(exc.value) and bad in str(exc.value)

    torch.save({"something": {}}, str(tmp_path / "sceneflow_model.pth"))
    with pytest.raises(CineError) as exc:
        load_networks(["motion_net"], str(tmp_path / "sceneflow_model.pth"))
    assert "no 'netG' entry" in _one_line(exc)


class _Payload:
    """Unpickling this runs ``exec`` / ``os.system`` (it would create ``marker``)."""

    def __init__(self, marker: str, how: str):
        self.marker, self.how = marker, how

    def __reduce__(self):
        if self.how == "system":
            return os.system, (f"touch {self.marker}",)
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.mark.parametrize("how", ["system", "exec"])
@pytest.mark.parametrize("container", ["torch-zip", "bare-pickle", "torch-legacy"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, how, container):
    marker = str(tmp_path / "pwned")
    path = str(tmp_path / "sceneflow_model.pth")
    content = {"netG": MotionNet().state_dict(), "opts": _Payload(marker, how)}
    if container == "torch-zip":
        torch.save(content, path)
    elif container == "torch-legacy":
        torch.save(content, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as handle:
            pickle.dump(content, handle, protocol=4)
    with pytest.raises(CineError) as exc:
        load_networks(["motion_net"], path)
    message = _one_line(exc)
    assert message.startswith(f"refusing to load {path}")
    assert not os.path.exists(marker)


def test_cli_refuses_payload_with_one_line(tmp_path, official):
    folder, _ = official
    evil = tmp_path / "evil"
    evil.mkdir()
    for name in FILES:
        os.symlink(os.path.join(folder, name), evil / name)
    marker = str(tmp_path / "pwned")
    os.remove(evil / "model_150000.pth")
    torch.save({"feature_net": _Payload(marker, "system")}, str(evil / "model_150000.pth"))
    scene = write_scene(str(tmp_path / "scene"))
    result = run_cli("render", scene, "--out", str(tmp_path / "out.mp4"), "--backend", "neural",
                     "--ckpts", str(evil), "--motion-size", "256", "--frames", "2", "--quiet")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: refusing to load") and "model_150000.pth" in errors[0]
    assert not os.path.exists(marker) and not os.path.exists(tmp_path / "out.mp4")


def test_training_entries_with_plain_objects_are_ignored(tmp_path, official):
    _, written = official
    path = str(tmp_path / "sceneflow_model.pth")
    torch.save({"netG": written["motion_net"], "opts": argparse.Namespace(lr=np.float64(2e-4), gpu_ids="0"),
                "loss_history": np.zeros(4)}, path)
    notes: list[str] = []
    module = load_networks(["motion_net"], path, notes=notes)["motion_net"]
    assert torch.equal(module.state_dict()["motion_predictor.conv1.bias"],
                       written["motion_net"]["motion_predictor.conv1.bias"])
    assert len(notes) == 1 and "argparse.Namespace" in notes[0] and "ignored" in notes[0]
    # ... but such an object where the network's weights should be is an error.
    torch.save({"netG": argparse.Namespace(a=1)}, path)
    with pytest.raises(CineError, match="not a state dict of tensors"):
        load_networks(["motion_net"], path)


def test_truncated_or_foreign_file(tmp_path, official):
    folder, _ = official
    path = str(tmp_path / "depth-model.pth")
    with open(os.path.join(folder, "depth-model.pth"), "rb") as source:
        data = source.read(100_000)
    with open(path, "wb") as handle:
        handle.write(data)
    with pytest.raises(CineError, match="truncated") as exc:
        read_checkpoint(path)
    _one_line(exc)
    with open(path, "wb") as handle:
        handle.write(b"<html>quota exceeded</html>")
    with pytest.raises(CineError) as exc:
        read_checkpoint(path)
    assert path in _one_line(exc)


# ------------------------------------------------------------------------ backend choice

def test_backend_modes_per_stage(tmp_path, official):
    folder, _ = official
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("sceneflow_model.pth", "depth-model.pth"):  # inpainting also needs color-model.pth
        os.symlink(os.path.join(folder, name), partial / name)
    def plan(backend: NeuralBackend) -> dict[str, bool]:
        return {stage: backend.uses(stage) for stage in ("depth", "inpaint", "motion", "render")}

    auto = NeuralBackend("auto", str(partial))
    assert plan(auto) == {"depth": False, "inpaint": False, "motion": True, "render": False}
    assert plan(NeuralBackend("classical", folder)) == dict.fromkeys(plan(auto), False)
    assert plan(NeuralBackend("auto", folder)) == dict.fromkeys(plan(auto), True)
    neural = NeuralBackend("neural", str(partial))
    assert neural.uses("motion")
    with pytest.raises(CineError) as exc:
        neural.uses("inpaint")
    message = _one_line(exc)
    assert "color-model.pth" in message and str(partial) in message and "install_deps.py --models" in message
    with pytest.raises(CineError, match="must be one of") as exc:
        NeuralBackend("fast")
    assert exc.value.parameter == "backend"  # each front end names its own setting


def test_depth_model_auto_prefers_dpt_and_takes_the_file_found(tmp_path, official):
    folder, _ = official

    def only(*names: str) -> str:
        partial = tmp_path / "-".join(names)
        partial.mkdir()
        for name in names:
            os.symlink(os.path.join(folder, name), partial / name)
        return str(partial)

    assert NeuralBackend("auto", folder).depth.name == "dpt-hybrid"  # both found: the published method's
    with_da = NeuralBackend("auto", only("depth_anything_v2_vits.pth"))
    assert with_da.uses("depth") and with_da.depth.name == "depth-anything-v2-small"
    assert with_da.label("depth") == "neural: Depth Anything V2 Small (depth_anything_v2_vits.pth)"
    assert list(with_da.load("depth")) == ["depth_anything_v2_small"]
    neither = only("sceneflow_model.pth")
    assert not NeuralBackend("auto", neither).uses("depth")
    assert NeuralBackend("classical", folder).depth.name == "classical"
    chosen = NeuralBackend("auto", folder, depth_model="depth-anything-v2-small")
    assert chosen.uses("depth") and chosen.depth.name == "depth-anything-v2-small"
    assert not NeuralBackend("neural", folder, depth_model="classical").uses("depth")
    with pytest.raises(CineError) as exc:  # asked for by name: its file is required
        NeuralBackend("auto", neither, depth_model="depth-anything-v2-small").check(["depth"])
    assert "depth_anything_v2_vits.pth" in _one_line(exc) and exc.value.parameter == "depth_model"
    with pytest.raises(CineError) as exc:  # neural without any depth file names the default's
        NeuralBackend("neural", neither).check(["depth"])
    assert "dpt_hybrid-midas-501f0c75.pt" in _one_line(exc)
    with pytest.raises(CineError, match="the classical backend excludes"):
        NeuralBackend("classical", folder, depth_model="dpt-hybrid")
    with pytest.raises(CineError, match="unknown depth model"):
        NeuralBackend("auto", folder, depth_model="midas-v1")


def test_depth_anything_input_size_follows_the_reference_lower_bound_resize():
    from cine_core.depth.depth_anything import input_size

    assert input_size(1280, 720) == (924, 518)
    assert input_size(720, 1280) == (518, 924)
    assert input_size(518, 518) == (518, 518)
    width, height = input_size(96, 64)  # small photos are enlarged until the short side is 518
    assert height == 518 and width % 14 == 0 and width >= 518 * 96 / 64


def test_cli_depth_model_by_name(tmp_path, official):
    """The depth a user asks for is the one the prepared scene holds, and says so."""
    folder, _ = official
    scene_dir = write_scene(str(tmp_path / "scene"))
    os.remove(os.path.join(scene_dir, "depth.npy"))
    saved = str(tmp_path / "scene.cine")
    result = run_cli("render", scene_dir, "--out", str(tmp_path / "clip.mp4"), "--depth-model",
                     "depth-anything-v2-small", "--ckpts", folder, "--frames", "2", "--quiet",
                     "--save-scene", saved)
    assert result.returncode == 0, result.stderr
    assert "depth: neural: Depth Anything V2 Small (depth_anything_v2_vits.pth)" in result.stdout
    result = run_cli("render", saved, "--out", str(tmp_path / "again.mp4"), "--depth-model", "classical")
    assert result.returncode == 2 and "--depth-model" in result.stderr and "prepared scene" in result.stderr


def test_dpt_input_size_follows_midas_minimal_resize():
    assert dpt_input_size(1280, 720) == (672, 384)
    assert dpt_input_size(720, 1280) == (384, 672)
    assert dpt_input_size(96, 64) == (384, 256)  # small photos: the factor closer to 1 wins
    width, height = dpt_input_size(1000, 700)
    assert height == 384 and width % 32 == 0


def test_motion_predictor_is_repeatable_and_stays_in_training_mode(official):
    _, written = official
    net = MotionNet()
    net.load_state_dict(written["motion_net"])
    predictor = MotionPredictor(net, size=256)
    rgb = torch.rand(3, 40, 60)
    mask = torch.zeros(40, 60, dtype=torch.bool)
    mask[10:30, 5:50] = True
    hint = torch.zeros(2, 40, 60)
    hint[0][mask] = 1.5
    first = predictor(rgb, mask, hint)
    second = predictor(rgb, mask, hint)
    assert net.training and torch.equal(first, second) and first.shape == (2, 40, 60)
    assert torch.isfinite(first).all() and first.abs().max() > 0
    # Each forward updates the spectral-norm vectors (as the reference); they are restored before the next.
    assert not torch.equal(net.state_dict()["motion_predictor.conv1.weight_u"],
                           written["motion_net"]["motion_predictor.conv1.weight_u"])


# ------------------------------------------------------------------ stages in the pipeline

def test_auto_picks_per_stage_in_prepare_and_render(tmp_path, official):
    from cine_core.cameras.paths import camera_path
    from cine_core.io.images import load_photo
    from cine_core.pipeline.run import (PrepareOptions, SceneInputs, load_annotation, prepare_scene, render_frames,
                                    with_motion)

    folder, _ = official
    partial = tmp_path / "partial"
    partial.mkdir()
    os.symlink(os.path.join(folder, "sceneflow_model.pth"), partial / "sceneflow_model.pth")
    scene_dir = write_scene(str(tmp_path / "scene"))
    options = PrepareOptions(backend="auto", ckpts_dir=str(partial), motion_size=256)
    scene = prepare_scene(SceneInputs.find(scene_dir), options)
    stages = scene.info["stages"]
    assert stages["flow"].startswith("neural: motion network (sceneflow_model.pth)")
    assert stages["layers"].startswith("classical") and stages["depth"].startswith("file depth.npy")
    classical = prepare_scene(SceneInputs.find(scene_dir), PrepareOptions(backend="classical"))
    assert classical.info["stages"]["flow"] == "hint interpolation"
    assert not torch.equal(scene.flow, classical.flow)
    # Editing the motion later (the add-on's Update Motion) takes the same network path.
    inputs = SceneInputs.find(scene_dir)
    annotation = load_annotation(inputs, load_photo(inputs.photo), [])
    edited = with_motion(classical, annotation, backend=NeuralBackend("auto", str(partial), motion_size=256))
    assert edited.info["stages"]["flow"] == stages["flow"]
    torch.testing.assert_close(edited.flow, scene.flow)
    assert with_motion(classical, annotation, backend="classical").info["stages"]["flow"] == "hint interpolation"
    frames = list(render_frames(scene, camera_path("up-down", scene.intrinsics, 2), backend="auto",
                                ckpts_dir=str(partial)))
    assert len(frames) == 2 and scene.info["stages"]["render"].startswith("classical")


def test_the_motion_network_receives_the_refined_region(tmp_path, official, monkeypatch):
    """Still structure inside the drawn region (a rock in white water) is outside the mask the
    network sees, as for the classical flow; the network itself runs for real."""
    from cine_core.io.annotations import MotionAnnotation
    from cine_core.motion.fluidity import refine_regions
    from cine_core.pipeline import run
    from test_fluidity import ROCK, _rgb, rapids

    folder, _ = official
    motion_only = tmp_path / "motion"
    motion_only.mkdir()
    os.symlink(os.path.join(folder, "sceneflow_model.pth"), motion_only / "sceneflow_model.pth")
    image, region = rapids()
    rgb = _rgb(image)
    seen = []
    call = MotionPredictor.__call__
    monkeypatch.setattr(MotionPredictor, "__call__",
                        lambda self, rgb_, mask, hint: seen.append(mask.clone()) or call(self, rgb_, mask, hint))
    annotation = MotionAnnotation((rgb.shape[2], rgb.shape[1]), region, [])
    backend = NeuralBackend("auto", str(motion_only), motion_size=256)
    flow, regions, method, _ = run._motion_stage(annotation, rgb, backend, "downwards", 1.0)
    assert method.startswith("neural: motion network")
    refined = torch.from_numpy(refine_regions(rgb, region.astype(np.int32)) > 0)
    x, y, _ = ROCK
    assert len(seen) == 1 and torch.equal(seen[0], refined) and not bool(seen[0][y, x])
    assert float(flow[:, y, x].abs().sum()) == 0.0


def test_auto_motion_with_the_segmentation_and_motion_networks(tmp_path, official):
    """A photo alone: the ADE20K network finds the regions when its file is there, and the motion
    network predicts guessed regions from the photo alone (zero hint channels)."""
    import cv2
    from cine_core.io.images import load_photo
    from cine_core.motion.flow import feather_flow, motion_regions
    from cine_core.motion.fluidity import refine_regions
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, find_motion, prepare_scene
    from test_motion_detect import landscape

    folder, _ = official
    photo = str(tmp_path / "landscape.png")
    cv2.imwrite(photo, landscape()[:, :, ::-1])
    motion_only = tmp_path / "motion_only"
    motion_only.mkdir()
    os.symlink(os.path.join(folder, "sceneflow_model.pth"), motion_only / "sceneflow_model.pth")
    backend = NeuralBackend("auto", str(motion_only), motion_size=256)
    scene = prepare_scene(SceneInputs(photo), PrepareOptions(backend="auto", ckpts_dir=str(motion_only), motion_size=256))
    assert scene.info["stages"]["flow"] == ("neural: motion network (sceneflow_model.pth) from weight-free "
                                            "detection + hint interpolation")
    assert scene.info["auto_motion"].endswith("(weight-free detection)")
    rgb = load_photo(photo).rgb
    found, _ = find_motion(rgb, [], None, backend)
    predictor = MotionPredictor(backend.load("motion")["motion_net"], 256)
    # The network sees the found regions less the still structure inside them.
    refined = torch.from_numpy(refine_regions(rgb, motion_regions(found.annotation)) > 0)
    expected = predictor(rgb, refined, torch.zeros(2, *rgb.shape[1:]))
    # The network's field, feathered towards the regions' borders like every flow.
    torch.testing.assert_close(scene.flow, feather_flow(expected, scene.motion_regions()))
    # With the segmentation file the network finds the regions (random weights: whatever it finds).
    segment_only = tmp_path / "segment_only"
    segment_only.mkdir()
    os.symlink(os.path.join(folder, "dpt_hybrid-ade20k-53898607.pt"), segment_only / "dpt_hybrid-ade20k-53898607.pt")
    segmented = prepare_scene(SceneInputs(photo), PrepareOptions(backend="auto", ckpts_dir=str(segment_only)))
    assert segmented.info["auto_motion"].endswith("(neural: DPT-Hybrid ADE20K (dpt_hybrid-ade20k-53898607.pt))")
    # neural mode needs it for a photo alone, and not for an annotated scene.
    with pytest.raises(CineError, match="dpt_hybrid-ade20k-53898607.pt"):
        prepare_scene(SceneInputs(photo), PrepareOptions(backend="neural", ckpts_dir=str(motion_only)))


def test_neural_prepare_inpaints_with_the_networks(tmp_path, official):
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene

    folder, _ = official
    scene_dir = write_scene(str(tmp_path / "scene"))  # depth.npy: two layers, so a hidden band
    options = PrepareOptions(backend="neural", ckpts_dir=folder, motion_size=256)
    scene = prepare_scene(SceneInputs.find(scene_dir), options)
    stages = scene.info["stages"]
    assert stages["layers"] == "neural: 3D-Photo inpainting nets (depth-model.pth, color-model.pth)"
    assert stages["flow"].startswith("neural: motion network") and stages["depth"].startswith("file")
    hidden = [layer for layer in scene.layered.layers if bool(layer.hidden.any())]
    assert hidden, "the two-layer scene must have an inpainted band"
    for layer in hidden:
        assert torch.isfinite(layer.rgb).all() and torch.isfinite(layer.depth).all()
        assert float(layer.rgb.min()) >= 0.0 and float(layer.rgb.max()) <= 1.0
    classical = prepare_scene(SceneInputs.find(scene_dir), PrepareOptions(backend="classical"))
    assert not torch.equal(hidden[0].rgb, classical.layered.layers[1].rgb)


def test_cli_neural_end_to_end(tmp_path, official):
    """Every stage runs its network: the scene has no depth file, so DPT estimates it."""
    from cine_core.io.video import read_video

    folder, _ = official
    scene_dir = write_scene(str(tmp_path / "scene"))
    os.remove(os.path.join(scene_dir, "depth.npy"))
    out = str(tmp_path / "clip.mp4")
    result = run_cli("render", scene_dir, "--out", out, "--backend", "neural", "--ckpts", folder,
                     "--motion-size", "256", "--frames", "4", "--camera", "circle", "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    frames, _ = read_video(out)
    assert len(frames) == 4 and frames[0].shape == (64, 96, 3)
    for label in ("depth: neural: DPT-Hybrid (dpt_hybrid-midas-501f0c75.pt)",
                  "layers: neural: 3D-Photo inpainting nets", "flow: neural: motion network (sceneflow_model.pth)",
                  "render: neural: feature net + image decoder (model_150000.pth)"):
        assert label in result.stdout, result.stdout


def test_cli_neural_without_files_names_them(tmp_path):
    scene_dir = write_scene(str(tmp_path / "scene"))
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("render", scene_dir, "--out", str(tmp_path / "clip.mp4"), "--backend", "neural",
                     "--ckpts", str(empty), "--frames", "2", "--quiet")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "model_150000.pth" in errors[0] and str(empty) in errors[0]
    # auto without files: everything classical, as before
    result = run_cli("render", scene_dir, "--out", str(tmp_path / "clip.mp4"), "--backend", "auto",
                     "--ckpts", str(empty), "--frames", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "neural:" not in result.stdout and "render: classical" in result.stdout


# ------------------------------------------------------------- downloader (local server only)

class _Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with HTTP Range support; names in ``truncate`` are cut short the first
    time, names in ``html`` answer with a web page (as a host asking for a confirmation)."""

    files: dict[str, bytes] = {}
    truncate: set[str] = set()
    html: set[str] = set()
    log: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        name = self.path.lstrip("/").split("?")[0]
        self.log.append((name, self.headers.get("Range")))
        if name in self.html:
            body = b"<html><body>Google Drive can't scan this file for viruses.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if name in self.truncate:
            self.truncate.discard(name)
            self.wfile.write(data[start:start + (len(data) - start) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server in a thread; yields (base URL, handler class to configure)."""
    handler = type("Handler", (_Files,), {"files": {}, "truncate": set(), "html": set(), "log": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def _install(*args: str) -> subprocess.CompletedProcess:
    """install_deps.py --models; the local test server speaks plain http, hence --allow-http."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "install_deps.py"), "--models", "--timeout", "10",
                           "--allow-http", *args], capture_output=True, text=True, timeout=120)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def test_download_progress_resume_checksum_and_archive(tmp_path, server):
    base, handler = server
    payload = os.urandom(3_000_000)
    handler.files = {"weights-a.pth": payload,
                     "bundle.zip": _zip({"ckpts/model_150000.pth": b"m" * 1000, "ckpts/sceneflow_model.pth": b"s" * 500,
                                         "ckpts/README": b"x"})}
    handler.truncate = {"weights-a.pth"}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({
        "models": [{"file": "weights-a.pth", "urls": ["unused"], "size": len(payload),
                    "sha256": hashlib.sha256(payload).hexdigest()},
                   {"file": "model_150000.pth", "archive": "bundle.zip"},
                   {"file": "sceneflow_model.pth", "archive": "bundle.zip"}],
        "archives": {"bundle.zip": {"urls": ["unused"]}}}))
    folder = tmp_path / "ckpts"
    result = _install("--ckpts", str(folder), "--models-url-base", base, "--models-manifest", str(manifest))
    assert result.returncode == 0, result.stderr
    assert (folder / "weights-a.pth").read_bytes() == payload
    assert (folder / "model_150000.pth").read_bytes() == b"m" * 1000
    assert (folder / "sceneflow_model.pth").read_bytes() == b"s" * 500
    assert sorted(os.listdir(folder)) == ["model_150000.pth", "sceneflow_model.pth", "weights-a.pth"]
    requests = [entry for entry in handler.log if entry[0] == "weights-a.pth"]
    assert requests[0] == ("weights-a.pth", None)
    assert requests[1] == ("weights-a.pth", f"bytes={len(payload) // 3}-")  # resumed where it broke
    assert "resuming" in result.stderr and "100.0%" in result.stderr and "weights-a.pth" in result.stderr
    # A second run finds everything in place and fetches nothing.
    handler.log.clear()
    again = _install("--ckpts", str(folder), "--models-url-base", base, "--models-manifest", str(manifest))
    assert again.returncode == 0 and handler.log == [] and "already there" in again.stdout


def test_download_resumes_a_part_file_from_an_earlier_run(tmp_path, server):
    base, handler = server
    payload = os.urandom(200_000)
    handler.files = {"weights-b.pth": payload}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"models": [{"file": "weights-b.pth", "urls": ["unused"],
                                                "sha256": hashlib.sha256(payload).hexdigest()}]}))
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / "weights-b.pth.part").write_bytes(payload[:70_000])
    result = _install("--ckpts", str(folder), "--models-url-base", base, "--models-manifest", str(manifest))
    assert result.returncode == 0, result.stderr
    assert handler.log == [("weights-b.pth", "bytes=70000-")]
    assert (folder / "weights-b.pth").read_bytes() == payload and not (folder / "weights-b.pth.part").exists()


def test_checksum_mismatch_and_moved_links_with_the_builtin_table(tmp_path, server):
    base, handler = server
    handler.files = {"dpt_hybrid-midas-501f0c75.pt": b"not the real weights" * 1000}
    handler.html = {"3d-cinemagraphy-ckpts.zip"}
    folder = tmp_path / "ckpts"
    result = _install("--ckpts", str(folder), "--models-url-base", base)
    assert result.returncode == 1
    errors = result.stderr
    assert "dpt_hybrid-midas-501f0c75.pt: sha256" in errors and "does not match the published 501f0c75" in errors
    assert "the download was deleted" in errors
    assert "depth-model.pth" in errors and "HTTP 404, the link has moved" in errors
    assert "web page instead of the file" in errors
    # ... and where a file downloaded by hand goes
    assert f"put it in {folder / 'depth-model.pth'}" in errors
    for name in ("model_150000.pth", "sceneflow_model.pth"):
        assert f"its {name} as {folder / name}" in errors
    assert not os.path.exists(folder / "dpt_hybrid-midas-501f0c75.pt")
    assert [p for p in os.listdir(folder) if not p.endswith(".part") or "zip" in p] == []
    assert not any(p.startswith("dpt") for p in os.listdir(folder))


def test_offline_message(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "ckpts"
    result = _install("--ckpts", str(folder), "--models-url-base", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert "are you offline?" in result.stderr
    assert f"put it in {folder / 'color-model.pth'}" in result.stderr
    assert "7 file(s) missing" in result.stdout


def test_camera_disparity_channel_matches_direct_splat(tmp_path):
    """The 37th channel is camera-space 1/z normalised over all points at rest (here, without
    motion, all points as the reference normalises): the per-pixel conversion of the splatted world disparity must match splatting 1/z' directly."""
    from dataclasses import replace

    from cine_core.cameras.paths import camera_path
    from cine_core.rendering.decoder import NeuralFrameRenderer
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene
    from cine_core.cameras.paths import lift_to_world

    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    # A depth ramp on one surface, and no motion: both clouds are the same points.
    ramp = torch.linspace(1.0, 1.5, scene.size[0]).expand(scene.size[1], -1).contiguous()
    layer = replace(scene.layered.layers[0], depth=ramp, alpha=torch.ones_like(scene.layered.layers[0].alpha),
                    hidden=torch.zeros_like(scene.layered.layers[0].hidden))
    still = torch.zeros_like(scene.flow)
    scene = replace(scene, depth=ramp, flow=still, hidden_flow=still,
                    layered=replace(scene.layered, layers=[layer], edges=[]))
    renderer = NeuralFrameRenderer(scene, 4, FeatureNet().eval(), ImageDecoder().eval())
    cloud = renderer.cloud
    for preset in ("zoom-in", "swing", "side"):
        camera = camera_path(preset, scene.intrinsics, 4)[1]
        splatted = renderer.base.splat_clouds(1, camera)
        converted = renderer.camera_disparity(camera, splatted.values[:, -1:], splatted.coverage,
                                              renderer.disparity_range(camera))
        world_to_cam = camera.world_to_cam()
        z = lift_to_world(cloud.rest_uv, cloud.depth, scene.intrinsics) @ world_to_cam[2, :3] + world_to_cam[2, 3]
        disparity = 1.0 / z
        normalised = (disparity - disparity.min()) / (disparity.max() - disparity.min())
        direct = renderer.base.splat_clouds(1, camera, normalised[:, None]).values[:, :1]
        covered = splatted.coverage > 0.3
        assert covered.float().mean() > 0.8
        assert (converted - direct)[covered].abs().max() < 1e-3, preset
    maps = renderer.renderings(1, camera)
    assert maps.shape == (2, 37, 64, 96) and torch.allclose(maps[:, 3:4], splatted.coverage)


def test_decoder_render_loop_reads_nothing_back_from_the_device(tmp_path):
    """As the splatting loop (tests/test_geometry.py): every frame runs on the meta device,
    where any host read-back raises, so on CUDA the frames queue without waiting."""
    from cine_core.cameras.paths import camera_path
    from cine_core.rendering.decoder import NeuralFrameRenderer
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene
    from cine_core.rendering.frames import FrameRenderer

    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    renderer = NeuralFrameRenderer(scene, 4, FeatureNet().eval(), ImageDecoder().eval())
    # Set-up (features, trajectories) ran on the CPU; move what the loop uses.
    renderer.cloud = renderer.cloud.to("meta")
    renderer.base = FrameRenderer(renderer.cloud, scene.intrinsics)
    renderer.decoder = renderer.decoder.to("meta")
    for frame, camera in enumerate(camera_path("circle", scene.intrinsics, 4)):
        image = renderer.render(frame, camera)
        assert image.device.type == "meta" and image.shape == (3, 64, 96)


def test_large_frames_are_decoded_downscaled(tmp_path):
    from cine_core.cameras.paths import camera_path
    from cine_core.rendering.decoder import NeuralFrameRenderer
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene

    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    path = camera_path("circle", scene.intrinsics, 3)
    small = NeuralFrameRenderer(scene, 3, FeatureNet().eval(), ImageDecoder().eval(), max_pixels=96 * 64 // 4)
    decode, decoded_sizes = small.decoder.decode, []

    def recorded_decode(blended):
        decoded_sizes.append(tuple(blended.shape[-2:]))
        return decode(blended)

    small.decoder.decode = recorded_decode
    image = small.render(1, path[1])
    assert decoded_sizes == [(32, 48)]  # half the sides: a quarter of the pixels
    assert image.shape == (3, 64, 96) and torch.isfinite(image).all()
    assert small.cloud.values.shape[1] == 36


class _FixedLogits(torch.nn.Module):
    """Stands in for the segmentation network: fixed random half-size logits and its last step."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # segment_motion_kinds reads the device off it
        self.logits = torch.randn(1, 150, 12, 20, generator=torch.Generator().manual_seed(0))

    def half_size_logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits * self.scale

    def upsample_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(logits, scale_factor=2.0, mode="bilinear", align_corners=True)


def test_segmentation_labels_do_not_depend_on_the_logits_chunks(monkeypatch):
    """The logits go to the photo's size a few channels at a time; one channel at a time and all
    at once give the same labels (every channel mapped to a kind, so each label counts)."""
    from cine_core.motion import segmentation
    from cine_core.motion.detect import KINDS

    kinds = list(KINDS)
    monkeypatch.setattr(segmentation, "ADE20K_KINDS", {channel: kinds[channel % len(kinds)] for channel in range(150)})
    rgb = torch.rand(3, 50, 70, generator=torch.Generator().manual_seed(1))
    labels = {}
    for most_bytes in (1, 1 << 40):
        monkeypatch.setattr(segmentation, "LOGITS_BYTES_AT_ONCE", most_bytes)
        labels[most_bytes] = segmentation.segment_motion_kinds(_FixedLogits(), rgb)
    assert len(np.unique(labels[1])) == len(kinds)
    np.testing.assert_array_equal(labels[1], labels[1 << 40])
