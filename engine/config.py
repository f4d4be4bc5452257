"""Read ``config.yaml`` and the environment into `Settings`, once, at the edge.

Environment overrides:
- ``ENGINE_CONFIG``: path of the config file (default ``config.yaml`` in the
  working directory; a missing default file means built-in defaults).
- ``ENGINE_DATABASE_URL``: the database URL (secrets and hosts stay out of git).
- ``ENGINE_<SECTION>__<KEY>[__<KEY>...]``: any other key, e.g.
  ``ENGINE_IMPORTS__DEFAULT_REGION=US``; the value is read as a YAML scalar.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML

from engine.errors import ConfigError, InvalidDocument
from engine.settings import Settings
from engine.yamldoc import YamlDoc, load_yaml, violations

ALIASES = {"ENGINE_DATABASE_URL": ("database", "url")}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `path` (or ``$ENGINE_CONFIG`` / ``config.yaml``) and `environ`."""
    environ = os.environ if environ is None else environ
    explicit = path or environ.get("ENGINE_CONFIG")
    file = Path(explicit or "config.yaml")
    if file.exists():
        try:
            doc = load_yaml(file.read_text(encoding="utf-8"), str(file))
        except InvalidDocument as exc:
            raise ConfigError(exc.violations) from exc
    elif explicit:
        raise ConfigError([f"{file}: config file not found"])
    else:
        doc = YamlDoc(str(file), {}, {(): (0, 0)})
    data = doc.data if isinstance(doc.data, dict) else {}
    origin = _apply_environment(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(violations(exc, doc, origin)) from exc


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple, str]:
    """Overlay ENGINE_* variables onto `data`; returns path -> variable name."""
    origin: dict[tuple, str] = {}
    scalar = YAML(typ="safe", pure=True)
    for name, raw in sorted(environ.items()):
        if name in ALIASES:
            path: tuple[str, ...] = ALIASES[name]
            value: Any = raw
        elif name.startswith("ENGINE_") and "__" in name:
            path = tuple(part.lower() for part in name[len("ENGINE_") :].split("__"))
            value = scalar.load(raw) if raw else raw
        else:
            continue
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
        origin[path] = f"${name}"
    return origin
