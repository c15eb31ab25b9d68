"""Run a measurement inside a fresh Blender (the real ``bpy`` module) with the extension
installed from a freshly built zip, in a throw-away user folder, and print its result.

A measuring tool calls :func:`measure_in_blender` from its ``main`` and :func:`answer` when it
is the child (``--measure``); the child's ``measure(arguments)`` returns a JSON-able dict.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import build_extension

#: The hidden option that makes a tool the child process; its value is the arguments as JSON.
CHILD_OPTION = "--measure"


def answer(measure, arguments: str) -> None:
    """In the child: run ``measure`` on the JSON ``arguments``, print its result and leave."""
    print("RESULT " + json.dumps(measure(json.loads(arguments))), flush=True)
    os._exit(0)  # skip Blender's slow teardown


def measure_in_blender(tool: str, arguments: dict) -> int:
    """Run ``tool`` (a script path) as the child with ``arguments`` plus ``zip`` (the built
    extension) and ``tmp`` (a scratch folder); print the child's result. The exit status: 0, or
    1 with the child's output when it gave no result."""
    name = os.path.splitext(os.path.basename(tool))[0]
    with tempfile.TemporaryDirectory(prefix=f"cinemagraph-{name}-") as tmp:
        arguments = {**arguments, "zip": build_extension.build(tmp), "tmp": tmp}
        env = dict(os.environ, BLENDER_USER_RESOURCES=os.path.join(tmp, "blender-user"))
        result = subprocess.run([sys.executable, tool, CHILD_OPTION, json.dumps(arguments)], env=env,
                                capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
            return 1
        print(json.dumps(json.loads(lines[-1][7:]), indent=2))
    return 0
