"""The layering of ARCHITECTURE.md, checked by walking every import."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"
FRAMEWORKS = {
    "sqlalchemy",
    "alembic",
    "flask",
    "apscheduler",
    "jinja2",
    "sendgrid",
    "twilio",
    "psycopg",
    "click",
    "rich",
    "werkzeug",
}
# layer -> modules (prefixes) it must not import
RULES = {
    "engine.core": FRAMEWORKS
    | {
        "os",
        "pathlib",
        "time",
        "random",
        "engine.db",
        "engine.services",
        "engine.cli",
        "engine.bootstrap",
        "engine.files",
        "engine.config",
        "engine.demo",
        "engine.web",
        "engine.channels",
    },
    "engine.services": FRAMEWORKS
    | {
        "engine.db",
        "engine.files",
        "engine.cli",
        "engine.bootstrap",
        "engine.config",
        "engine.web",
        "engine.channels",
    },
    "engine.db": {
        "engine.services",
        "engine.cli",
        "engine.bootstrap",
        "engine.files",
        "engine.config",
        "engine.web",
        "engine.channels",
        "flask",
    },
    "engine.files": {"engine.db", "engine.services", "engine.cli", "engine.bootstrap"},
    "engine.render": {
        "engine.db",
        "engine.services",
        "engine.cli",
        "engine.bootstrap",
        "engine.config",
        "engine.web",
        "engine.channels",
        "sqlalchemy",
    },
    "engine.demo": FRAMEWORKS | {"engine.db", "engine.services", "engine.cli", "os", "time"},
    # Channels talk to providers and files; they never see the database.
    "engine.channels": {
        "sqlalchemy",
        "flask",
        "engine.db",
        "engine.services",
        "engine.cli",
        "engine.bootstrap",
        "engine.config",
        "engine.web",
    },
    # The web app works through services and bootstrap, like the CLI.
    "engine.web": {"engine.cli", "engine.channels", "engine.testing"},
    # Fake provider servers: stand-ins for SendGrid and Twilio, nothing of ours.
    "engine.testing": {
        "sqlalchemy",
        "engine.db",
        "engine.services",
        "engine.cli",
        "engine.bootstrap",
        "engine.config",
        "engine.web",
        "engine.channels",
    },
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ENGINE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ENGINE.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), ast.parse(path.read_text(), str(path))


def imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_nothing_it_must_not(layer: str) -> None:
    found = [name for name, _ in modules() if _under(name, layer)]
    assert found, f"no modules in {layer}"
    broken = [
        f"{name} imports {target}"
        for name, tree in modules()
        if _under(name, layer)
        for target in imports(tree)
        if any(_under(target, banned) for banned in RULES[layer])
    ]
    assert broken == []


def test_only_entry_points_read_the_config_or_import_the_cli() -> None:
    broken = [
        f"{name} imports {target}"
        for name, tree in modules()
        for target in imports(tree)
        if (_under(target, "engine.cli") and not _under(name, "engine.cli"))
        or (
            _under(target, "engine.config")
            and not (_under(name, "engine.cli") or name == "engine.web.wsgi")
        )
    ]
    assert broken == []


def test_the_core_reads_no_clock_environment_or_files() -> None:
    calls = [
        f"{name}:{node.lineno} {ast.unparse(node.func)}()"
        for name, tree in modules()
        if _under(name, "engine.core")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_CALLS)
            or (isinstance(node.func, ast.Name) and node.func.id in {"open", "input"})
        )
    ]
    assert calls == []


def test_the_walker_sees_a_violation() -> None:
    tree = ast.parse("import sqlalchemy\nfrom engine.db import models\n")
    assert list(imports(tree)) == ["sqlalchemy", "engine.db"]
