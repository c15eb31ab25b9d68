"""Background jobs: heavy work off Blender's main thread, with progress and cancel (the core's
imports, motion and detection, and the downloads of the preferences: one framework for all).

Blender data may only be touched on the main thread, so a job operator works in three steps:
``start_job`` reads what it needs from Blender (main thread) and returns the work; the work
runs (a thread when invoked from the UI, or to the end inside ``execute`` for scripts, tests
and background mode, where timers never fire); ``finish_job`` writes the result into Blender
(main thread). A failed or cancelled job never reaches ``finish_job``, so Blender data stays as
it was; files the work wrote are removed by ``discard_job`` (also when the cancel came after the
work had finished writing them).

The work receives the job's progress callback and its cancel token, the two the core's calls
take; Esc (or the Cancel button) cancels the token.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

import bpy

from ..cine_core import Cancelled, CancelToken
from . import runtime

Progress = Callable[[str, float], None]
Work = Callable[[Progress, CancelToken], Any]

#: Progress words of the core and the add-on's own stages, as users read them.
STAGE_LABELS = {
    "load": "Reading the photo",
    "video": "Reading the motion video",
    "depth": "Estimating depth",
    "layers": "Building depth layers",
    "flow": "Computing the motion",
    "motion": "Animating the points",
    "save": "Saving the prepared scene",
    "meshes": "Measuring the scene's depth",
    "detect": "Finding the sky and water",
    "download": "Downloading",
}


class Job:
    """One piece of work, its progress and its outcome."""

    def __init__(self, title: str, work: Work):
        self.title = title
        self.stage = ""
        self.fraction = 0.0
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.token = CancelToken()
        self._work = work
        self._done = threading.Event()

    def progress(self, stage: str, fraction: float) -> None:
        """The progress callback; it also stops work that calls no core function with the token."""
        self.token.check()
        if stage != self.stage:  # the previous stage's networks and images are freed by now
            runtime.release_freed_memory()
        self.stage = stage
        self.fraction = min(max(float(fraction), 0.0), 1.0)

    def run(self) -> None:
        """Do the work in the calling thread."""
        try:
            self.result = self._work(self.progress, self.token)
            runtime.release_freed_memory()
            self.token.check()  # cancelled after the last progress call
        except BaseException as exc:  # handed to the main thread, which reports it
            self.error = exc
            if not runtime.is_reported(exc):
                traceback.print_exc()
        finally:
            self._done.set()

    def start(self) -> None:
        threading.Thread(target=self.run, name=f"cinemagraph: {self.title}", daemon=True).start()

    def cancel(self) -> None:
        self.token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)

    @property
    def succeeded(self) -> bool:
        return self.done and self.error is None

    def status_text(self) -> str:
        label = STAGE_LABELS.get(self.stage, self.stage.capitalize() or "Starting")
        return f"{self.title}: {label} ({100 * self.fraction:.0f}%)"


#: The job running in the background, if any: one at a time keeps the machine responsive
#: (the core already uses every core) and the panels simple.
current: Job | None = None
#: The last job of each title whose operator keeps it (:attr:`JobOperator.keep_last`).
last: dict[str, Job] = {}


def _redraw_panels() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()


class JobOperator:
    """Mix-in for operators whose heavy part runs as a :class:`Job` (see module docstring)."""

    job_title = "Cinemagraph"
    #: What the report of a cancelled job adds (the Blender data is as it was).
    cancelled_note = "; nothing was changed"
    #: Keep the finished job in :data:`last` (to show how it ended; not for jobs whose result
    #: holds a prepared scene, which would stay in memory).
    keep_last = False

    @classmethod
    def poll_job(cls) -> bool:
        """Whether no other job runs (for an operator's ``poll``, saying why not)."""
        if current is not None:
            cls.poll_message_set(f"{current.title} is still running")
            return False
        return True

    # Set by invoke(): run in a thread with a modal timer instead of blocking execute().
    in_background: bpy.props.BoolProperty(options={"HIDDEN", "SKIP_SAVE"})

    def start_job(self, context) -> Work:
        raise NotImplementedError

    def finish_job(self, context, result) -> set[str]:
        raise NotImplementedError

    def discard_job(self, result) -> None:
        """Undo side effects of a result that will not be used (e.g. a written cache file)."""

    def describe_failure(self, job: Job) -> str:
        """The report of a job that failed."""
        return runtime.describe(job.error)

    def invoke(self, context, event):
        self.in_background = True
        return self.execute(context)

    def execute(self, context):
        global current
        if current is not None:
            self.report({"ERROR"}, f"{current.title} is still running; wait for it or cancel it (Esc)")
            return {"CANCELLED"}
        try:
            work = self.start_job(context)
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        job = Job(self.job_title, work)
        if self.keep_last:
            last[job.title] = job
        if self.in_background and not bpy.app.background and context.window is not None:
            current = job
            self._job = job
            window_manager = context.window_manager
            self._timer = window_manager.event_timer_add(0.1, window=context.window)
            window_manager.modal_handler_add(self)
            window_manager.progress_begin(0.0, 1.0)
            job.start()
            return {"RUNNING_MODAL"}
        job.run()
        return self._conclude(context, job)

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if not job.done:
            context.window_manager.progress_update(job.fraction)
            if context.workspace is not None:
                context.workspace.status_text_set(f"{job.status_text()}   Esc: cancel")
            _redraw_panels()
            return {"PASS_THROUGH"}
        self._end_modal(context)
        return self._conclude(context, job)

    def cancel(self, context):
        """Blender ends the operator (a file is opened, Blender quits): drop the job."""
        job = self._job
        job.cancel()
        job.wait()
        if job.result is not None:
            self.discard_job(job.result)
        self._end_modal(context)

    def _end_modal(self, context) -> None:
        global current
        current = None
        window_manager = context.window_manager
        window_manager.event_timer_remove(self._timer)
        window_manager.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _redraw_panels()

    def _conclude(self, context, job: Job) -> set[str]:
        if job.error is not None:
            if job.result is not None:  # cancelled after the work had written its files
                self.discard_job(job.result)
            if job.cancelled:
                self.report({"WARNING"}, f"{job.title} cancelled{self.cancelled_note}")
            else:
                self.report({"ERROR"}, self.describe_failure(job))
            return {"CANCELLED"}
        try:
            return self.finish_job(context, job.result)
        except runtime.user_errors() as exc:
            self.discard_job(job.result)
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        except BaseException:
            self.discard_job(job.result)
            raise


class CINEMAGRAPH_OT_cancel_job(bpy.types.Operator):
    """Stop the running Cinemagraph job; nothing it computed is kept"""

    bl_idname = "cinemagraph.cancel_job"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        return current is not None

    def execute(self, context):
        current.cancel()
        return {"FINISHED"}


classes = (CINEMAGRAPH_OT_cancel_job,)
