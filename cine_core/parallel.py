"""Independent pieces of work (frames of a clip, chunks of particles) on several CPU cores at
once: one Python thread per core, each running PyTorch on one thread.

PyTorch parallelises single operations over its intra-op threads, which pays for large
operations on an idle machine. The renderer's operations are many and short (a 1280x720 frame
runs about a thousand, most of about a millisecond), the splatter's scatter-adds run on one
thread whatever the setting, and every parallel operation ends at a barrier where its threads
wait for the slowest. On a machine
whose cores are shared with other programs, one descheduled thread stalls every operation: a
frame took 10-22 s with two intra-op threads instead of 3 s as two frames at once on one
thread each (2-core VM, load average 14). Pieces of work on their own threads need no barrier
and keep every core busy.

Low level: imports nothing from the rest of the core.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


#: Most frames rendered at once: each holds its own temporaries (at 1280x720 about 160 MB at
#: their peak, and a second frame in flight raises the resident size by about 300 MB), so
#: memory grows with every frame in flight while the time gained shrinks past the second.
FRAMES_AT_ONCE = 2


def workers_for(device: str | torch.device, most: int | None = None) -> int:
    """How many pieces of work to run at once on ``device``: on the CPU as many as PyTorch has
    intra-op threads (the cores it was given), at most ``most``; elsewhere 1 (a GPU queues work
    asynchronously)."""
    if torch.device(device).type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), most or torch.get_num_threads()))


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """``function(item)`` for every item, yielded in order, up to ``workers`` computed at once.

    With more than one worker, each runs in a thread of its own, PyTorch is held to one intra-op
    thread meanwhile (restored when the iteration ends or is abandoned), and the caller's
    inference and gradient modes (thread-local in PyTorch) hold in the workers. The first item
    is computed alone, so that whatever ``function`` computes once and caches is not computed
    twice at once. At most ``workers`` results are held besides the one yielded.
    """
    items = iter(items)
    if workers <= 1:
        yield from map(function, items)
        return
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def in_caller_modes(item: Item) -> Result:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return function(item)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first = next(items, _END)
        if first is _END:
            return
        yield function(first)
        with ThreadPoolExecutor(workers) as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(in_caller_modes, item))
                if len(pending) >= workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(threads)


_END = object()
