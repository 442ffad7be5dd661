"""Throughput and memory of the pure core: the resolver alone, one core, shuffled arrival."""
from __future__ import annotations

import ctypes
import gc
import math
import random
import resource
import time

from bench.world import decode_world
from streams.pipeline import settle_gc, tune_gc
from streams.settings import Settings
from unify.resolver import Resolver
from unify.synthetic import WorldSpec

# contact records per person in the generated world (measured: 907,209 for 512,820 people)
RECORDS_PER_PERSON = 1.77


def _rss_bytes() -> int:
    """Resident memory, after handing freed heap back to the system (else the resolver's
    allocations reuse memory the decoding freed, and the difference shows nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_core(settings: Settings, sizes: list[int], seed: int = 7, log=print) -> dict:
    engine, batch = settings.engine, settings.stream.batch_size
    results = {}
    # `tune_gc` is undone at the end: the suites after this one run in this process, and with
    # its threshold their Kafka clients, left in cycles, would live on and reconnect for ever
    threshold = gc.get_threshold()
    decode_world(settings, WorldSpec(people=100, seed=seed + 1))  # loads lazy tables (phone metadata) first
    for target in sizes:
        before = _rss_bytes()
        world = decode_world(settings, WorldSpec(people=max(1, int(target / RECORDS_PER_PERSON)), seed=seed))
        changes = list(world.changes)
        random.Random(seed).shuffle(changes)  # arrival order is not the generator's
        tune_gc()  # as the worker runs it
        resolver = Resolver(engine.match, engine.survivorship, engine.attributes)
        started = time.perf_counter()
        # the last tenth, from a batch boundary, so that it pays only its own batches' drains
        tail_start = math.ceil(len(changes) * 0.9 / batch) * batch
        tail_start = tail_start if tail_start < len(changes) else 0
        for i, change in enumerate(changes):
            if i == tail_start:
                tail_at = time.perf_counter()
            resolver.apply(change)
            if i % batch == batch - 1:  # drained in the worker's batches
                resolver.drain()
                settle_gc()  # as the worker does after each batch
        resolver.drain()
        ended = time.perf_counter()
        # the resolver keeps the records' values, which the decoded changes hold until here:
        # what is left once they are gone is the resolver's, with the heap the changes left
        # fragmented (an upper bound)
        count, decode_per_s = len(changes), round(world.events / world.decode_seconds)
        del changes, world
        gc.collect()
        after = _rss_bytes()
        records = len(resolver)
        results[str(target)] = {
            "records": records,
            "changes": count,
            "records_per_s": round(count / (ended - started)),
            "records_per_s_last_10pct": round((count - tail_start) / (ended - tail_at)),
            "decode_per_s": decode_per_s,
            "bytes_per_record": round((after - before) / max(records, 1)),
            "seconds": round(ended - started, 1),
        }
        r = results[str(target)]
        log(f"core {records:>9,} records: {r['records_per_s']:,} changes/s overall, "
            f"{r['records_per_s_last_10pct']:,}/s at the end, {r['bytes_per_record']:,} B/record"
            f" (decode+normalize {r['decode_per_s']:,}/s)")
        del resolver
        gc.unfreeze()  # else this resolver, frozen by `tune_gc`, is never freed
        gc.collect()
    gc.set_threshold(*threshold)
    return results
