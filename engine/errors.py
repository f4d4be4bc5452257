"""One exception hierarchy for the engine.

A docstring is the default message. `RetryableError` and `PermanentError`
are kept apart so a caller (dispatcher, scheduler, CLI) can decide whether to
try again without inspecting messages.
"""

from __future__ import annotations

from collections.abc import Sequence


class EngineError(Exception):
    """The campaign engine failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class PermanentError(EngineError):
    """The operation cannot succeed by trying again."""


class RetryableError(EngineError):
    """The operation may succeed if tried again later."""


class InvalidDocument(PermanentError):
    """A YAML document (config or campaign) is invalid."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = tuple(violations)
        super().__init__("\n".join(self.violations))


class ConfigError(InvalidDocument):
    """The configuration is invalid."""


class InputFileError(PermanentError):
    """An input file cannot be read as the expected CSV."""


class SchemaNotReady(PermanentError):
    """The database schema is missing or out of date: run `campaign db upgrade`."""


class TemplateError(PermanentError):
    """A message template is missing or cannot be rendered."""
