"""Catalogs as data: a folder of entries, each validated and loaded once at cold start.

Styles (``worker/style/presets/*.toml``) and product templates (``mockups/<product>/template.json``) have the
same life: built-in entries plus an optional user folder that adds to and overrides them, every entry
checked before the worker takes a job. A bad entry is a ``CatalogError`` naming its file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Entry = TypeVar("Entry")


class CatalogError(ValueError):
    """A catalog entry that cannot be used; raised at cold start so the fitness check fails."""


def load_catalog(
    folders: tuple[Path | None, ...],
    pattern: str,
    load_entry: Callable[[Path], Entry],
    name_of: Callable[[Path], str],
    what: str,
) -> dict[str, Entry]:
    """Every file matching ``pattern`` in each folder, in order; a later folder's entry replaces an earlier one.

    ``load_entry`` raises ``CatalogError`` (or ``ValueError``) for an unusable entry.
    """
    entries: dict[str, Entry] = {}
    for folder in folders:
        if folder is None:
            continue
        if not folder.is_dir():
            raise CatalogError(f"{what} folder {folder} does not exist")
        for path in sorted(folder.glob(pattern)):
            try:
                entries[name_of(path)] = load_entry(path)
            except ValueError as exc:
                raise CatalogError(f"{what} {path}: {exc}") from exc
    return entries
