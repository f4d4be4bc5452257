"""What an inbound text asks for: opt out, opt back in, help, a rating, or just a reply.

US rules since April 2025 (FCC 24-24) make any *reasonable* revocation an
opt-out, not only the keyword alone; carriers and Twilio match only the
exact keywords. The classifier errs towards honouring an opt-out, but a
text that merely contains "stop" ("don't stop the deals", "I'll stop by")
is a reply. The order of the rules:

1. Twilio's own match (``OptOutType`` from Advanced Opt-Out) wins.
2. A sentence (split at ``. ! ? , ; :`` and line breaks) that, once filler
   words (please, now, thanks, me, all...) are dropped, is only opt-out
   keywords: "STOP", "stop please", "Please STOP!", "unsubscribe me", "Stop, who is this?".
3. Revocation phrases anywhere, unless negated just before: "stop texting
   me", "opt me out", "take me off your list", "do not text me", "no more
   messages", "I want to unsubscribe", "how do I opt out", "wrong number",
   "revoke my consent", "leave me alone"; "unsubscribe"/"opt out" as words
   anywhere (not after "don't"/"not"/"never").
4. Opt-in: START or UNSTOP (and filler); YES only while the number is
   opted out (otherwise YES answers a question and is a reply). Free text
   never opts anyone in: consent must be express.
5. Help: HELP or INFO (and filler).
6. A rating: "1".."5", "4/5", "4 out of 5", "5 stars".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

Intent = Literal["stop", "start", "help", "rating", "reply"]

STOP_WORDS: Final = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "unsub",
        "remove",
    }
)
START_WORDS: Final = frozenset({"start", "unstop"})
HELP_WORDS: Final = frozenset({"help", "info"})
# Words that do not change what a keyword asks for.
FILLER: Final = frozenset(
    [
        "please",
        "pls",
        "plz",
        "now",
        "thanks",
        "thank",
        "you",
        "ty",
        "thx",
        "ok",
        "okay",
        "just",
        "asap",
        "immediately",
        "already",
        "it",
        "me",
        "all",
        "but",
        "and",
        "so",
        "sir",
        "madam",
        "hi",
        "hello",
        "hey",
        "right",
        "away",
        "this",
        "these",
        "texts",
        "messages",
    ]
)
# A revocation phrase preceded (within its sentence, up to 4 words) by one of these is negated.
NEGATORS: Final = frozenset({"not", "never", "nobody"})
_PHRASES: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"\b(stop|quit|cease|end)( \w+)? (texting|messaging|sending|contacting|spamming)\b",
        r"\b(opt|take|remove|delete|drop|unsubscribe) (me|my number|this number|my phone)"
        r"( \w+){0,3} (out|off|from)\b",
        r"\b(remove|delete) (my number|this number|my phone number|my info)\b",
        r"\bdo not (text|message|send|contact|sms)\b",
        r"\bno more (texts?|messages?|sms)\b",
        r"\b(want|wish|like|need) to (unsubscribe|optout|stop (getting|receiving)|be removed)\b",
        r"\bhow (do|can) i (unsubscribe|optout|stop (these|this|them|getting|receiving))\b",
        r"\b(revoke|withdraw) (my )?consent\b",
        r"\bwrong number\b",
        r"\bleave me alone\b",
        r"\b(unsubscribe|optout)\b",
    )
)
_RATING: Final = re.compile(r"^([1-5])( ?/ ?5| out of 5| stars?)?$")
_SENTENCES: Final = re.compile(r"[.!?,;:\n]+")
_CONTRACTIONS: Final = (
    (r"\b(don'?t|dont)\b", "do not"),
    (r"\b(can'?t|cant)\b", "cannot"),
    (r"\b(won'?t|wont)\b", "will not"),
    (r"\bi'?d\b", "i would"),
    (r"\bopt[ -]?out\b", "optout"),
    (r"\bstop all\b", "stopall"),
    (r"\bun-?subscribe\b", "unsubscribe"),
    (r"\b(txts?|msgs?)\b", "texts"),
)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a text asks for; `rating` is "1".."5" for a rating."""

    intent: Intent
    rating: str | None = None


def classify(body: str, opted_out: bool = False, opt_out_type: str | None = None) -> Reply:
    """Return what `body` asks for (see the module docstring for the rules).

    `opted_out`: the number's latest word is an opt-out (YES then opts in).
    `opt_out_type`: Twilio's own keyword match, which wins.
    """
    if opt_out_type in _TWILIO:
        return Reply(_TWILIO[opt_out_type])
    sentences = [s.split() for s in _SENTENCES.split(normalize(body)) if s.strip()]
    if any(_only(words, STOP_WORDS) or _revokes(words) for words in sentences):
        return Reply("stop")
    words = [w for sentence in sentences for w in sentence]
    start = START_WORDS | ({"yes", "y"} if opted_out else set())
    if _only(words, start):
        return Reply("start")
    if _only(words, HELP_WORDS):
        return Reply("help")
    rating = _RATING.match(" ".join(words))
    if rating:
        return Reply("rating", rating.group(1))
    return Reply("reply")


_TWILIO: Final[dict[str, Intent]] = {"STOP": "stop", "START": "start", "HELP": "help"}


def _revokes(words: list[str]) -> bool:
    """True when the sentence holds a revocation phrase not negated just before it."""
    text = " ".join(words)
    for pattern in _PHRASES:
        for found in pattern.finditer(text):
            before = text[: found.start()].split()[-4:]
            if not NEGATORS.intersection(before):
                return True
    return False


def normalize(body: str) -> str:
    """Lower case, compatibility characters folded, quotes and symbols gone, contractions spelt out."""
    text = unicodedata.normalize("NFKC", body).lower().replace("’", "'").replace("‘", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    # Keep letters, digits, sentence marks and "/"; everything else is a space.
    text = "".join(c if c.isalnum() or c in ".!?,;:\n/" else " " for c in text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _only(words: list[str], keywords: frozenset[str]) -> bool:
    """True when `words` hold a keyword and nothing but keywords and filler."""
    return (
        bool(words)
        and any(w in keywords for w in words)
        and all(w in keywords or w in FILLER for w in words)
    )


def confirmation(intent: Intent, sender: str, opt_out_hint: str, help_contact: str) -> str:
    """The one reply a STOP, START or HELP gets (the law asks for at most one)."""
    if intent == "stop":
        return f"{sender}: you are unsubscribed and will get no more texts. Reply START to resubscribe."
    if intent == "start":
        return f"{sender}: you are subscribed to our texts again. {opt_out_hint}."
    return f"{sender} marketing texts. Help: {help_contact}. {opt_out_hint}."
