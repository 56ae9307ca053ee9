"""Where the images go. Keys are predictable (``<design_id>/design-<i>.png``), so a re-run overwrites."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from worker.errors import ErrorCode, WorkerError


@dataclass(frozen=True)
class Artifact:
    key: str
    data: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredArtifact:
    key: str
    url: str


def design_key(design_id: str, index: int) -> str:
    return f"{design_id}/design-{index}.png"


def mockup_key(design_id: str, product: str, index: int, ext: str) -> str:
    return f"{design_id}/mockups/{product}-{index}.{ext}"


class Storage(Protocol):
    def put_all(self, artifacts: list[Artifact]) -> list[StoredArtifact]:
        """Store every artifact (in parallel) and return them in the same order."""
        ...


class LocalStorage:
    """Files under ``OUTPUT_DIR`` with ``file://`` URLs: the default when no bucket is configured."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _write(self, artifact: Artifact) -> StoredArtifact:
        path = self.root / artifact.key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and a re-run replaces the old one whole.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            tmp.write(artifact.data)
        os.replace(tmp.name, path)
        return StoredArtifact(key=artifact.key, url=path.as_uri())

    def put_all(self, artifacts: list[Artifact]) -> list[StoredArtifact]:
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(artifacts)))) as pool:
                return list(pool.map(self._write, artifacts))
        except OSError as exc:
            raise WorkerError(
                ErrorCode.STORAGE_UNAVAILABLE, f"could not write to OUTPUT_DIR ({exc.strerror})"
            ) from None
