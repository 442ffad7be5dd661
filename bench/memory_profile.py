"""Where a restored worker's memory goes, by allocating line (tracemalloc).

    .venv/bin/python bench/memory_profile.py bench/work/100000/unify.yaml [--out bench/profiles/memory.txt]

Give the config of a lake that holds customers (`make bench` leaves one per world under
`bench/work/`). The worker's pipeline restores from it as a worker does at start: the
resolver from the links, then the ledger and the churn model from the orders. Reported, per
source record: what the resolver holds after the links, and what restoring the activity
added. tracemalloc counts Python objects only (not the allocator's slack, not RocksDB's
memory) and slows the restore several times over.
"""
from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

import sinks.restore
import streams.pipeline as pipeline
from streams.settings import load


def _lines(stats, records: int, top: int) -> list[str]:
    return [f"{s.size_diff / records:8.0f} B/rec {s.count_diff:10,d} blocks  "
            f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}" for s in stats[:top]]


def profile(config: Path, top: int = 25) -> str:
    snapshots = {}
    restore_resolver = sinks.restore.restore_resolver
    restore_activity = pipeline.Pipeline._restore_activity

    def after_links(resolver, lake, attributes):
        restore_resolver(resolver, lake, attributes)
        snapshots["links"] = tracemalloc.take_snapshot()

    def after_activity(self, orders):
        restore_activity(self, orders)
        snapshots["activity"] = tracemalloc.take_snapshot()

    pipeline.restore_resolver, pipeline.Pipeline._restore_activity = after_links, after_activity
    tracemalloc.start(1)
    try:
        snapshots["start"] = tracemalloc.take_snapshot()
        records = len(pipeline.Pipeline(load(config)).resolver.graph.records)
    finally:
        tracemalloc.stop()
        pipeline.restore_resolver, pipeline.Pipeline._restore_activity = restore_resolver, restore_activity
    out = []
    for title, before, after in (("the resolver, after the links", "start", "links"),
                                 ("added by the ledger and the churn model", "links", "activity")):
        stats = snapshots[after].compare_to(snapshots[before], "lineno")
        total = sum(s.size_diff for s in stats)
        out += [f"# {title}: {total / records:,.0f} B per source record over {records:,} records",
                *_lines(stats, records, top), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench/profiles/memory.txt"))
    args = parser.parse_args()
    text = profile(args.config)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
