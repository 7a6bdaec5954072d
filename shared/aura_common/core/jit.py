"""The one way the pure core compiles a hot function: ``@kernel`` (Numba ``njit``, cached on disk).

A kernel is an ordinary, pure function of numbers and NumPy arrays. It is compiled on first call and cached on
disk next to its module (``__pycache__``) or under ``NUMBA_CACHE_DIR`` (the image points it at ``/tmp``, which it
seeds with kernels compiled at build time, because the container's file system is read-only). Where no cache
directory is writable the kernel is compiled in memory instead: slower to start, the same results. No
``fastmath`` and no ``parallel``: IEEE arithmetic in program order, so a kernel gives the same bits on every run,
in every process, and whether it is called from Python (the trader) or from another kernel (the backtester's day
loop). ``kernel.py_func`` is the same source run by the interpreter (the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Callable

import numba

_OPTIONS = {"fastmath": False, "boundscheck": False, "error_model": "python"}


def kernel(fn: Callable) -> Callable:
    try:
        return numba.njit(cache=True, **_OPTIONS)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available": no writable cache directory
        return numba.njit(cache=False, **_OPTIONS)(fn)
