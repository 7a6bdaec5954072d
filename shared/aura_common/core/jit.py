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

**Cache.** Numba may cache compiled machine code on disk. Where, is the shell's business: ``use_cache(locate)``
registers a function that returns a writable cache directory for the current sources, or ``None`` (compile in
memory); ``aura_common.adapters.jit_cache`` is that function (named after a hash of the core's sources, seeded from
the image's kernels) and the package ``aura_common`` registers it on import. This module does no file-system work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_OPTIONS = {"fastmath": False, "boundscheck": False, "error_model": "python"}
_interpreted = False
_locate_cache: Callable[[], str | None] | None = None


def use_cache(locate: Callable[[], str | None] | None) -> None:
    """Cache compiled kernels in the directory ``locate()`` returns when Numba is first loaded (``None`` from it, or
    no locator: compile in memory). Called by the shell; the core never touches the file system."""
    global _locate_cache
    _locate_cache = locate


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


class Kernel(Generic[P, R]):
    """A kernel: callable like the function it wraps (and typed like it), compiled on first compiled-mode call."""

    def __init__(self, fn: Callable[P, R]) -> None:
        self.py_func = fn
        self._compiled: Any = None
        self.__name__, self.__qualname__ = fn.__name__, fn.__qualname__
        self.__doc__, self.__module__, self.__wrapped__ = fn.__doc__, fn.__module__, fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if _interpreted:
            return self.py_func(*args, **kwargs)
        result: R = (self._compiled or self.compiled)(*args, **kwargs)
        return result

    @property
    def compiled(self) -> Any:
        """The Numba dispatcher of this kernel (created, and Numba imported, on first use)."""
        if self._compiled is None:
            self._compiled = _compile(self.py_func)
        return self._compiled

    def __repr__(self) -> str:
        return f"<kernel {self.__module__}.{self.__qualname__}>"


def kernel(fn: Callable[P, R]) -> Kernel[P, R]:
    return Kernel(fn)


_numba: Any = None
_cache = False


def _compile(fn: Callable[..., Any]) -> Any:
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
        # only this directory: never Numba's per-file fallbacks, which cannot see a change in a callee
        directory = _locate_cache() if _locate_cache is not None else None
        if directory is not None:
            numba.config.CACHE_DIR = directory  # type: ignore[attr-defined]  # set dynamically by numba
            _cache = True
        _numba = numba
    return _numba
