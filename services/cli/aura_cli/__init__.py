"""The ``aura`` command line: one console script dispatching to the services."""
