"""What-if for rule changes: compare two partitions of the same records.

>>> d = diff_partitions({"a": "C1", "b": "C2", "c": "C2"}, {"a": 1, "b": 1, "c": 2})
>>> d.merges, d.splits
([(1, ('C1', 'C2'))], [('C2', (('b',), ('c',)))])
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Mapping


@dataclass(frozen=True)
class PartitionDiff:
    """`merges`: new clusters joining records of several current customers;
    `splits`: current customers whose records would fall into several new clusters."""

    merges: list[tuple[Hashable, tuple[str, ...]]]
    splits: list[tuple[str, tuple[tuple[Hashable, ...], ...]]]
    unchanged: int


def diff_partitions(current: Mapping[Hashable, str], proposed: Mapping[Hashable, Hashable]) -> PartitionDiff:
    old_of_new: dict[Hashable, set[str]] = defaultdict(set)
    new_of_old: dict[str, dict[Hashable, list]] = defaultdict(lambda: defaultdict(list))
    for rid, cid in current.items():
        if rid in proposed:
            old_of_new[proposed[rid]].add(cid)
            new_of_old[cid][proposed[rid]].append(rid)
    merges = sorted((new, tuple(sorted(olds))) for new, olds in old_of_new.items() if len(olds) > 1)
    splits = sorted((cid, tuple(tuple(sorted(rids)) for _, rids in sorted(parts.items(), key=lambda p: sorted(p[1]))))
                    for cid, parts in new_of_old.items() if len(parts) > 1)
    unchanged = sum(1 for cid, parts in new_of_old.items() if len(parts) == 1
                    and len(old_of_new[next(iter(parts))]) == 1)
    return PartitionDiff(merges, splits, unchanged)
