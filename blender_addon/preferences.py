"""Add-on preferences: which packages import, Install Dependencies, the published model's
weights (folder and download), and the device PyTorch works on.

Both downloads run ``install_deps.py`` with Blender's own Python in a subprocess, as background
jobs (:mod:`.jobs`: progress in the status bar, Esc cancels, scripts and background mode run
them to the end in ``execute``); the preferences show their output.
"""
from __future__ import annotations

import collections
import subprocess
import sys
import time
from typing import Callable

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from . import dependencies, jobs
from .errors import AddonError

#: Lines pip prints at the milestones of an install, and the share of the work done by then.
_PIP_MILESTONES = (("Collecting", 0.05), ("Downloading", 0.15), ("Installing collected packages", 0.8),
                   ("Successfully installed", 1.0))


def pip_progress(line: str, fraction: float) -> float:
    """Progress of a pip install after ``line``: milestones, and a little more per package."""
    for prefix, milestone in _PIP_MILESTONES:
        if line.lstrip().startswith(prefix):
            if milestone >= 1.0:
                return 1.0
            step = 0.03 if prefix in ("Collecting", "Downloading") else 0.0
            return min(0.95, max(fraction + step, milestone))
    return fraction


def weights_progress(line: str, fraction: float) -> float:
    """Progress of the weights download: each finished file halves the remaining distance (the
    number of files is install_deps.py's business)."""
    if line.endswith((": ok", ": already there")):
        return fraction + 0.5 * (1.0 - fraction)
    return fraction


#: The output of the running or last download, shown in the preferences.
log: collections.deque[str] = collections.deque(maxlen=200)


def last_error() -> str:
    """The download's last ``error:`` line (the tool's own words), else its last line."""
    for line in reversed(log):
        if line.lower().startswith("error:"):
            return line.split(":", 1)[1].strip()
    return log[-1] if log else "no output"


def run_commands(commands: list[list[str]], read_progress: Callable[[str, float], float]) -> jobs.Work:
    """The work of a download: each command in turn, its output into :data:`log`, stopping at
    the first failure; a cancel ends the running command."""
    log.clear()

    def work(progress, cancel) -> None:
        fraction = 0.0
        for command in commands:
            log.append("$ " + " ".join(command))
            try:
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                           encoding="utf-8", errors="replace", bufsize=1)
            except OSError as exc:
                raise AddonError(f"cannot run {command[0]}: {exc}") from None
            with process:
                cancel.on_cancel(process.terminate)
                for line in process.stdout:
                    line = line.rstrip()
                    if line:
                        log.append(line)
                        fraction = read_progress(line, fraction)
                        progress("download", fraction)
            cancel.check()
            if process.returncode != 0:
                raise AddonError(f"{last_error()} (the log is in the add-on's preferences)")

    return work


class DownloadOperator(jobs.JobOperator):
    """Mix-in: a download as a background job (see :mod:`.jobs`)."""

    cancelled_note = ""  # what pip had installed by then stays
    keep_last = True  # the preferences show how it ended, with its log

    @classmethod
    def poll(cls, context):
        return cls.poll_job()

    def describe_failure(self, job: jobs.Job) -> str:
        return f"{job.title} failed: {super().describe_failure(job)}"


class CINEMAGRAPH_OT_install_dependencies(DownloadOperator, bpy.types.Operator):
    """Download PyTorch, OpenCV and the other packages the add-on needs into the extension's own
    folder (about 1 GB; a few GB with CUDA). Needs an internet connection"""

    bl_idname = "cinemagraph.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {"REGISTER", "INTERNAL"}
    job_title = "Installing the dependencies"

    cuda: BoolProperty(name="With CUDA", description="Install PyTorch built for NVIDIA GPUs (larger download)")

    def start_job(self, context) -> jobs.Work:
        commands = []
        if not dependencies.pip_available():  # some Linux distributions strip pip from Python
            commands.append([sys.executable, "-m", "ensurepip", "--upgrade"])
        commands.append(dependencies.install_command(self.cuda))
        self._started = time.monotonic()
        return run_commands(commands, pip_progress)

    def finish_job(self, context, result) -> set[str]:
        dependencies.add_to_sys_path()
        dependencies.status(refresh=True)
        missing = dependencies.missing_required()
        if missing:
            self.report({"ERROR"}, f"The installation finished but {', '.join(missing)} still cannot be "
                                   f"imported; restart Blender and try again")
            return {"CANCELLED"}
        seconds = time.monotonic() - self._started
        self.report({"INFO"}, f"Dependencies installed in {seconds:.0f} s into {dependencies.site_packages()}")
        return {"FINISHED"}


class CINEMAGRAPH_OT_download_weights(DownloadOperator, bpy.types.Operator):
    """Download the published model's network weights into the Model Weights folder (optional:
    without them every stage uses the classical methods). Needs an internet connection"""

    bl_idname = "cinemagraph.download_weights"
    bl_label = "Download Model Weights"
    bl_options = {"REGISTER", "INTERNAL"}
    job_title = "Downloading the model weights"

    def start_job(self, context) -> jobs.Work:
        return run_commands([dependencies.weights_command(weights_folder(addon_preferences()))], weights_progress)

    def finish_job(self, context, result) -> set[str]:
        self.report({"INFO"}, f"Model weights are in {weights_folder(addon_preferences())}; imports and "
                              f"renders use the networks they hold")
        return {"FINISHED"}


class CINEMAGRAPH_OT_refresh_dependencies(bpy.types.Operator):
    """Check again which packages can be imported"""

    bl_idname = "cinemagraph.refresh_dependencies"
    bl_label = "Check Again"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        dependencies.add_to_sys_path()
        dependencies.status(refresh=True)
        return {"FINISHED"}


def last_download() -> jobs.Job | None:
    """The running or last finished download."""
    titles = (CINEMAGRAPH_OT_install_dependencies.job_title, CINEMAGRAPH_OT_download_weights.job_title)
    started = [jobs.last[title] for title in titles if title in jobs.last]
    return max(started, key=lambda job: job.started) if started else None


def addon_preferences():
    """The add-on's preferences, or None while it is not enabled (e.g. during unregister)."""
    addon = bpy.context.preferences.addons.get(dependencies.ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


def weights_folder(preferences=None) -> str:
    """Where the published model's weight files are looked for."""
    chosen = preferences.weights_folder if preferences is not None else ""
    return bpy.path.abspath(chosen) if chosen else bpy.utils.extension_path_user(
        dependencies.ADDON_PACKAGE, path="weights")


def compute_device(preferences=None) -> str:
    """Where PyTorch works: a CUDA GPU when there is one (unless the preferences say CPU)."""
    if preferences is not None and preferences.device == "CPU":
        return "cpu"
    from .runtime import core

    return core().resolve_device("auto")


class CinemagraphPreferences(bpy.types.AddonPreferences):
    bl_idname = dependencies.ADDON_PACKAGE

    device: EnumProperty(
        name="Device", default="AUTO",
        items=[("AUTO", "Automatic", "The GPU when PyTorch sees a CUDA GPU, else the CPU"),
               ("CPU", "CPU", "Always work on the CPU")])
    install_with_cuda: BoolProperty(
        name="CUDA Build", default=False,
        description="Install PyTorch built for NVIDIA GPUs (Linux and Windows; larger download)")
    show_log: BoolProperty(name="Show Log", default=False)
    detect_motion_on_import: BoolProperty(
        name="Detect Motion on Import", default=True,
        description="When a photo comes without a motion file, find the sky and water and fill in "
                    "the moving region and hint arrows (edit them afterwards as usual)")
    weights_folder: StringProperty(
        name="Model Weights", subtype="DIR_PATH",
        description="Folder with the published model's weight files (depth, segmentation, inpainting, motion and "
                    "rendering networks); stages whose file is missing use the classical methods. "
                    "Empty: the extension's own 'weights' folder")

    def draw(self, context):
        draw_preferences(self, self.layout)


def draw_preferences(preferences, layout) -> None:
    """The preferences' layout (a function of its own so tests can draw into a stand-in)."""
    column = layout.column()
    missing = dependencies.missing_required()
    box = column.box()
    header = box.row()
    if missing:
        header.label(text=f"Missing: {', '.join(missing)}. Install them to use Cinemagraph.", icon="ERROR")
    else:
        header.label(text="All required packages are available.", icon="CHECKMARK")
    header.operator(CINEMAGRAPH_OT_refresh_dependencies.bl_idname, text="", icon="FILE_REFRESH")
    grid = box.grid_flow(columns=2, even_columns=True)
    for item in dependencies.status():
        grid.label(text=item.package.label, icon="CHECKMARK" if item.found else "X")
        grid.label(text=item.version or "not installed")
    row = box.row(align=True)
    row.scale_y = 1.4 if missing else 1.0
    operator = row.operator(CINEMAGRAPH_OT_install_dependencies.bl_idname,
                            text="Install Dependencies" if missing else "Reinstall Dependencies", icon="IMPORT")
    operator.cuda = preferences.install_with_cuda
    if sys.platform != "darwin":
        row.prop(preferences, "install_with_cuda", toggle=True)
    box.label(text=f"Into: {dependencies.site_packages()}", icon="FILE_FOLDER")

    box = column.box()
    box.prop(preferences, "weights_folder")
    row = box.row()
    row.label(text=f"Looking in {weights_folder(preferences)}", icon="INFO")
    row.operator(CINEMAGRAPH_OT_download_weights.bl_idname, icon="IMPORT")
    column.prop(preferences, "device")
    column.prop(preferences, "detect_motion_on_import")

    download = last_download()
    if download is not None:
        box = column.box()
        if not download.done:
            box.progress(factor=download.fraction, type="BAR",
                         text=f"{download.title}... {time.monotonic() - download.started:.0f} s (Esc cancels)")
            # The tool's last line: the package or file at hand, with its own percentage.
            box.label(text=log[-1][:90] if log else "starting", icon="SORTTIME")
        elif not download.succeeded:
            box.label(text=f"{download.title} {'was cancelled' if download.cancelled else 'failed'}: "
                           f"{last_error()}", icon="ERROR")
        box.prop(preferences, "show_log", icon="TEXT")
        if preferences.show_log:
            lines = box.column(align=True)
            lines.scale_y = 0.7
            for line in list(log)[-15:]:
                lines.label(text=line)


classes = (CINEMAGRAPH_OT_install_dependencies, CINEMAGRAPH_OT_download_weights,
           CINEMAGRAPH_OT_refresh_dependencies, CinemagraphPreferences)
