"""The compiled-kernel cache seed: a container copies the kernels compiled at image build into its writable cache."""

from __future__ import annotations

import os
import subprocess
import sys

from aura_cli.main import seed_jit_cache


def test_seed_is_copied_once_and_a_missing_seed_is_harmless(tmp_path, monkeypatch):
    seed, target = tmp_path / "seed", tmp_path / "tmp" / "jit"
    (seed / "opt" / "core").mkdir(parents=True)
    (seed / "opt" / "core" / "planning.nbi").write_bytes(b"index")
    monkeypatch.setenv("AURA_JIT_SEED", str(seed))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(target))
    seed_jit_cache()
    assert (target / "opt" / "core" / "planning.nbi").read_bytes() == b"index"
    (target / "opt" / "core" / "planning.nbi").write_bytes(b"recompiled here")
    seed_jit_cache()  # once seeded, never overwritten (the container may have compiled newer kernels)
    assert (target / "opt" / "core" / "planning.nbi").read_bytes() == b"recompiled here"
    monkeypatch.setenv("AURA_JIT_SEED", str(tmp_path / "absent"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "other"))
    seed_jit_cache()
    assert not (tmp_path / "other").exists()


def test_kernels_run_where_no_cache_directory_is_writable(tmp_path):
    """A cache location that cannot be created (a container without its tmpfs) must not break an import."""
    blocker = tmp_path / "a-file"  # a cache path below a regular file cannot be created, not even by root
    blocker.write_text("")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(blocker / "cache")}
    code = ("from aura_common.core.planning import plan_weights\n"
            "from aura_common.core.params import PortfolioParams\n"
            "print(plan_weights([('AUSDT', 1.0)], 1.0, {}, PortfolioParams()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "AUSDT" in out.stdout


def test_a_new_source_hash_replaces_the_caches_of_earlier_sources(tmp_path):
    """The cache directory is named after the core's sources; a new one removes older ones (and nothing else)."""
    from aura_common.core.jit import source_fingerprint

    base = tmp_path / "jit"
    old, other = base / "0123456789abcdef", base / "keep-me"
    old.mkdir(parents=True)
    other.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(base)}
    code = ("from aura_common.core.regime import advance, RegimeState, Regime\n"
            "print(advance(RegimeState(), Regime.BULL, 1).regime.value)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "bull"
    assert not old.exists() and other.is_dir()
    assert any((base / source_fingerprint()).rglob("*.nbi"))  # the kernel was cached under the current hash
