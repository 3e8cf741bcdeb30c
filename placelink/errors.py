"""Errors a user can cause: each carries one clear message, printed without a traceback."""


class PlacelinkError(Exception):
    """A problem with the user's input, configuration or environment."""


class SourceError(PlacelinkError):
    """A source extract that cannot be read at all; the message names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(PlacelinkError):
    """A missing or invalid setting or sources file."""


class CheckFailed(PlacelinkError):
    """A blocking data-quality check failed."""
