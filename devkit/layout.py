"""The map of the worker package, read from the tree: every package and module with the first sentence of
its docstring, in the order a job meets them.

    python -m devkit.layout            # worker/
    python -m devkit.layout mockups    # any other folder of the repository
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The job's stages in order; other packages follow alphabetically.
ORDER = ("runtime", "outbound", "generation", "style", "safety", "mockups", "delivery")


def summary(path: Path) -> str:
    """The first sentence of a module's docstring, on one line."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(docstring.split("\n\n", 1)[0].split())
    sentence, dot, _ = paragraph.partition(". ")
    return sentence + ("." if dot and not sentence.endswith(".") else "")


def modules(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")
    packages = [p for p in folder.iterdir() if (p / "__init__.py").is_file()]
    packages.sort(key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    return files + packages


def layout(folder: Path, depth: int = 0) -> list[str]:
    lines = []
    for path in modules(folder):
        name = f"{path.name}/" if path.is_dir() else path.name
        described = summary(path / "__init__.py" if path.is_dir() else path)
        lines.append(f"{'  ' * depth}{name:<{28 - 2 * depth}} {described}".rstrip())
        if path.is_dir():
            lines += layout(path, depth + 1)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default="worker", help="a folder of the repository (default: worker)")
    folder = ROOT / parser.parse_args(argv).folder
    print(f"{folder.name}/")
    print("\n".join(layout(folder, 1)))


if __name__ == "__main__":
    main()
