"""Add-on preferences: the dependency status, the Install Dependencies button, the render device."""
from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from . import dependencies

#: Lines pip prints at the milestones of an install, and the share of the work done by then.
_PIP_MILESTONES = (("Collecting", 0.05), ("Downloading", 0.15), ("Installing collected packages", 0.8),
                   ("Successfully installed", 1.0))


class Installer:
    """The install command running in a subprocess; its output is read by a thread."""

    def __init__(self, commands: list[list[str]]):
        self.commands = commands
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.fraction = 0.0
        self.returncode: int | None = None
        self.started = time.monotonic()
        self._process: subprocess.Popen | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="cinemagraph: install dependencies", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self) -> None:
        """Install in the calling thread (scripts, background mode)."""
        self._run()

    def _run(self) -> None:
        for command in self.commands:
            self.lines.append("$ " + " ".join(command))
            try:
                self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 text=True, encoding="utf-8", errors="replace", bufsize=1)
            except OSError as exc:
                self.lines.append(f"cannot run {command[0]}: {exc}")
                self.returncode = 1
                return
            for line in self._process.stdout:
                self._read(line.rstrip())
            self.returncode = self._process.wait()
            if self.returncode != 0 or self._cancelled:
                return

    def _read(self, line: str) -> None:
        if not line:
            return
        self.lines.append(line)
        for prefix, fraction in _PIP_MILESTONES:
            if line.lstrip().startswith(prefix):
                # Each "Collecting" or "Downloading" line moves the bar a little further.
                step = 0.03 if prefix in ("Collecting", "Downloading") else 0.0
                self.fraction = min(0.95, max(self.fraction + step, fraction)) if fraction < 1.0 else 1.0

    def cancel(self) -> None:
        self._cancelled = True
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    @property
    def done(self) -> bool:
        return self.returncode is not None and (self.returncode != 0 or not self._thread.is_alive())

    def last_error(self) -> str:
        for line in reversed(self.lines):
            if line.startswith("error:") or line.startswith("ERROR:"):
                return line.split(":", 1)[1].strip()
        return self.lines[-1] if self.lines else "no output"


#: The running or last finished install (shown in the preferences).
installer: Installer | None = None


def _redraw_preferences() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()


class CINEMAGRAPH_OT_install_dependencies(bpy.types.Operator):
    """Download and install PyTorch, OpenCV and the other packages the add-on needs into the
    extension's own folder (a few GB with CUDA, about 1 GB without). Needs an internet connection"""

    bl_idname = "cinemagraph.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {"REGISTER", "INTERNAL"}

    cuda: BoolProperty(name="With CUDA", description="Install PyTorch built for NVIDIA GPUs (larger download)")

    @classmethod
    def poll(cls, context):
        if installer is not None and not installer.done:
            cls.poll_message_set("An installation is already running")
            return False
        return True

    def _commands(self) -> list[list[str]]:
        commands = []
        if not dependencies.pip_available():  # some Linux distributions strip pip from Python
            commands.append([sys.executable, "-m", "ensurepip", "--upgrade"])
        commands.append(dependencies.install_command(self.cuda))
        return commands

    def invoke(self, context, event):
        global installer
        installer = Installer(self._commands())
        installer.start()
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            installer.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        _redraw_preferences()
        if not installer.done:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._conclude()

    def cancel(self, context):
        installer.cancel()
        context.window_manager.event_timer_remove(self._timer)

    def execute(self, context):
        global installer
        installer = Installer(self._commands())
        installer.run()
        return self._conclude()

    def _conclude(self) -> set[str]:
        dependencies.add_to_sys_path()
        dependencies.status(refresh=True)
        missing = dependencies.missing_required()
        seconds = time.monotonic() - installer.started
        if installer.returncode != 0:
            self.report({"ERROR"}, f"Installing the dependencies failed: {installer.last_error()} "
                                   f"(full log in the add-on's preferences)")
            return {"CANCELLED"}
        if missing:
            self.report({"ERROR"}, f"The installation finished but {', '.join(missing)} still cannot be "
                                   f"imported; restart Blender and try again")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Dependencies installed in {seconds:.0f} s into {dependencies.site_packages()}")
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
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class CinemagraphPreferences(bpy.types.AddonPreferences):
    bl_idname = dependencies.ADDON_PACKAGE

    device: EnumProperty(
        name="Device", default="AUTO",
        items=[("AUTO", "Automatic", "The GPU when PyTorch sees a CUDA GPU, else the CPU"),
               ("CPU", "CPU", "Always render on the CPU")])
    install_with_cuda: BoolProperty(
        name="CUDA Build", default=False,
        description="Install PyTorch built for NVIDIA GPUs (Linux and Windows; larger download)")
    show_log: BoolProperty(name="Show Log", default=False)
    weights_folder: StringProperty(
        name="Model Weights", subtype="DIR_PATH",
        description="Folder with the published model's weight files (depth, inpainting, motion and "
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
        label = item.package.label + ("" if item.package.required else " (optional)")
        grid.label(text=label, icon="CHECKMARK" if item.found else "X")
        grid.label(text=item.version or "not installed")
    running = installer is not None and not installer.done
    row = box.row(align=True)
    if running:
        row.progress(factor=installer.fraction, type="BAR",
                     text=f"Installing... {time.monotonic() - installer.started:.0f} s (Esc cancels)")
    else:
        row.scale_y = 1.4 if missing else 1.0
        operator = row.operator(CINEMAGRAPH_OT_install_dependencies.bl_idname,
                                text="Install Dependencies" if missing else "Reinstall Dependencies",
                                icon="IMPORT")
        operator.cuda = preferences.install_with_cuda
        if sys.platform != "darwin":
            row.prop(preferences, "install_with_cuda", toggle=True)
    box.label(text=f"Into: {dependencies.site_packages()}", icon="FILE_FOLDER")
    if installer is not None:
        if installer.done and installer.returncode != 0:
            box.label(text=f"Last install failed: {installer.last_error()}", icon="ERROR")
        box.prop(preferences, "show_log", icon="TEXT")
        if preferences.show_log:
            log = box.box().column(align=True)
            log.scale_y = 0.7
            for line in list(installer.lines)[-15:]:
                log.label(text=line)
    column.separator()
    column.prop(preferences, "device")
    column.prop(preferences, "weights_folder")
    if not preferences.weights_folder:
        column.label(text=f"Looking in {weights_folder(preferences)}", icon="INFO")


classes = (CINEMAGRAPH_OT_install_dependencies, CINEMAGRAPH_OT_refresh_dependencies, CinemagraphPreferences)
