"""Blocked terms in prompts: whole words and phrases, matched on a Unicode skeleton of the text.

Case, fullwidth letters, accents, invisible characters, punctuation, spaced-out letters, digits for letters
and look-alike letters of any script (Unicode's confusables data) do not slip through, while a term inside an
innocent word (``grape``, ``Essex``) is no match, and a term that is also a pet's name or a number passes
where the words around it say so (``a cat named Loli``, ``1488 Maple Street``). The list:
``worker/safety/terms.txt``, ``BLOCKED_TERMS_FILE``, ``BLOCKED_TERMS``; the context words:
``worker/safety/context.txt``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

from worker.runtime.catalog import CatalogError
from worker.runtime.config import Settings

BUILTIN_TERMS_FILE = Path(__file__).with_name("terms.txt")
CONTEXT_FILE = Path(__file__).with_name("context.txt")
SETTING_TERMS_CATEGORY = "blocked terms"
MIN_PREFIX_LENGTH = 3  # a shorter wildcard (``ab*``) would refuse half the dictionary
NAME_MARK = "name:"  # ``name: loli``: also a pet's name

# Invisible characters that are letters or symbols, not format characters or marks: Hangul fillers, braille blank.
INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
DROPPED_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf", "Cn", "Co", "Cs"})  # marks, format, unassigned, private
ASCII_CONTROLS = str.maketrans(dict.fromkeys(c for c in map(chr, range(128)) if not (c.isprintable() or c.isspace())))
# Names of letters that no normalisation maps to their Latin letter: small capitals, hooks, flags, squared letters.
LATIN_NAME = re.compile(
    r"(?:LATIN|REGIONAL INDICATOR SYMBOL|(?:NEGATIVE )?(?:SQUARED|CIRCLED) LATIN)(?: SMALL| CAPITAL)? LETTER"
    r"(?: SMALL CAPITAL| SMALL| CAPITAL| DOTLESS| SCRIPT)? ([A-Z])(?: WITH .+)?"
)
# Digits and symbols written for letters: each letter of a term also matches these in the text.
LOOKALIKE_DIGITS = {"a": "4", "b": "8", "e": "3", "g": "69", "i": "1", "l": "1", "o": "0", "s": "5", "t": "7", "z": "2"}
LOOKALIKE_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}
SYMBOL_IN_WORD = re.compile(r"(?<=[^\W_])[@$!|€]+|[@$!|€]+(?=[^\W_])")  # n@z!, |o|i; not a lone | between words
WORD = re.compile(r"[^\W_]+")
LETTER = r"[^\W\d_]"
GLUE = re.compile(r"(?<=[^\W_])(?:[^\w\s]|_)+(?=[^\W_])")  # punctuation inside a word: p.orn, na-zi
SINGLE_RUN = re.compile(r"(?<!\S)\S(?!\S)(?: \S(?!\S))+")  # two or more one-character words: a p o r n
UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")  # Thai, kana, CJK


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


@cache
def _latin_by_name() -> dict[str, str]:
    """Letters whose Unicode name says which Latin letter they are (``ʀ`` LATIN LETTER SMALL CAPITAL R -> r)."""
    table = {}
    for code in range(0x80, 0x20000):
        found = LATIN_NAME.fullmatch(unicodedata.name(chr(code), ""))
        if found:
            table[chr(code)] = found.group(1).lower()
    return table


def _ascii_target(char: str, target: str) -> str | None:
    """What a look-alike reads as, if ASCII letters or digits: ``rn`` is an m; a right-to-left letter that looks
    like ``l`` stays itself, another ``l`` look-alike (the Cyrillic palochka) is ``1``, which terms read as i or l."""
    target = "".join(_latin_by_name().get(c, c) for c in target)
    if not (target.isascii() and target.isalnum()):
        return None
    if target == "rn":
        return "m"
    if target == "l":
        return None if unicodedata.bidirectional(char) in ("R", "AL") else "1"
    return target


@cache
def _lookalikes() -> dict[int, str]:
    """Every non-ASCII character that Unicode's confusables data (UTS #39, as the confusable-homoglyphs package
    ships it) or its own name says looks like ASCII letters or digits, to those."""
    data = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    table = {ord(char): latin for char, latin in _latin_by_name().items()}
    for char, homoglyphs in data.items():
        char = _visible(char)
        if len(char) != 1 or char.isascii():
            continue
        targets = (_ascii_target(char, _visible(homoglyph["c"])) for homoglyph in homoglyphs)
        target = next((t for t in targets if t), None)
        if target:
            table[ord(char)] = target
    return table


def _dropped(char: str) -> bool:
    category = unicodedata.category(char)
    return category in DROPPED_CATEGORIES or char in INVISIBLE or (category == "Cc" and not char.isspace())


def skeleton(text: str) -> str:
    """NFKC, accents and invisible characters dropped, look-alikes as the ASCII they look like, casefolded:
    what a reader sees, which is what the term list is matched against."""
    if text.isascii():  # most prompts: only control characters to drop
        return text.translate(ASCII_CONTROLS).casefold()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = unicodedata.normalize("NFKC", "".join(c for c in text if not _dropped(c)))
    table = _lookalikes()
    return text.translate(table).casefold().translate(table)  # again: a capital can fold to a look-alike


def words(text: str) -> list[str]:
    """The text's words, normalised: punctuation, spaces and underscores all separate words."""
    return WORD.findall(skeleton(text))


def readings(text: str) -> list[str]:
    """The ways the text is read for terms: as written, with punctuation inside words dropped (``p.orn``), with
    ``@$!|`` in a word as letters (``n@z!``), and both; each a string of words separated by single spaces."""
    plain = skeleton(text)
    symbols = SYMBOL_IN_WORD.sub(lambda found: "".join(LOOKALIKE_SYMBOLS[c] for c in found.group(0)), plain)
    texts = dict.fromkeys(glued for t in (plain, symbols) for glued in (t, GLUE.sub("", t)))
    return list(dict.fromkeys(" ".join(WORD.findall(t)) for t in texts))


def _spelled(text: str) -> str:
    """A regular expression for the normalised text, each letter also matching the digits written for it."""
    return "".join(f"[{c}{LOOKALIKE_DIGITS[c]}]" if c in LOOKALIKE_DIGITS else re.escape(c) for c in text)


def _with_plural(core: str) -> str:
    """The spelled text, its last word also as an English plural (``s``; ``es`` after s, x, z, ch, sh; ``ies``
    for a y after a consonant). Not for a word without vowels (``xxx``: XXXS is a size) or shorter than 3."""
    head, _, last = core.rpartition(" ")
    head += " " if head else ""
    if not (last.isascii() and last.isalpha() and len(last) >= 3 and re.search("[aeiouy]", last)):
        return _spelled(core)
    if last[-1] == "y" and last[-2] not in "aeiou":
        return _spelled(head + last[:-1]) + f"(?:ies|{_spelled('y')}s?)"
    return _spelled(head + last) + ("(?:es)?" if last.endswith(("s", "x", "z", "ch", "sh")) else "s?")


def _edge(char: str) -> str:
    """What may not stand next to a term's first or last character: a letter, or a digit next to a digit."""
    return r"\d" if char.isdigit() else LETTER


def _anywhere(term: str) -> bool:
    return term.startswith("*") or bool(UNSPACED.search(term))


def _term_pattern(term: str) -> str:
    """One term as a regular expression, less its start (``_start``): ``*porn*`` anywhere, ``porn*`` a word that
    starts so, else whole words (their plural too), a phrase also run together; Chinese anywhere."""
    core = term.strip("*")
    if _anywhere(term):
        return _spelled(core)
    spellings = dict.fromkeys(_with_plural(variant) for variant in (core, core.replace(" ", "")))
    ending = f"{LETTER}*" if term.endswith("*") else ""
    return f"(?:{'|'.join(spellings)}){ending}(?!{_edge('a' if ending else core[-1])})"


def _start(term: str) -> str:
    return "" if _anywhere(term) else f"(?<!{_edge(term[0])})"


@dataclass(frozen=True)
class Alternation:
    """Terms that start alike in one regular expression, a capturing group each (``lastindex`` says which),
    behind one shared lookbehind, so that the engine passes over most positions with a single test."""

    pattern: re.Pattern[str]
    terms: list[str]

    @classmethod
    def grouped(cls, terms: list[str], glued: bool = False) -> list[Alternation]:
        """By where a term may start; longest first, so that ``lolicon`` is tried before ``loli``. ``glued``:
        anywhere, spaces dropped, for a run of spaced-out letters."""
        groups: dict[str, list[str]] = {}
        for term in sorted(terms, key=lambda term: len(term.strip("*")), reverse=True):
            groups.setdefault("" if glued else _start(term), []).append(term)
        return [cls._compiled(start, group, glued) for start, group in groups.items()]

    @classmethod
    def _compiled(cls, start: str, terms: list[str], glued: bool) -> Alternation:
        """Bucketed by first character behind a lookahead each, and all behind one lookahead of those
        characters: at most positions one test fails, and at a word's start only its bucket is tried."""
        buckets: dict[str, list[str]] = {}
        for term in terms:
            buckets.setdefault(term.strip("*")[0], []).append(term)
        branches = []
        for char, bucket in buckets.items():
            bodies = (_spelled(t.strip("*").replace(" ", "")) if glued else _term_pattern(t) for t in bucket)
            branches.append(f"(?={_spelled(char)})(?:{'|'.join(f'({body})' for body in bodies)})")
        first = "".join(_spelled(char).strip("[]") for char in buckets)
        pattern = re.compile(f"{start}(?=[{first}])(?:{'|'.join(branches)})")
        return cls(pattern, [term for bucket in buckets.values() for term in bucket])

    def matches(self, text: str) -> Iterator[tuple[str, re.Match[str]]]:
        for found in self.pattern.finditer(text):
            yield self.terms[(found.lastindex or 1) - 1], found


def _all_digits_for_letters(term: str, matched: str) -> bool:
    """``1011`` is a number, not ``loli``: a term of letters needs at least one letter in the text."""
    return not any(c.isalpha() for c in matched) and any(c.isalpha() for c in term)


def _masked(alternations: list[Alternation], text: str) -> str:
    for alternation in alternations:
        text = alternation.pattern.sub("|", text)
    return text


@dataclass(frozen=True)
class Context:
    """Words that show a term is a pet's name or a number with an innocent meaning (``context.txt``)."""

    naming: list[list[str]] = field(default_factory=list)  # phrases right before a name: named, name is
    owners: frozenset[str] = frozenset()  # words before a pet word before a name: my, our
    linking: frozenset[str] = frozenset()  # words between a name and its pet: the, our, and
    pets: frozenset[str] = frozenset()
    streets: frozenset[str] = frozenset()  # words just after a house number
    numbering: frozenset[str] = frozenset()  # words right before a number: apt, in

    def is_pet(self, word: str) -> bool:
        return word in self.pets or word.removesuffix("s") in self.pets or word.removesuffix("es") in self.pets

    def names_it(self, before: list[str], after: list[str], names: set[str]) -> bool:
        """``a cat named Loli``, ``my dog Loli``, ``Loli the corgi``, ``Loli and Shota, two cockapoos``; not
        ``a corgi, loli`` (an owner's word must come before the pet: a prompt lists its subject and styles)."""
        if any(before[-len(phrase) :] == phrase for phrase in self.naming):
            return True
        if before and self.is_pet(before[-1]) and self.owners.intersection(before[-4:-1]):
            return True
        for i, word in enumerate(after[:4]):
            if self.is_pet(word):
                return i > 0  # "Loli the corgi"; not "loli cat girl", where it describes the pet
            if word not in self.linking and word not in names:
                return False
        return False

    def numbers_it(self, before: list[str], after: list[str]) -> bool:
        """``1488 Maple Street``, ``apt 1488``, ``in 1488``, ``555 1488``: an address, a year, a longer number."""
        if before and (before[-1] in self.numbering or before[-1].isdigit()):
            return True
        return bool(after) and (after[0].isdigit() or any(word in self.streets for word in after[:4]))


def parse_context(text: str) -> Context:
    """The context file's format: ``[section]`` lines, then one word or phrase a line, ``#`` comments."""
    sections: dict[str, list[list[str]]] = {}
    section = ""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif line and words(line):
            sections.setdefault(section, []).append(words(line))
    flat = {name: frozenset(" ".join(phrase) for phrase in phrases) for name, phrases in sections.items()}
    return Context(
        sections.get("naming", []),
        *(flat.get(name, frozenset()) for name in ("owners", "linking", "pets", "streets", "numbering")),
    )


@cache
def builtin_context() -> Context:
    return parse_context(CONTEXT_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TermMatch:
    term: str
    category: str


@dataclass
class TermList:
    """Blocked words and phrases by category, exception phrases (``!gore tex``) that mask them, and the terms
    that are also pets' names (``name: loli``), which pass where the words around them name a pet."""

    categories: dict[str, str] = field(default_factory=dict)  # normalised term (``porn*``) -> category
    exceptions: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    context: Context = field(default_factory=builtin_context)

    def __post_init__(self) -> None:
        self._terms = Alternation.grouped(list(self.categories))
        self._glued = Alternation.grouped(list(self.categories), glued=True)
        self._exceptions = Alternation.grouped(self.exceptions)
        self._glued_exceptions = Alternation.grouped(self.exceptions, glued=True)

    def __len__(self) -> int:
        return len(self.categories)

    def find(self, text: str) -> TermMatch | None:
        """The first term in any reading of the text that its context does not excuse."""
        if not self.categories:
            return None
        for reading in readings(text):
            reading = _masked(self._exceptions, reading)
            match = self._in_words(reading) or self._in_spaced_letters(reading)
            if match is not None:
                return match
        return None

    def _in_words(self, reading: str) -> TermMatch | None:
        for alternation in self._terms:
            for term, found in alternation.matches(reading):
                if _all_digits_for_letters(term, found.group(0)):
                    continue
                before, after = reading[: found.start()].split(), reading[found.end() :].split()
                if term in self.names and self.context.names_it(before, after, self.names):
                    continue
                if term.strip("*").replace(" ", "").isdigit() and self.context.numbers_it(before, after):
                    continue
                return TermMatch(found.group(0), self.categories[term])
        return None

    def _in_spaced_letters(self, reading: str) -> TermMatch | None:
        """``a p o r n dog``: a term anywhere in a run of one-character words, whatever stands around it."""
        for run in SINGLE_RUN.finditer(reading):
            letters = _masked(self._glued_exceptions, run.group(0).replace(" ", ""))
            for alternation in self._glued:
                for term, found in alternation.matches(letters):
                    if not _all_digits_for_letters(term, found.group(0)):
                        return TermMatch(found.group(0), self.categories[term])
        return None


def _normalised_term(raw: str, where: str) -> str:
    """A term as the matcher reads text: ``Neo-Nazi*`` -> ``neo nazi*``; a bad one is a CatalogError."""
    infix, prefix = raw.startswith("*"), raw.endswith("*")
    normalised = " ".join(words(raw.strip("*")))
    if not normalised:
        raise CatalogError(f"{where}: {raw!r} has no letters or digits")
    if (prefix or infix) and len(normalised.rsplit(" ", 1)[-1]) < MIN_PREFIX_LENGTH:
        raise CatalogError(f"{where}: {raw!r}: a wildcard needs at least {MIN_PREFIX_LENGTH} letters before the *")
    return ("*" if infix else "") + normalised + ("*" if prefix else "")


def parse_terms(text: str, source: str, default_category: str = SETTING_TERMS_CATEGORY) -> TermList:
    """The terms file format (see ``worker/safety/terms.txt``): ``[category]`` sections, ``!`` exceptions,
    ``name:`` for a term that is also a pet's name."""
    categories: dict[str, str] = {}
    exceptions: list[str] = []
    names: set[str] = set()
    category = default_category
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        where = f"{source}:{number}"
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip() or default_category
        elif line.startswith("!"):
            exceptions.append(_normalised_term(line[1:].strip(), where).strip("*"))
        else:
            name = line.casefold().startswith(NAME_MARK)
            term = _normalised_term(line[len(NAME_MARK) :].strip() if name else line, where)
            categories.setdefault(term, category)
            names |= {term} if name else set()
    return TermList(categories, exceptions, names)


def load_terms(settings: Settings) -> TermList:
    """The terms file (built-in unless ``BLOCKED_TERMS_FILE``), plus ``BLOCKED_TERMS``."""
    path = settings.blocked_terms_file or BUILTIN_TERMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"BLOCKED_TERMS_FILE {path} cannot be read: {exc}") from exc
    listed = parse_terms(text, str(path))
    extra = parse_terms("\n".join(settings.blocked_terms.split(",")), "BLOCKED_TERMS")
    return TermList({**extra.categories, **listed.categories}, listed.exceptions, listed.names | extra.names)
