"""How a run's process keeps its memory for the batches: fewer cycle collections, and what glibc's
malloc frees kept for the next batch instead of given back to the kernel. Both are process-wide,
set for the run and given back when it ends (an embedding process gets its own settings back).
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

# Parsed documents are trees of dicts without cycles, made and dropped by the thousand: with
# CPython's default first-generation threshold (700) the cycle collector runs so often that it
# costs a third of parse + translate (bench/RESULTS.md).
_GC_THRESHOLD = 20_000
# glibc's malloc gives the top of its heap back to the kernel whenever 128 KB of it are free, and
# maps a block of 128 KB or more (a batch's LOAD DATA file) afresh each time: every batch then
# faults its pages in again, and a page fault is dear in a virtual machine (bench/RESULTS.md,
# "page faults"). During a run it keeps up to 256 MB it freed, and serves blocks of up to 32 MB
# from the heap. mallopt's parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_MALLOC_KEPT = ((-1, 256 << 20), (-3, 32 << 20))
_MALLOC_DEFAULTS = ((-1, 128 << 10), (-3, 128 << 10))


def _mallopt(settings: tuple[tuple[int, int], ...]) -> None:
    if "CS_GNU_LIBC_VERSION" not in getattr(os, "confstr_names", {}):
        return  # not glibc (macOS, musl, Windows): its own policy stands
    mallopt = ctypes.CDLL(None).mallopt
    for parameter, value in settings:
        mallopt(parameter, value)


@contextmanager
def batch_memory() -> Iterator[None]:
    """Memory kept for a run's batches: fewer cycle collections, freed memory reused (see above)."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], _GC_THRESHOLD), *previous[1:])
    _mallopt(_MALLOC_KEPT)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        _mallopt(_MALLOC_DEFAULTS)
