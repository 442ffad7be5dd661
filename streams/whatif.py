"""`unify resolve --diff-against LAKE`: what new rules would do to the records in a lake.

Reads the lake, runs the config's rules over its current source records, and reports the
merges and splits they would cause, with examples. Nothing is written.
"""
from __future__ import annotations

from pathlib import Path

from sinks import versions
from sinks.restore import read_state
from streams.settings import ConfigError, Settings
from unify.cdm import Change
from unify.resolver import Resolver
from unify.whatif import diff_partitions


def _ref(rid) -> str:
    return f"{rid[0]}/{rid[1]}"


def diff_against(settings: Settings, lake: Path | str, examples: int = 5) -> dict:
    engine = settings.engine
    overrides, links = read_state(versions.current(lake), engine.attributes)
    live = [l for l in links if not l.deleted]
    if not live:
        raise ConfigError(f"--diff-against {lake}: no customer dimension in that lake")
    resolver = Resolver(engine.match, engine.survivorship, engine.attributes)
    for o in overrides:
        resolver.override(o.left, o.right, o.kind, o.at_ms)
    for l in live:
        resolver.apply(Change(l.source, l.source_key, "upsert", l.position, l.event_ms, l.attributes))
    current = {(l.source, l.source_key): l.customer_id for l in live}
    proposed = {rid: resolver.ids.customer_of[rid] for rid in current}
    diff = diff_partitions(current, proposed)
    merge_examples = []
    for new_id, old_ids in diff.merges[:examples]:
        members = sorted(resolver.ids.members[new_id])
        bridge = next(((a, b) for a in members for b in resolver.graph.neighbours(a)
                       if current[a] != current[b]), None)
        why = resolver.explain(*bridge) if bridge else None
        merge_examples.append({
            "customers": list(old_ids), "records": [_ref(r) for r in members],
            "because": None if why is None else {
                "left": _ref(why.left), "right": _ref(why.right), "rule": why.rule,
                "conditions": [{"attribute": c.attribute, "left": c.left, "right": c.right,
                                "score": c.score, "threshold": c.threshold} for c in why.conditions]},
        })
    split_examples = [{"customer": cid, "parts": [[_ref(r) for r in part] for part in parts]}
                      for cid, parts in diff.splits[:examples]]
    return {
        "lake": str(lake), "records": len(live),
        "current_customers": len(set(current.values())),
        "proposed_customers": len(set(proposed.values())),
        "merges": len(diff.merges), "splits": len(diff.splits),
        "unchanged_customers": diff.unchanged,
        "merge_examples": merge_examples, "split_examples": split_examples,
    }
