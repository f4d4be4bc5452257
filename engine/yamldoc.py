"""YAML documents that remember where every value came from.

Marketers and operators write YAML by hand; an error must name the file, the
line, the column and the field. `load_yaml` parses safely (no tags, no
objects), refuses duplicate keys and keeps a position for every path so that
validation errors can be reported as ``file:line:col field.path: message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from engine.errors import InvalidDocument

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDoc:
    """Plain data (dicts, lists, scalars) plus the position of each path."""

    filename: str
    data: Any
    positions: Mapping[Path, tuple[int, int]]

    def where(self, path: Iterable[str | int]) -> str:
        """``file:line:col`` of the deepest known prefix of `path` (1-based)."""
        key = tuple(path)
        while key and key not in self.positions:
            key = key[:-1]
        line, col = self.positions.get(key, (0, 0))
        return f"{self.filename}:{line + 1}:{col + 1}"

    def describe(self, path: Iterable[str | int], message: str) -> str:
        """``file:line:col field.path: message``."""
        key = tuple(path)
        return f"{self.where(key)} {'.'.join(map(str, key)) or '(document)'}: {message}"


def load_yaml(text: str, filename: str) -> YamlDoc:
    """Parse `text`; a syntax error or duplicate key raises InvalidDocument."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = exc.problem or exc.context or "invalid YAML"
        raise InvalidDocument([f"{where}: {problem}"]) from exc
    positions: dict[Path, tuple[int, int]] = {(): (0, 0)}
    return YamlDoc(filename, _plain(raw, (), positions), positions)


def _plain(node: Any, path: Path, positions: dict[Path, tuple[int, int]]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for key in node:
            line, col = node.lc.key(key) if node.lc.data else (0, 0)
            positions[(*path, str(key))] = (line, col)
            out[str(key)] = _plain(node[key], (*path, str(key)), positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            positions[(*path, index)] = node.lc.item(index)
            items.append(_plain(item, (*path, index), positions))
        return items
    if hasattr(node, "value") and type(node).__module__.startswith("ruamel"):
        return node.value  # ScalarFloat/ScalarString wrappers
    return node


def violations(
    exc: ValidationError, doc: YamlDoc, origin: Mapping[Path, str] | None = None
) -> list[str]:
    """Every pydantic error as ``where field.path: message``.

    `origin` names a different origin (an environment variable) for paths that
    were not taken from the file.
    """
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
        dotted = ".".join(str(part) for part in loc) or "(document)"
        where = (origin or {}).get(loc) or doc.where(loc)
        lines.append(f"{where} {dotted}: {error['msg'].removeprefix('Value error, ')}")
    return lines


def _is_union_tag(part: str | int) -> bool:
    # pydantic inserts the union member name (`function-after[...]`) in locs;
    # our own tagged unions mark their tags with "~" (engine.core.campaign).
    return isinstance(part, str) and ("[" in part or part.startswith(("function-", "~")))
