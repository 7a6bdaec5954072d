"""The compiled-kernel cache: seeded from the image's kernels, named after the core's sources, never fatal."""

from __future__ import annotations

import os
import subprocess
import sys

from aura_common.adapters.jit_cache import source_fingerprint

ADVANCE = ("from aura_common.core.regime import advance, RegimeState, Regime\n"
           "print(advance(RegimeState(), Regime.BULL, 1).regime.value)")


def _compile_in_subprocess(env_extra: dict) -> None:
    out = subprocess.run([sys.executable, "-c", ADVANCE], env={**os.environ, **env_extra}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "bull"


def test_seed_is_copied_once_and_a_missing_seed_is_harmless(tmp_path):
    """The image's kernels (``$AURA_JIT_SEED/<hash>``) are copied into a new cache directory for the same sources,
    never over one that exists; a seed for other sources, or none, changes nothing."""
    seed, target = tmp_path / "seed", tmp_path / "tmp" / "jit"
    (seed / source_fingerprint() / "opt").mkdir(parents=True)
    (seed / source_fingerprint() / "opt" / "planning.nbi").write_bytes(b"index")
    (seed / "0000000000000000").mkdir()  # compiled from other sources
    env = {"AURA_JIT_SEED": str(seed), "NUMBA_CACHE_DIR": str(target)}
    _compile_in_subprocess(env)
    copied = target / source_fingerprint() / "opt" / "planning.nbi"
    assert copied.read_bytes() == b"index"
    assert not (target / "0000000000000000").exists()
    copied.write_bytes(b"recompiled here")
    _compile_in_subprocess(env)  # the directory exists: never overwritten (the container may have compiled newer)
    assert copied.read_bytes() == b"recompiled here"
    other = tmp_path / "other"
    _compile_in_subprocess({"AURA_JIT_SEED": str(tmp_path / "absent"), "NUMBA_CACHE_DIR": str(other)})
    assert [p.name for p in other.iterdir()] == [source_fingerprint()]


def test_kernels_run_where_no_cache_directory_is_writable(tmp_path):
    """A cache location that cannot be created (a container without its tmpfs) must not break an import."""
    blocker = tmp_path / "a-file"  # a cache path below a regular file cannot be created, not even by root
    blocker.write_text("")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(blocker / "cache")}
    code = ("from aura_common.core.weights import plan_weights\n"
            "from aura_common.core.params import PortfolioParams\n"
            "print(plan_weights([('AUSDT', 1.0)], 1.0, {}, PortfolioParams()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "AUSDT" in out.stdout


def test_a_new_source_hash_replaces_the_caches_of_earlier_sources(tmp_path):
    """The cache directory is named after the core's sources; a new one removes older ones (and nothing else)."""
    base = tmp_path / "jit"
    old, other = base / "0123456789abcdef", base / "keep-me"
    old.mkdir(parents=True)
    other.mkdir()
    _compile_in_subprocess({"NUMBA_CACHE_DIR": str(base)})
    assert not old.exists() and other.is_dir()
    assert any((base / source_fingerprint()).rglob("*.nbi"))  # the kernel was cached under the current hash
