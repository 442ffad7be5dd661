"""Versions of the dimension inside a lake folder, and the one-step switch between them.

The first version's tables sit in the lake folder itself. `unify rebuild` writes each new
version to `versions/<n>` and switches to it by replacing the `CURRENT` file (an atomic
rename) once the warehouse's views read it. A reader holding a version's path keeps reading
that version; everything else asks `current` each time it opens the lake.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

POINTER = "CURRENT"
VERSIONS = "versions"


def current(root: Path) -> Path:
    """The folder of the current version's tables."""
    pointer = Path(root) / POINTER
    return (Path(root) / pointer.read_text().strip()).resolve() if pointer.exists() else Path(root)


def next_version(root: Path) -> Path:
    """A new, empty folder for the next version."""
    folder = Path(root) / VERSIONS
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in folder.iterdir() if p.name.isdigit()]
    path = folder / str(max(taken, default=1) + 1)
    path.mkdir()
    return path


def switch(root: Path, version: Path) -> None:
    """Make `version` current, in one step."""
    staged = Path(root) / f".{POINTER}.new"
    staged.write_text(str(Path(version).resolve().relative_to(Path(root).resolve())) + "\n")
    os.replace(staged, Path(root) / POINTER)


def superseded(root: Path) -> list[Path]:
    """Table folders of the versions before the current one (to delete when vacuuming); a
    newer one is a rebuild in progress."""
    root, live = Path(root), current(root)
    if live.resolve() == root.resolve():
        return []
    number = int(live.name)
    old = [p for p in (root / VERSIONS).glob("*") if p.name.isdigit() and int(p.name) < number]
    old += [p for p in root.iterdir() if (p / "_delta_log").exists()]  # the first version's
    return sorted(old)


def remove_superseded(root: Path) -> list[Path]:
    removed = superseded(root)
    for path in removed:
        shutil.rmtree(path)
    return removed
