"""Checks for values that come from outside (options, JSON files, saved scenes): each refuses a
bad value with a one-line :class:`~cine_core.errors.CineError` that says what to do instead."""
from __future__ import annotations

import json
import math
import os
import stat
import unicodedata

from ..errors import CineError

#: Largest JSON file read (labelme files embed the photo as base64; 50 MP stays below this).
MAX_JSON_BYTES = 256 * 1024 * 1024
#: Deepest nesting of lists and objects accepted (labelme needs 4).
MAX_JSON_DEPTH = 32


def printable(text: object, limit: int = 300) -> str:
    """``text`` safe to print on a terminal in one line: control characters (escape sequences,
    new lines) shown as escapes, and at most ``limit`` characters."""
    text = str(text)
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii")
                      for ch in text[:limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 3] + "..."


def number(option: str, value: float, low: float | None = None, high: float | None = None, *,
           above: bool = False) -> float:
    """``value`` as a finite float in [low, high] (``above``: strictly greater than ``low``)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise CineError(f"{option} {printable(value, 40)!s}: expected a number") from None
    if not math.isfinite(value):
        raise CineError(f"{option} {value}: expected a finite number")
    too_low = low is not None and (value <= low if above else value < low)
    if too_low or (high is not None and value > high):
        bounds = (f"above {low:g}" if above else f"at least {low:g}") if low is not None else ""
        if high is not None:
            bounds = f"{bounds} and at most {high:g}" if bounds else f"at most {high:g}"
        raise CineError(f"{option} {value:g} is out of range; use a value {bounds}")
    return value


def integer(option: str, value: int, low: int, high: int) -> int:
    """``value`` as an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CineError(f"{option} {printable(value, 40)}: expected a whole number")
    if not low <= value <= high:
        raise CineError(f"{option} {value} is out of range; use a whole number from {low} to {high}")
    return value


def _depth(value: object) -> int:
    """Nesting depth of lists and dicts, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                break
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str, name: str) -> object:
    """Parse JSON text; NaN/Infinity literals and nesting deeper than :data:`MAX_JSON_DEPTH` are
    refused (Python's parser would accept the first and crash on very deep nesting)."""
    def refuse_constant(word: str) -> None:
        raise CineError(f"{name} holds {word}, which is not a number in JSON; write a finite number")

    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        raise CineError(f"{name} is not valid JSON ({printable(exc, 120)})") from None
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise CineError(f"{name} nests lists or objects more than {MAX_JSON_DEPTH} deep; it is not an "
                        f"annotation this tool writes or reads")
    return value


#: What a path that is not a regular file is, by its file type (a link counts as what it points to).
_SPECIAL_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"),
                  (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def check_regular_file(path: str, what: str) -> None:
    """Refuse ``path`` unless it is a regular file: missing ("not found"), or a folder, pipe,
    device or socket ("not a regular file": reading a pipe or ``/dev/zero`` would block or never
    end)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        raise CineError(f"{what} not found: {printable(path)}") from None
    if not stat.S_ISREG(mode):
        kind = next((words for test, words in _SPECIAL_FILES if test(mode)), "a special file")
        raise CineError(f"{what} {printable(path)} is {kind}, not a regular file")


def read_json(path: str, what: str = "annotation file") -> object:
    """Read a JSON file (UTF-8, at most :data:`MAX_JSON_BYTES`) with :func:`parse_json`."""
    name = os.path.basename(path)
    check_regular_file(path, what)
    if os.path.getsize(path) > MAX_JSON_BYTES:
        raise CineError(f"{name} is larger than {MAX_JSON_BYTES >> 20} MB; it is not an annotation")
    with open(path, "rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CineError(f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON") from None
    return parse_json(text, name)
