"""End-to-end figures against a real broker: transport ceiling, live throughput, freshness
under a steady load, worker memory, and view latency."""
from __future__ import annotations

import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from confluent_kafka import Consumer, TopicPartition

from sinks.compaction import compact
from sinks.delta import read_checkpoints
from sinks.warehouse import connect
from streams.broker import EmbeddedBroker
from streams.demo import publish_world
from streams.settings import Settings, load
from streams.status import end_offsets
from streams.worker import prepare_topics
from streams.topics import producer
from unify.synthetic import WorldSpec, generate


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM")).split()[1]) * 1024


def _tree(pid: int) -> list[int]:
    """A process and its descendants."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    pids += _tree(int(child))
    return pids


def _record_peaks(pid: int, peaks: dict[int, int]) -> None:
    """The peak resident memory of a process and of each child it has now, by pid (a child's
    last reading stays after it ends)."""
    for p in _tree(pid):
        with contextlib.suppress(OSError, StopIteration):
            peaks[p] = _peak_rss(p)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 3), "p95": round(q[94], 3), "p99": round(q[98], 3), "n": len(values)}


def _settings(base: Settings, workdir: Path, bootstrap: str) -> tuple[Settings, Path]:
    """The config on a lake of its own, with an app id of its own, on topics of 2 partitions
    (so that two workers can share them)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = base.with_overrides(bootstrap=bootstrap, lake=workdir / "lake", partitions=2).dump()
    data["stream"]["app_id"] = f"bench-{workdir.name}"
    config = workdir / "unify.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return load(config), config


class Worker:
    """`unify run` in a subprocess, stopped by its PID."""

    def __init__(self, config: Path, log: Path):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "run", "-c", str(config)],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def peak_rss(self) -> int:
        """The peak resident memory of the worker and its processes now, summed."""
        return sum(_peak_rss(pid) for pid in _tree(self.proc.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _committed(settings: Settings) -> int:
    """Source events in the lake (the relay's own offsets left out)."""
    return sum(offset for (topic, _), (offset, _, _) in read_checkpoints(settings.current_lake).items()
               if topic in settings.input_topics)


def transport_ceiling(bootstrap: str, topics: list[str], total: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ceiling",
                         "enable.auto.commit": False, "fetch.queue.backoff.ms": 100})  # as `read_range`
    meta = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(t, p, 0) for t in topics for p in meta.topics[t].partitions])
    seen, first, started, last, deadline = 0, 0, None, None, time.monotonic() + 300
    while seen < total and time.monotonic() < deadline:
        got = sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
        if got:
            if started is None:  # timed from the first batch, not from connection set-up
                started, first = time.perf_counter(), got
            seen, last = seen + got, time.perf_counter()
    consumer.close()
    return (seen - first) / (last - started) if last and last > started else float("nan")


def live_throughput(settings: Settings, config: Path, workdir: Path, total: int, workers: int = 1) -> dict:
    """The topics' `total` events through `workers` workers (one consumer group) into an
    empty lake; peak memory is the workers' and their pipeline processes', summed."""
    running = [Worker(config, workdir / f"worker{n or ''}.log") for n in range(workers)]
    started = time.perf_counter()
    first = None
    try:
        while True:
            done = _committed(settings)
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
            if done >= total:
                break
            if any(w.proc.poll() is not None for w in running) or now - started > 3600:
                raise RuntimeError(f"a worker stopped or timed out; see {workdir}/worker*.log")
            time.sleep(0.2)
        peak = sum(w.peak_rss() for w in running)
    finally:
        for w in running:
            w.stop()
    ended = time.perf_counter()
    steady = (total - first[1]) / (ended - first[0]) if ended > first[0] else None
    return {"workers": workers, "events": total, "seconds_end_to_end": round(ended - started, 1),
            "events_per_s_end_to_end": round(total / (ended - started)),
            "events_per_s_steady": round(steady) if steady else None, "peak_rss_bytes": peak}


def _update(before: dict, after: dict, n: int = 0) -> bytes:
    """A contact update later than anything the generated worlds hold (the `n`th of a run)."""
    return json.dumps({"op": "u", "before": before, "after": after,
                       "source": {"ts_ms": 2_000_000_000_000 + n, "lsn": 10**12 + n}}).encode()


def freshness(settings: Settings, config: Path, workdir: Path, spec: WorldSpec, rate: int,
              seconds: float = 20.0) -> dict:
    """Produce contact updates at `rate` events/s, all to partition 0; each event's latency is
    the time until a DuckDB query over the views shows its offset committed."""
    source = settings.engine.source("crm_contacts")
    rows = [env["after"] for name, env in generate(WorldSpec(people=min(spec.people, 3000), seed=spec.seed))
            if name == "crm_contacts" and env["after"]]
    prod = producer(settings.broker)
    sent: dict[int, float] = {}
    worker = Worker(config, workdir / f"worker-{rate}.log")
    latencies: list[float] = []
    try:
        before = _committed(settings)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the worker is up once it commits a probe
            prod.produce(source.topic, _update(rows[0], rows[0]), partition=0)
            prod.flush(5)
            if _committed(settings) > before:
                break
            time.sleep(0.5)
        base = end_offsets(settings.broker, [source.topic])[(source.topic, 0)]
        stop = threading.Event()

        def emit():
            n, t0 = 0, time.perf_counter()
            while not stop.is_set() and time.perf_counter() - t0 < seconds:
                row = rows[n % len(rows)]
                prod.produce(source.topic, _update(row, {**row, "city": f"probe {n}"}, n), partition=0)
                sent[base + n] = time.perf_counter()
                n += 1
                prod.poll(0)
                pause = t0 + n / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            prod.flush(30)

        emitter = threading.Thread(target=emit)
        emitter.start()
        seen: set[int] = set()
        con_deadline = time.monotonic() + seconds + 120
        # one connection, as a dashboard keeps (each query still reads the latest commit);
        # opening one per poll took a third of a core from the worker on this 2-core machine
        con = connect(settings.warehouse, read_only=True)
        try:
            while time.monotonic() < con_deadline:
                committed = con.execute(
                    'SELECT next_offset FROM ingest_checkpoints WHERE topic = ? AND "partition" = 0',
                    [source.topic]).fetchone()
                now = time.perf_counter()
                if committed:
                    visible = [o for o in list(sent) if o < committed[0] and o not in seen]
                    latencies += [now - sent[o] for o in visible]
                    seen.update(visible)
                if not emitter.is_alive() and len(seen) >= len(sent):
                    break
                time.sleep(0.1)
        finally:
            con.close()
        stop.set()
        emitter.join()
    finally:
        worker.stop()
        prod.close()  # else it outlives the broker, reconnecting and logging, until collected
    return {"offered_events_per_s": rate, "produced": len(sent), **_percentiles(latencies)}


def query_latency(config: Path, runs: int = 50) -> dict:
    """The views' latency as a reader sees it: a fresh process on the warehouse file (this
    one has just generated worlds and compacted the lake, which slows DuckDB down); `runs`
    of each aggregation."""
    out = subprocess.run([sys.executable, "-m", "bench.queries", str(config), str(runs)], check=True,
                         capture_output=True, cwd=Path(__file__).resolve().parents[1]).stdout
    return json.loads(out)


def run_pipeline(base: Settings, people: int, rates: list[int], workdir: Path, log=print) -> dict:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    spec = WorldSpec(people=people, seed=7)
    with EmbeddedBroker() as broker:
        settings, config = _settings(base, workdir, broker.bootstrap)
        prepare_topics(settings, broker.bootstrap)
        total = sum(publish_world(settings, broker.bootstrap, spec).values())
        ceiling = transport_ceiling(broker.bootstrap, [s.topic for s in settings.engine.sources], total)
        log(f"pipeline {people:,} people: {total:,} events; transport ceiling {ceiling:,.0f} events/s")
        live = live_throughput(settings, config, workdir, total)
        live["ratio_to_ceiling"] = round(live["events_per_s_steady"] / ceiling, 4) if live["events_per_s_steady"] else None
        con = connect(settings.warehouse, read_only=True)
        try:
            source_records = con.execute("SELECT count(*) FROM customer_links").fetchone()[0]
            records = con.execute("SELECT count(*) FROM dim_customer").fetchone()[0]
        finally:
            con.close()
        live["bytes_per_source_record"] = round(live["peak_rss_bytes"] / max(source_records, 1))
        log(f"  live: {live['events_per_s_steady']:,} events/s steady ({live['ratio_to_ceiling']:.1%} of the ceiling), "
            f"{live['events_per_s_end_to_end']:,}/s end to end, peak RSS {live['peak_rss_bytes'] / 2**20:,.0f} MiB "
            f"({live['bytes_per_source_record']:,} B per source record)")
        two_settings, two_config = _settings(base, workdir / "two-workers", broker.bootstrap)
        two = live_throughput(two_settings, two_config, workdir / "two-workers", total, workers=2)
        two["ratio_to_one_worker"] = round(two["events_per_s_steady"] / live["events_per_s_steady"], 3)
        log(f"  live, two workers: {two['events_per_s_steady']:,} events/s steady "
            f"({two['ratio_to_one_worker']:.2f} x one worker), peak RSS {two['peak_rss_bytes'] / 2**20:,.0f} MiB")
        fresh = {}
        for rate in rates:
            fresh[str(rate)] = freshness(settings, config, workdir, spec, rate)
            f = fresh[str(rate)]
            log(f"  freshness at {rate:,} events/s: p50 {f.get('p50')} s, p95 {f.get('p95')} s, p99 {f.get('p99')} s")
        queries = query_latency(config)
        log("  queries, live lake: " + ", ".join(f"{k} p99 {v['p99']} ms" for k, v in queries.items() if isinstance(v, dict)))
        rebuilt, compacted = rebuild_and_query(settings, config, workdir, log)
    return {"people": people, "events": total, "transport_ceiling_events_per_s": round(ceiling),
            "live": live, "live_two_workers": two, "freshness": fresh, "queries": queries, "rebuild": rebuilt,
            "queries_compacted": compacted, "source_records": source_records, "customers": records}


def rebuild_and_query(settings: Settings, config: Path, workdir: Path, log=print) -> tuple[dict, dict]:
    """`unify rebuild` in a subprocess (for its own peak memory), then the views' latency on
    the rebuilt, compacted lake."""
    with open(workdir / "rebuild.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "rebuild", "-c", str(config)],
                                stdout=subprocess.PIPE, stderr=err)
        peaks: dict[int, int] = {}

        def watch():
            while proc.poll() is None:
                with contextlib.suppress(OSError):
                    _record_peaks(proc.pid, peaks)
                time.sleep(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        out, _ = proc.communicate()
        watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"unify rebuild failed; see {workdir / 'rebuild.log'}")
    rebuilt = json.loads(out)
    rebuilt.pop("id_changes")
    peak = sum(peaks.values())  # of the rebuild and its order process
    rebuilt["peak_rss_bytes"] = peak
    rebuilt["bytes_per_source_record"] = round(peak / max(rebuilt["source_records"], 1))
    log(f"  rebuild: {rebuilt['events']:,} events in {rebuilt['seconds']} s ({rebuilt['events_per_second']:,}/s), "
        f"peak RSS {peak / 2**20:,.0f} MiB ({rebuilt['bytes_per_source_record']:,} B per source record)")
    restored = restored_worker(settings, config, workdir, rebuilt["source_records"])
    rebuilt["restored_worker"] = restored
    log(f"  a worker on the rebuilt lake: ready after {restored['seconds_to_ready']} s, peak RSS "
        f"{restored['peak_rss_bytes'] / 2**20:,.0f} MiB ({restored['bytes_per_source_record']:,} B per source record)")
    compact(settings.lake, vacuum=True, retention_hours=0)
    compacted = query_latency(config)
    log("  queries, rebuilt and compacted: " + ", ".join(
        f"{k} p99 {v['p99']} ms" for k, v in compacted.items() if isinstance(v, dict)))
    return rebuilt, compacted


def restored_worker(settings: Settings, config: Path, workdir: Path, source_records: int) -> dict:
    """A worker started on a lake that holds every customer: the time until it has
    restored the state and committed a first new event, and its peak memory then, which
    holds the whole state (the peaks of all its processes, summed)."""
    source = settings.engine.source("crm_contacts")
    row = next(env["after"] for name, env in generate(WorldSpec(people=10, seed=7)) if name == "crm_contacts")
    prod = producer(settings.broker)
    before = _committed(settings)
    prod.produce(source.topic, _update(row, row), partition=0)
    prod.flush(30)
    prod.close()
    worker = Worker(config, workdir / "worker-restored.log")
    started = time.perf_counter()
    peaks: dict[int, int] = {}  # of the worker and each process it starts (the restore's churn training too)
    try:
        while _committed(settings) <= before:
            if worker.proc.poll() is not None or time.perf_counter() - started > 3600:
                raise RuntimeError(f"the worker stopped or timed out; see {workdir}/worker-restored.log")
            _record_peaks(worker.proc.pid, peaks)
            time.sleep(0.2)
        ready = time.perf_counter() - started
        _record_peaks(worker.proc.pid, peaks)
        peak = sum(peaks.values())
    finally:
        worker.stop()
    return {"seconds_to_ready": round(ready, 1), "peak_rss_bytes": peak,
            "bytes_per_source_record": round(peak / max(source_records, 1))}


def run_rebuild(base: Settings, people: int, workdir: Path, log=print) -> dict:
    """A world published, then rebuilt from the topics into an empty lake (no live run)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    with EmbeddedBroker() as broker:
        settings, config = _settings(base, workdir, broker.bootstrap)
        prepare_topics(settings, broker.bootstrap)
        total = sum(publish_world(settings, broker.bootstrap, WorldSpec(people=people, seed=7)).values())
        log(f"rebuild {people:,} people: {total:,} events")
        rebuilt, compacted = rebuild_and_query(settings, config, workdir, log)
    return {"people": people, "events": total, "rebuild": rebuilt, "queries_compacted": compacted,
            "customers": compacted["customers"]}
