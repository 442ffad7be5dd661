"""Matching accuracy on generated worlds at three noise levels, against the hidden truth."""
from __future__ import annotations

import time

from bench.world import decode_world
from streams.settings import Settings
from unify.accuracy import bcubed, pairwise
from unify.resolver import Resolver
from unify.synthetic import WorldSpec

NOISE_LEVELS = ("clean", "realistic", "hard")


def run_accuracy(settings: Settings, people: int, seed: int = 7, log=print) -> dict:
    engine = settings.engine
    results = {}
    for noise in NOISE_LEVELS:
        world = decode_world(settings, WorldSpec(people=people, seed=seed, noise=noise))
        resolver = Resolver(engine.match, engine.survivorship, engine.attributes)
        started = time.perf_counter()
        for change in world.changes:
            resolver.apply(change)
        seconds = time.perf_counter() - started
        predicted = {rid: cid for rid, cid in resolver.ids.customer_of.items()
                     if rid in resolver.graph.records}
        pw, b3 = pairwise(predicted, world.truth), bcubed(predicted, world.truth)
        results[noise] = {
            "people": people, "records": len(predicted), "customers": len(resolver.partition()),
            "true_people": len(set(world.truth.values())),
            "pairwise": {"precision": pw.precision, "recall": pw.recall, "f1": pw.f1},
            "bcubed": {"precision": b3.precision, "recall": b3.recall, "f1": b3.f1},
            "resolve_seconds": round(seconds, 2),
        }
        log(f"accuracy {noise:>9}: pairwise P {pw.precision:.4f} R {pw.recall:.4f} F1 {pw.f1:.4f}"
            f" | B-cubed P {b3.precision:.4f} R {b3.recall:.4f} F1 {b3.f1:.4f}")
    return results
