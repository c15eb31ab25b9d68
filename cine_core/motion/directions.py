"""Motion direction given in words, as Text2Cinemagraph accepts it ("left to right, downwards")."""
from __future__ import annotations

import math
import re

from ..errors import CineError

# Image coordinates: x grows to the right, y grows downwards.
_PHRASES = {
    "left to right": (1.0, 0.0), "right to left": (-1.0, 0.0),
    "top to bottom": (0.0, 1.0), "bottom to top": (0.0, -1.0),
}
_WORDS = {
    "right": (1.0, 0.0), "rightward": (1.0, 0.0), "rightwards": (1.0, 0.0), "east": (1.0, 0.0),
    "left": (-1.0, 0.0), "leftward": (-1.0, 0.0), "leftwards": (-1.0, 0.0), "west": (-1.0, 0.0),
    "down": (0.0, 1.0), "downward": (0.0, 1.0), "downwards": (0.0, 1.0), "falling": (0.0, 1.0),
    "south": (0.0, 1.0), "up": (0.0, -1.0), "upward": (0.0, -1.0), "upwards": (0.0, -1.0),
    "rising": (0.0, -1.0), "north": (0.0, -1.0),
}
_SPEEDS = {"slowly": 0.5, "slow": 0.5, "gently": 0.5, "fast": 2.0, "quickly": 2.0, "rapidly": 2.0}
_FILLER = {"and", "to", "the", "from", "flowing", "moving", "flows", "moves", "drifting", "a", "bit",
           "slightly", "towards", "toward"}


def parse_direction(text: str) -> tuple[float, float, float]:
    """Turn a phrase into a unit direction and a speed factor.

    Args:
        text: e.g. ``"left to right, downwards"``, ``"up"``, ``"slowly to the left"``.

    Returns:
        (dx, dy, speed): unit vector in image coordinates (x right, y down) and a speed factor
        (1 unless the phrase says "slowly" or "fast").
    """
    words = re.sub(r"[^a-z ]+", " ", text.lower())
    dx = dy = 0.0
    for phrase, (px, py) in _PHRASES.items():
        while phrase in words:
            dx, dy = dx + px, dy + py
            words = words.replace(phrase, " ", 1)
    speed = 1.0
    unknown = []
    for word in words.split():
        if word in _WORDS:
            dx, dy = dx + _WORDS[word][0], dy + _WORDS[word][1]
        elif word in _SPEEDS:
            speed *= _SPEEDS[word]
        elif word not in _FILLER:
            unknown.append(word)
    if unknown:
        raise CineError(f"cannot understand {' '.join(repr(w) for w in unknown)}; "
                        f"use words like 'left to right', 'downwards', 'up', 'slowly'", parameter="direction")
    norm = math.hypot(dx, dy)
    if norm < 1e-6:
        raise CineError(f"{text!r} names no direction; say e.g. 'left to right' or 'downwards'",
                        parameter="direction")
    return dx / norm, dy / norm, speed
