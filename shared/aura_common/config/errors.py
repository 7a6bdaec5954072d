"""The one configuration error type."""


class ConfigError(Exception):
    """A configuration file, override or secret is invalid. ``str()`` is the one-line user message."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")
