"""Message templates rendered with Jinja2 in a sandbox.

Templates live under ``<root>/<channel>/`` (see ``templates/README.md``):
e-mail ``<name>.subject.txt`` + ``<name>.html`` + ``<name>.txt``, wrapped in
the engine's own ``email/_layout.html`` / ``_layout.txt`` (unsubscribe link
and postal address); SMS ``<name>.txt`` (opt-out hint appended when the text
has none); mail ``<name>.html``; call ``<name>.txt``. Every problem, from a
missing file to an undefined variable, is a `TemplateError` naming the file
and, where Jinja knows it, the line.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from engine.core.messages import Rendered
from engine.errors import TemplateError
from engine.settings import SenderSettings

# Files each channel needs, relative to <root>/<channel>/; {} is the template name.
FILES: Final = {
    "email": ("{}.subject.txt", "{}.html", "{}.txt"),
    "sms": ("{}.txt",),
    "mail": ("{}.html",),
    "call": ("{}.txt",),
}
EMAIL_LAYOUTS: Final = ("email/_layout.html", "email/_layout.txt")
_STOP: Final = re.compile(r"\bstop\b", re.IGNORECASE)
# A template edited on disk is used by renders starting at most this long after.
RECHECK_SECONDS: Final = 2.0
# Names Jinja gives the frames of template code in a rewritten traceback.
_TEMPLATE_FRAMES: Final = ("template", "top-level template code")


class TemplateRenderer:
    """Renders a campaign step's template for one customer.

    Compiled templates are kept; each is checked against its file (a stat)
    at most every `RECHECK_SECONDS` of `clock`, not on every render: the
    dispatcher renders five files per e-mail, thousands a second.
    """

    def __init__(
        self, root: Path, sender: SenderSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._root = root
        self._sender = sender
        self._clock = clock
        self._complete: set[tuple[str, str]] = set()
        self._compiled: dict[str, tuple[jinja2.Template, float]] = {}  # path -> (template, checked)
        # Immutable sandbox: templates cannot reach Python internals nor
        # change the dicts the engine hands in (e.g. `vars.update(...)`).
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(root),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=False,
            finalize=_blank_none,
        )
        self._globals = dict(self._env.globals)

    def missing(self, channel: str, name: str) -> list[str]:
        """Paths (relative to the root) of required files that do not exist."""
        if (channel, name) in self._complete:  # checked once per process: a stat per file
            return []
        absent = [
            path for path in self._required(channel, name) if not (self._root / path).is_file()
        ]
        if not absent:
            self._complete.add((channel, name))
        return absent

    def render(self, channel: str, name: str, variables: Mapping[str, Any]) -> Rendered:
        """Render template `name` of `channel` with `variables`; raise `TemplateError`."""
        absent = self.missing(channel, name)
        if absent:
            files = ", ".join(str(self._root / path) for path in absent)
            raise TemplateError(f"{channel} template {name!r} is incomplete: missing {files}")
        context = {
            "sender": {
                "name": self._sender.name,
                "email": self._sender.email,
                "postal_address": self._sender.postal_address,
            },
            "unsubscribe_url": self._sender.public_url.rstrip("/") + "/u/preview",
            **variables,
        }
        if channel == "email":
            return self._email(name, context)
        text = self._render(f"{channel}/{name}.{'html' if channel == 'mail' else 'txt'}", context)
        if channel == "sms":
            return Rendered(channel, self._with_opt_out(text.strip()))
        if channel == "mail":
            return Rendered(channel, _plain_text(text), html=text)
        return Rendered(channel, text.strip())

    def _required(self, channel: str, name: str) -> list[str]:
        if channel not in FILES:
            raise TemplateError(f"unknown channel {channel!r}; known: {', '.join(FILES)}")
        if "\\" in name or {"", ".", ".."} & set(name.split("/")):
            raise TemplateError(f"invalid template name {name!r} (use e.g. 'spring/offer')")
        files = [f"{channel}/{pattern.format(name)}" for pattern in FILES[channel]]
        return files + list(EMAIL_LAYOUTS) if channel == "email" else files

    def _email(self, name: str, context: Mapping[str, Any]) -> Rendered:
        subject_file = f"email/{name}.subject.txt"
        subject = " ".join(self._render(subject_file, context).split())
        if not subject:
            raise TemplateError(f"{self._root / subject_file}: the subject renders empty")
        html_body = Markup(self._render(f"email/{name}.html", context))
        text_body = self._render(f"email/{name}.txt", context)
        html = self._render(EMAIL_LAYOUTS[0], {**context, "content": html_body})
        text = self._render(EMAIL_LAYOUTS[1], {**context, "content": text_body})
        return Rendered("email", text.strip(), subject=subject, html=html)

    def _with_opt_out(self, text: str) -> str:
        if _STOP.search(text):
            return text
        return " ".join(part for part in (text, self._sender.sms_opt_out_hint) if part)

    def _render(self, path: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._template(path)
            # Template.render, minus merging the environment's globals (a
            # ChainMap, slow to iterate) into a fresh dict on every call:
            # five renders per e-mail, and the dispatcher renders thousands.
            shared = template.new_context({**self._globals, **context}, shared=True)
            try:
                return str(self._env.concat(template.root_render_func(shared)))  # type: ignore[attr-defined]
            except Exception:
                self._env.handle_exception()  # re-raises with the template's lines
        # Runtime errors (undefined variables, sandbox refusals, a filter
        # given the wrong type) are the template author's to fix.
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise _explain(exc, self._root / path) from exc

    def _template(self, path: str) -> jinja2.Template:
        """The compiled template at `path`, re-read when its file changed (checked now and then)."""
        now = self._clock()
        kept = self._compiled.get(path)
        if kept is not None and now - kept[1] < RECHECK_SECONDS:
            return kept[0]
        template = self._env.get_template(path)  # Jinja's own cache: a stat, reloaded if changed
        self._compiled[path] = (template, now)
        return template


def _explain(exc: Exception, shown: Path) -> TemplateError:
    """A `TemplateError` naming the file and, where known, the line of `exc`."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateError(f"{exc.filename or shown}:{exc.lineno}: syntax error: {exc.message}")
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(f"{shown}: template not found: {exc.name}")
    where = _template_line(exc) or str(shown)
    if isinstance(exc, jinja2.TemplateError):
        return TemplateError(f"{where}: {exc.message or exc.__class__.__name__}")
    return TemplateError(f"{where}: {exc.__class__.__name__}: {exc}")


def _template_line(exc: BaseException) -> str | None:
    """``file:line`` of the innermost template frame in the traceback, if any."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if (frame.name in _TEMPLATE_FRAMES or frame.name.startswith("block "))
        and not frame.filename.endswith(".py")
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def _blank_none(value: Any) -> Any:
    # A profile field may be None; print nothing rather than "None".
    return "" if value is None else value


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML document."""

    INLINE: Final = frozenset({"a", "b", "i", "u", "em", "strong", "span", "small", "sup", "sub"})
    HIDDEN: Final = frozenset({"head", "style", "script", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in self.HIDDEN
        if tag not in self.INLINE:
            self.chunks.append(" ")  # block boundaries separate words

    def handle_endtag(self, tag: str) -> None:
        self._hidden = max(0, self._hidden - (tag in self.HIDDEN))
        if tag not in self.INLINE:
            self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.chunks.append(data)


def _plain_text(html: str) -> str:
    """The text of `html`, tags dropped and whitespace collapsed (a preview)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.chunks).split())
