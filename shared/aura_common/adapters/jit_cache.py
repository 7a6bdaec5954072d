"""The on-disk cache of the core's compiled kernels (``core/jit.py``): where Numba may write their machine code.

Numba keys a cached function on its own source file only, so a kernel that calls a kernel in another file could be
served stale machine code after that file changed. The cache directory is therefore named after a hash of every
source file of ``aura_common.core`` (any change → a fresh directory → recompiled): under ``$NUMBA_CACHE_DIR`` when
set, else ``core/__pycache__/jit``; creating a new one removes the directories of earlier sources beside it. Numba
can only use a writable cache, and a container's file system is read-only: the image sets
``NUMBA_CACHE_DIR=/tmp/aura-jit`` and ``AURA_JIT_SEED=/opt/aura-jit``, the kernels it compiled at build time, which
are copied into the new directory when they were compiled from the same sources. Where no cache directory is
writable, ``prepare_cache_dir`` answers ``None`` and a kernel compiles in memory.

``install()`` registers ``prepare_cache_dir`` with the core (``jit.use_cache``); the package ``aura_common`` calls it
on import, so every process that compiles a kernel (the backtester, the optimizer, ``aura_cli.jit_warm``, the tests)
uses this cache. It runs once, when Numba is first loaded, and only in compiled mode.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aura_common.core import jit

CORE_DIR = Path(jit.__file__).resolve().parent


def source_fingerprint() -> str:
    """SHA-256 (16 hex digits) over the path and bytes of every ``.py`` file of ``aura_common.core``."""
    digest = hashlib.sha256()
    for path in sorted(CORE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(CORE_DIR)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("NUMBA_CACHE_DIR") or str(CORE_DIR / "__pycache__" / "jit")
    return Path(base) / source_fingerprint()


def prepare_cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """The writable cache directory for the current sources (seeded from ``$AURA_JIT_SEED`` when new; older sources'
    directories beside it removed), or ``None`` when it cannot be created or written."""
    path = cache_dir(environ)
    try:
        fresh = not path.exists()
        seed = Path(environ.get("AURA_JIT_SEED") or "/nonexistent") / path.name
        if fresh and seed.is_dir():  # kernels compiled at image build for these very sources
            shutil.copytree(seed, path)
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        if fresh:
            _prune_older(path)
    except OSError:
        return None
    return str(path)


def _prune_older(current: Path) -> None:
    """Remove the cache directories of earlier sources beside ``current`` (named like it: 16 hex digits)."""
    for sibling in current.parent.iterdir():
        name = sibling.name
        if sibling != current and sibling.is_dir() and len(name) == 16 and all(c in "0123456789abcdef" for c in name):
            shutil.rmtree(sibling, ignore_errors=True)


def install() -> None:
    """Cache the core's compiled kernels here (``core.jit.use_cache``)."""
    jit.use_cache(prepare_cache_dir)
