"""The files of a CDM folder: data files under fresh names, model.json swapped in by rename.

A reader opens model.json and follows its partition locations, so every export writes its
data files under names of its own first, then replaces model.json in one rename: a reader
sees the old folder or the new one, never a half-written model. Files only the old model
pointed at are removed afterwards.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

MODEL_FILE = "model.json"


def partition_uri(path: Path) -> str:
    return path.resolve().as_uri()


def _partition_path(location: str) -> Path | None:
    uri = urlparse(location)
    return Path(url2pathname(unquote(uri.path))) if uri.scheme == "file" else None


def partition_files(out_dir: Path) -> set[Path]:
    """Local data files the folder's current model.json points at (none if it has no model)."""
    try:
        document = json.loads((out_dir / MODEL_FILE).read_text(encoding="utf-8"))
        locations = [p.get("location", "") for e in document.get("entities", [])
                     for p in e.get("partitions", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return set()
    return {path for path in map(_partition_path, locations) if path is not None}


def replace_model(out_dir: Path, document: dict) -> Path:
    target = out_dir / MODEL_FILE
    staging = out_dir / f".{MODEL_FILE}.{os.getpid()}.tmp"
    try:
        with open(staging, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    _sync_directory(out_dir)
    return target


def _sync_directory(path: Path) -> None:
    """Make the rename durable: without this a crash can bring back the old directory entry."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale(out_dir: Path, keep: set[Path], previous: set[Path], entity_dirs: set[Path]) -> None:
    """Delete the previous export's data files, and CSVs a failed export left in entity folders.

    Only files inside `out_dir` are touched, whatever an old model.json pointed at.
    """
    root = out_dir.resolve()
    leftovers = {p for d in entity_dirs for p in d.glob("*.csv")}
    keep = {p.resolve() for p in keep}
    for path in {p.resolve() for p in previous | leftovers} - keep:
        if path.is_relative_to(root) and path != root:
            path.unlink(missing_ok=True)
            if path.parent != root and path.parent.is_dir() and not any(path.parent.iterdir()):
                path.parent.rmdir()
