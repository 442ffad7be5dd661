"""`unify demo`: the whole product on a synthetic world, with a summary a newcomer can read."""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sinks.compaction import compact
from sinks.warehouse import connect
from streams.broker import BrokerError, EmbeddedBroker
from streams.settings import Settings, load
from streams.status import wait_until_caught_up
from streams.worker import prepare_topics
from streams.topics import ensure_topics, produce_all, producer, row_key
from unify.accuracy import pairwise
from unify.synthetic import WorldSpec, generate, truth

BUNDLED_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "retail" / "unify.yaml"


def publish_world(settings: Settings, bootstrap: str, spec: WorldSpec, on_sent=None) -> dict[str, int]:
    """Publish the world's envelopes to the configured topics, per source in emission order."""
    sources = {s.name: s for s in settings.engine.sources}
    ensure_topics(bootstrap, [s.topic for s in sources.values()], settings.stream.partitions)
    prod = producer(bootstrap)
    counts = {name: 0 for name in sources}

    def values():
        for name, envelope in generate(spec):
            source = sources.get(name)
            if source is None:
                continue
            counts[name] += 1
            yield (source.topic, row_key(envelope, source.key),
                   json.dumps(envelope, separators=(",", ":")).encode())

    produce_all(prod, values(), on_sent)
    return counts


def _start_worker(config: Path, bootstrap: str, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "run", "-c", str(config), "--bootstrap", bootstrap],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _last_line(path: Path) -> str:
    """The worker's last error line (or last line), without terminal escapes."""
    lines = [re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", l).strip() for l in path.read_text(errors="replace").splitlines()]
    lines = [l for l in lines if l]
    errors = [l for l in lines if "Error" in l or "Exception" in l]
    return (errors or lines or ["(no output)"])[-1][:300] + f" (see {path})"


def accuracy_against_truth(settings: Settings, spec: WorldSpec):
    con = connect(settings.warehouse, read_only=True)
    try:
        predicted = {(s, k): c for s, k, c in con.execute(
            "SELECT source, source_key, customer_id FROM customer_links").fetchall()}
        customers = con.execute("SELECT count(*) FROM dim_customer").fetchone()[0]
    finally:
        con.close()
    actual = {(t["source"], t["key"]): t["person_id"] for t in truth(spec)
              if t["kind"] == "record" and not t.get("deleted")}
    return pairwise(predicted, actual), len(predicted), customers


def run_demo(people: int, seed: int, noise: str, workdir: Path, config_path: str | None) -> None:
    console = Console(stderr=True)
    out = Console(soft_wrap=True)
    base = load(config_path or BUNDLED_CONFIG)
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    settings = base.with_overrides(lake=workdir / "lake")
    config = workdir / "unify.yaml"
    config.write_text(yaml.safe_dump(settings.dump(), sort_keys=False))
    spec = WorldSpec(people=people, seed=seed, noise=noise)
    topics = settings.input_topics
    worker = None
    started = time.perf_counter()
    with EmbeddedBroker() as broker:
        try:
            prepare_topics(settings, broker.bootstrap)
            worker = _start_worker(config, broker.bootstrap, workdir / "worker.log")
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task(f"publishing {people:,} people's CDC", total=None)
                counts = publish_world(settings, broker.bootstrap, spec,
                                       on_sent=lambda n: progress.advance(task, n))
                total = sum(counts.values())
                progress.update(task, total=total, completed=total)
                done = progress.add_task("matching, merging, landing in Delta", total=total)

                def on_progress(report):
                    if worker.poll() is not None:
                        raise BrokerError(f"the worker stopped: {_last_line(workdir / 'worker.log')}")
                    progress.update(done, completed=sum(r.committed for r in report))

                wait_until_caught_up(broker.bootstrap, topics, settings.current_lake, timeout=600,
                                     on_progress=on_progress)
        finally:
            _stop(worker)
    elapsed = time.perf_counter() - started
    compact(settings.lake)  # as the worker does once the stream is quiet: lookups read compacted rows
    acc, records, customers = accuracy_against_truth(settings, spec)
    _summary(out, settings, config, counts, acc, records, customers, elapsed)


def _summary(console, settings, config, counts, acc, records, customers, elapsed):
    total = sum(counts.values())
    console.print()
    console.print("[bold]unify demo: done[/bold]")
    console.print(f"  CDC events published   {total:,}  ({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    console.print(f"  source records in      {records:,}")
    console.print(f"  customers out          {customers:,}")
    console.print(f"  precision / recall     {acc.precision:.4f} / {acc.recall:.4f}  (F1 {acc.f1:.4f}, pairwise, against the generator's hidden truth)")
    console.print(f"  throughput             {total / elapsed:,.0f} events/s end to end in {elapsed:.1f} s (broker start, publish, worker start, Delta commits)")
    console.print(f"  DuckDB warehouse       {settings.warehouse}")
    console.print(f"  lake (Delta tables)    {settings.lake}")
    console.print("\nTry:")
    c = f"{shutil.which('unify') or Path(sys.executable).with_name('unify')} sql -c {config}"
    console.print(f'  {c} "SELECT customer_id, firstName, lastName, emailAddress1, source_count, total_spend FROM dim_customer ORDER BY total_spend DESC LIMIT 10"')
    console.print(f'  {c} "SELECT source, count(*) AS records, count(DISTINCT customer_id) AS customers FROM customer_links GROUP BY source"')
    console.print(f'  {c} "SELECT rule, count(*) AS links, round(avg(score), 3) AS avg_score FROM customer_links GROUP BY rule ORDER BY links DESC"')
