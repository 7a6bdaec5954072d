"""The one way the pure core marks a hot function for compilation: ``@kernel``.

A kernel is an ordinary, pure Python function of numbers and NumPy arrays, written in the subset Numba compiles.
How it runs is a per-process choice, never a second implementation:

- **compiled** (the default; the backtester, the optimizer, ``aura backtest``): on first call the function is
  compiled by Numba (``njit``, no ``fastmath``, no ``parallel``: IEEE operations in program order) and cached on
  disk; kernels calling kernels are compiled together;
- **interpreted** (``interpret()``; the trader): the same function runs in the interpreter and Numba is never
  imported. The trader decides once a day on a few rows, where compiled code gains nothing, and Numba with LLVM
  would add about 125 MB to its footprint.

The tests run the decision both ways and require identical plans (and the whole day loop compiled and
interpreted, identical runs), so the mode can never change a result.

**Cache.** Numba keys a cached function on its own source file only, so a kernel that calls a kernel in another
file could be served stale machine code after that file changed. The cache directory is therefore named after a
hash of every source file of ``aura_common.core`` (any change → a fresh directory → recompiled): under
``$NUMBA_CACHE_DIR`` when set, else ``core/__pycache__/jit``; creating a new one removes the directories of earlier
sources beside it. Numba can only use a writable cache, and a container's file system is read-only: the image sets
``NUMBA_CACHE_DIR=/tmp/aura-jit`` and ``AURA_JIT_SEED=/opt/aura-jit``, the kernels it compiled at build time, which
are copied into the new directory when they were compiled from the same sources. Where no cache directory is writable a kernel compiles in memory. This
module is the core's only contact with the file system, and only in compiled mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_OPTIONS = {"fastmath": False, "boundscheck": False, "error_model": "python"}
_interpreted = False


def interpret(on: bool = True) -> None:
    """Run every kernel of this process in the interpreter (``on``) or compiled (the default)."""
    global _interpreted
    _interpreted = bool(on)


def interpreting() -> bool:
    return _interpreted


@contextlib.contextmanager
def interpreted() -> Iterator[None]:
    """Run the kernels in the interpreter inside the block (the tests compare both modes)."""
    before = _interpreted
    interpret(True)
    try:
        yield
    finally:
        interpret(before)


class Kernel:
    """A kernel: callable like the function it wraps, compiled on first compiled-mode call."""

    def __init__(self, fn: Callable) -> None:
        self.py_func = fn
        self._compiled: Any = None
        self.__name__, self.__qualname__ = fn.__name__, fn.__qualname__
        self.__doc__, self.__module__, self.__wrapped__ = fn.__doc__, fn.__module__, fn

    def __call__(self, *args: Any) -> Any:
        if _interpreted:
            return self.py_func(*args)
        return (self._compiled or self.compiled)(*args)

    @property
    def compiled(self) -> Any:
        """The Numba dispatcher of this kernel (created, and Numba imported, on first use)."""
        if self._compiled is None:
            self._compiled = _compile(self.py_func)
        return self._compiled

    def __repr__(self) -> str:
        return f"<kernel {self.__module__}.{self.__qualname__}>"


def kernel(fn: Callable) -> Kernel:
    return Kernel(fn)


_numba: Any = None
_cache = False


def _compile(fn: Callable) -> Any:
    numba = _load_numba()
    if _cache:
        try:
            return numba.njit(cache=True, **_OPTIONS)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available" (e.g. source without a file)
            pass
    return numba.njit(cache=False, **_OPTIONS)(fn)


def _load_numba() -> Any:
    global _numba
    if _numba is None:
        import numba
        from numba.extending import typeof_impl

        # a kernel named inside another kernel is typed as its compiled dispatcher, so calls compile together
        typeof_impl.register(Kernel)(lambda val, c: typeof_impl(val.compiled, c))
        global _cache
        path = cache_dir()
        try:  # only this directory: never Numba's per-file fallbacks, which cannot see a change in a callee
            fresh = not path.exists()
            seed = Path(os.environ.get("AURA_JIT_SEED") or "/nonexistent") / path.name
            if fresh and seed.is_dir():  # kernels compiled at image build for these very sources
                shutil.copytree(seed, path)
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
            numba.config.CACHE_DIR, _cache = str(path), True
            if fresh:
                _prune_older(path)
        except OSError:
            _cache = False
        _numba = numba
    return _numba


def _prune_older(current: Path) -> None:
    """Remove the cache directories of earlier sources beside ``current`` (named like it: 16 hex digits)."""
    for sibling in current.parent.iterdir():
        name = sibling.name
        if sibling != current and sibling.is_dir() and len(name) == 16 and all(c in "0123456789abcdef" for c in name):
            shutil.rmtree(sibling, ignore_errors=True)


def source_fingerprint() -> str:
    """SHA-256 (16 hex digits) over the path and bytes of every ``.py`` file of ``aura_common.core``."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("NUMBA_CACHE_DIR") or str(Path(__file__).resolve().parent / "__pycache__" / "jit")
    return Path(base) / source_fingerprint()
