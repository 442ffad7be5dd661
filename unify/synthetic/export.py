"""The package's only I/O: dump a world as JSON Lines files."""

from __future__ import annotations

import json
from pathlib import Path

from .spec import WorldSpec
from .world import SOURCES, generate, truth


def write_jsonl(out_dir: Path, spec: WorldSpec) -> dict[str, int]:
    """Write `<source>.jsonl` (one envelope per line) and `truth.jsonl`; return line counts per file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {f"{name}.jsonl": 0 for name in SOURCES}
    files = {name: open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") for name in SOURCES}
    try:
        for source, envelope in generate(spec):
            files[source].write(json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n")
            counts[f"{source}.jsonl"] += 1
    finally:
        for f in files.values():
            f.close()
    counts["truth.jsonl"] = 0
    with open(out_dir / "truth.jsonl", "w", encoding="utf-8") as f:
        for row in truth(spec):
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            counts["truth.jsonl"] += 1
    return counts
