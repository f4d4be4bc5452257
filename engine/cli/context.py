"""What every command shares: settings (parsed once), adapters, the clock."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from rich.console import Console

from engine.bootstrap import Adapters, bootstrap
from engine.config import load_settings
from engine.settings import Settings


class Context:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        # Piped or captured output gets room for the report's tables (rich
        # would assume 80 columns) unless COLUMNS says otherwise.
        wide = sys.stdout.isatty() or "COLUMNS" in os.environ
        self.console = Console(width=None if wide else 140)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config_path)

    @cached_property
    def adapters(self) -> Adapters:
        return bootstrap(self.settings)

    def for_dispatch(self) -> None:
        """Before the adapters are built: the dispatcher's smaller SQLite page cache."""
        database = self.settings.database.model_copy(
            update={"sqlite_cache_mb": self.settings.dispatch.sqlite_cache_mb}
        )
        self.settings = self.settings.model_copy(update={"database": database})

    def close(self) -> None:
        """Release database connections (called when the command ends)."""
        if "adapters" in self.__dict__:
            self.adapters.engine.dispose()

    def now(self) -> datetime:
        """The one clock of the CLI; services get the time handed in."""
        return datetime.now(UTC)
