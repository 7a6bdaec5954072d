"""AURA's shared library: domain values, the pure decision core, configuration and shell adapters.

Layering (checked by import-linter in tests/test_layering.py):
    adapters | config  ->  core  ->  domain
The core and the domain never do I/O, never read the clock and never log.

Importing the library wires the one piece of shell the core needs in every process: the on-disk cache of its
compiled kernels (``adapters.jit_cache``; the core only holds the port, ``core.jit.use_cache``). Nothing is read or
written before a kernel is first compiled.
"""

from aura_common.adapters import jit_cache as _jit_cache

__version__ = "0.1.0"

_jit_cache.install()
