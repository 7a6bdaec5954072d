"""THE harness of the whole-system tests (and of bench/trader): real `aura` processes and what they read and write.

    processes   free ports, bounded waits, stopping a process, plain HTTP, a logged `aura` process (``Proc``)
    simulator   the one client of the simulator's admin API (``SimAdmin``) and a simulator process (``start_sim``)
    caches      seeded synthetic candle caches in the ingestor's Parquet layout
    trader      trader configurations, a `trade --once` environment, a running `aura trade`, its metrics
    journal     read-only queries of a journal file, and the crash and fault campaigns' invariants

Imported as ``harness``: tests/conftest.py puts tests/ on ``sys.path`` (the bench scripts do the same), so every
test and benchmark uses one copy of each helper.
"""
