"""AURA's shared library: domain values, the pure decision core, configuration and shell adapters.

Layering (checked by import-linter in tests/test_layering.py):
    adapters | config  ->  core  ->  domain
The core and the domain never do I/O, never read the clock and never log.
"""

__version__ = "0.1.0"
