"""Versions of the dimension inside a lake folder, and the one-step switch between them.

The first version's tables sit in the lake folder itself. `unify rebuild` writes each new
version to `versions/<n>` and switches to it by replacing the `CURRENT` file (one step: a
rename, or one PUT on an object store) once the warehouse's views read it. A reader holding a version's path keeps reading
that version; everything else asks `current` each time it opens the lake.
"""
from __future__ import annotations

from pathlib import Path

from sinks.lake import is_remote, location, remove_tree, replace_text

POINTER = "CURRENT"
VERSIONS = "versions"


def current(root: Path) -> Path:
    """The folder of the current version's tables."""
    root = location(root)
    pointer = root / POINTER
    return root.joinpath(*pointer.read_text().strip().split("/")) if pointer.exists() else root


def next_version(root: Path) -> Path:
    """A new, empty folder for the next version."""
    folder = location(root) / VERSIONS
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.exists() else []
    path = folder / str(max(taken, default=1) + 1)
    path.mkdir(exist_ok=is_remote(path))  # an object store has no empty folders
    return path


def switch(root: Path, version: Path) -> None:
    """Make `version` (a folder `next_version` gave) current, in one step."""
    replace_text(location(root) / POINTER, f"{VERSIONS}/{version.name}\n")


def superseded(root: Path) -> list[Path]:
    """Table folders of the versions before the current one (to delete when vacuuming); a
    newer one is a rebuild in progress."""
    root = location(root)
    live = current(root)
    if str(live) == str(root):
        return []
    number = int(live.name)
    old = [p for p in (root / VERSIONS).iterdir() if p.name.isdigit() and int(p.name) < number]
    old += [p for p in root.iterdir() if (p / "_delta_log").exists()]  # the first version's
    return sorted(old, key=str)


def remove_superseded(root: Path) -> list[Path]:
    removed = superseded(root)
    for path in removed:
        remove_tree(path)
    return removed
