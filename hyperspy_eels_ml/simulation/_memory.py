"""Opt-in: keep freed heap memory in the process (glibc ``mallopt(M_TOP_PAD)``), for simulation loops.

A ``core_loss`` batch of 256 spectra of 3072 channels allocates and frees some 30-60 temporary arrays of
several MB each. glibc returns the top of the heap to the system once more than about twice the largest
freed block is free there, so the next batch gets fresh pages again, and the kernel zeroes every page on its
first touch: on the 2-core development machine 5,000-15,000 page faults per batch and 10-20 % of its CPU
time (system time plus the cache misses of the zeroing) before session 10, which dropped dead arrays early
(about 300 per batch at 1 eV/ch, still about 6,000 at 0.1 eV/ch, where the arrays are larger). A top pad larger than one batch's working set keeps
those pages in the process: the same arithmetic and the same random draws, fewer page faults, a resident set
that stays at the peak of the working set (plus the pad) instead of shrinking between batches.

It changes the allocator of the whole process, so nothing in this package calls it by itself: training and
benchmark scripts that simulate in a loop may (``bench_simulation.py --retain-memory``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TOP_PAD = -2  # glibc malloc.h


def retain_freed_memory(megabytes=256):
    """Ask glibc to keep up to ``megabytes`` of freed memory at the top of the heap (``mallopt(M_TOP_PAD)``).

    Returns True when the setting was applied (Linux with glibc), False elsewhere (no effect: other C
    libraries and systems have their own allocator policies). Process-wide and not undone; call it once in a
    script that simulates batches in a loop. Outputs are unchanged (allocation only).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TOP_PAD, int(megabytes) << 20))
