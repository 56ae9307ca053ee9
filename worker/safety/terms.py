"""Blocked terms in prompts: whole words and phrases, matched after Unicode normalisation.

Case, fullwidth letters, accents, zero-width characters, punctuation between words, spaced-out letters and
common look-alikes (``p0rn``, a Cyrillic o) do not slip through, while a term inside an innocent word
(``grape``, ``Essex``) is no match. The list: ``worker/safety/terms.txt``, ``BLOCKED_TERMS_FILE``, ``BLOCKED_TERMS``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from worker.runtime.catalog import CatalogError
from worker.runtime.config import Settings

BUILTIN_TERMS_FILE = Path(__file__).with_name("terms.txt")
SETTING_TERMS_CATEGORY = "blocked terms"
MIN_PREFIX_LENGTH = 3  # a shorter wildcard (``ab*``) would refuse half the dictionary

# Letters of other scripts that look like Latin ones (after casefold), by Unicode name, and the digits and
# symbols used for letters. Not exhaustive: the common evasions, not every Unicode confusable.
_LOOKALIKES = {
    "CYRILLIC": {
        "A": "a",
        "VE": "b",
        "IE": "e",
        "SHHA": "h",
        "BYELORUSSIAN-UKRAINIAN I": "i",
        "JE": "j",
        "KA": "k",
        "O": "o",
        "ER": "p",
        "ES": "c",
        "DZE": "s",
        "U": "y",
        "HA": "x",
        "KOMI DE": "d",
        "QA": "q",
        "WE": "w",
    },
    "GREEK": {
        "ALPHA": "a",
        "EPSILON": "e",
        "IOTA": "i",
        "KAPPA": "k",
        "NU": "v",
        "OMICRON": "o",
        "RHO": "p",
        "TAU": "t",
        "UPSILON": "u",
        "CHI": "x",
    },
    "LATIN": {"O WITH STROKE": "o", "L WITH STROKE": "l", "D WITH STROKE": "d", "DOTLESS I": "i"},
}
LOOKALIKE_LETTERS = str.maketrans(
    {
        unicodedata.lookup(f"{script} SMALL LETTER {name}"): latin
        for script, names in _LOOKALIKES.items()
        for name, latin in names.items()
    }
)
LOOKALIKE_DIGITS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
LOOKALIKE_SYMBOLS = str.maketrans({"@": "a", "$": "s"})
WORD = re.compile(r"[^\W_]+")


def _normalised(text: str) -> str:
    """NFKC and casefold, then accents, zero-width and other format characters dropped, look-alikes mapped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = (c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = "".join(c for c in kept if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", text).translate(LOOKALIKE_LETTERS)


def words(text: str) -> list[str]:
    """The text's words, normalised: punctuation, spaces and underscores all separate words."""
    return WORD.findall(_normalised(text))


def _join_single_letters(tokens: list[str]) -> list[str]:
    """``p o r n`` and ``p.o.r.n`` -> ``porn``: a run of two or more one-character words becomes one word."""
    joined: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        joined += ["".join(run)] if len(run) > 1 else run
        run = []
        if token:
            joined.append(token)
    return joined


def spellings(text: str) -> list[str]:
    """The ways the text is read for terms: as written, with look-alike digits and symbols as letters, and
    each of those with spaced-out letters joined; each a string of words separated by single spaces."""
    plain = words(text)
    lookalike = [
        word.translate(LOOKALIKE_DIGITS) if any(c.isalpha() for c in word) else word
        for word in WORD.findall(_normalised(text).translate(LOOKALIKE_SYMBOLS))
    ]
    readings = [plain, lookalike, _join_single_letters(plain), _join_single_letters(lookalike)]
    return list(dict.fromkeys(" ".join(reading) for reading in readings))


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    """Whole-word alternation over normalised phrases; a trailing ``*`` lets the last word continue."""
    if not phrases:
        return None
    alternatives = [
        re.escape(phrase[:-1]) + r"[^ ]*" if phrase.endswith("*") else re.escape(phrase)
        for phrase in sorted(phrases, key=len, reverse=True)
    ]
    return re.compile(r"(?<![^ ])(?:" + "|".join(alternatives) + r")(?![^ ])")


@dataclass(frozen=True)
class TermMatch:
    term: str
    category: str


@dataclass
class TermList:
    """Blocked words and phrases by category, and exception phrases (``!gore tex``) that mask them."""

    categories: dict[str, str] = field(default_factory=dict)  # normalised term (``porn*``) -> category
    exceptions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._terms = _phrase_pattern(list(self.categories))
        self._exceptions = _phrase_pattern(self.exceptions)

    def __len__(self) -> int:
        return len(self.categories)

    def find(self, text: str) -> TermMatch | None:
        if self._terms is None:
            return None
        for reading in spellings(text):
            if self._exceptions is not None:
                reading = self._exceptions.sub("|", reading)
            found = self._terms.search(reading)
            if found:
                return TermMatch(found.group(0), self._category_of(found.group(0)))
        return None

    def _category_of(self, matched: str) -> str:
        if matched in self.categories:
            return self.categories[matched]
        return next(c for term, c in self.categories.items() if term.endswith("*") and matched.startswith(term[:-1]))


def _normalised_term(raw: str, where: str) -> str:
    """A term as the matcher reads text: ``Neo-Nazi*`` -> ``neo nazi*``; a bad one is a CatalogError."""
    prefix = raw.endswith("*")
    normalised = " ".join(words(raw.removesuffix("*")))
    if not normalised:
        raise CatalogError(f"{where}: {raw!r} has no letters or digits")
    if prefix and len(normalised.rsplit(" ", 1)[-1]) < MIN_PREFIX_LENGTH:
        raise CatalogError(f"{where}: {raw!r}: a wildcard needs at least {MIN_PREFIX_LENGTH} letters before the *")
    return normalised + ("*" if prefix else "")


def parse_terms(text: str, source: str, default_category: str = SETTING_TERMS_CATEGORY) -> TermList:
    """The terms file format (see ``worker/safety/terms.txt``): ``[category]`` sections, ``!`` exceptions."""
    categories: dict[str, str] = {}
    exceptions: list[str] = []
    category = default_category
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        where = f"{source}:{number}"
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip() or default_category
        elif line.startswith("!"):
            exceptions.append(_normalised_term(line[1:].strip(), where).removesuffix("*"))
        else:
            categories.setdefault(_normalised_term(line, where), category)
    return TermList(categories, exceptions)


def load_terms(settings: Settings) -> TermList:
    """The terms file (built-in unless ``BLOCKED_TERMS_FILE``), plus ``BLOCKED_TERMS``."""
    path = settings.blocked_terms_file or BUILTIN_TERMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"BLOCKED_TERMS_FILE {path} cannot be read: {exc}") from exc
    listed = parse_terms(text, str(path))
    extra = parse_terms("\n".join(settings.blocked_terms.split(",")), "BLOCKED_TERMS")
    return TermList({**extra.categories, **listed.categories}, listed.exceptions)
