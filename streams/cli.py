"""`unify`: the command line. Every failure is one line on stderr and a non-zero exit."""
from __future__ import annotations

import csv
import functools
import json
import os
import sys
from pathlib import Path

import click

from unify.errors import UnifyError

CONFIG = click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
                      help="Path of the YAML configuration (see examples/retail/unify.yaml).")


def one_line_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UnifyError as exc:
            lines = str(exc).splitlines() or [type(exc).__name__]
            for line in lines:
                click.secho(f"unify: {line}", fg="red", err=True)
            sys.exit(2 if type(exc).__name__ == "ConfigError" else 1)
        except KeyboardInterrupt:
            click.secho("unify: interrupted", fg="yellow", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a bug, not bad input: still one line; the traceback on request
            if os.environ.get("UNIFY_DEBUG"):
                raise
            first = (str(exc).splitlines() or [""])[0][:300]
            click.secho(f"unify: unexpected {type(exc).__name__}: {first} (UNIFY_DEBUG=1 shows the traceback)",
                        fg="red", err=True)
            sys.exit(1)
    return wrapper


def _settings(config_path: str, lake: str | None = None, bootstrap: str | None = None,
              partitions: int | None = None, warehouse: str | None = None):
    from streams.settings import load
    settings = load(config_path)
    if lake or bootstrap or partitions or warehouse:
        settings = settings.with_overrides(bootstrap=bootstrap, lake=lake, partitions=partitions,
                                           warehouse=warehouse)
    return settings


WAREHOUSE = click.option("--warehouse", default=None, type=click.Path(dir_okay=False),
                         help="Override the warehouse file (with a lake on object storage, a file "
                              "every worker and reader shares).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Streaming customer unification: CDC in, an enhanced customer dimension out."""
    import signal
    # SIGTERM unwinds like Ctrl-C, so every command stops the processes it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@main.command()
@click.option("--people", default=5000, show_default=True, help="Size of the synthetic world.")
@click.option("--seed", default=7, show_default=True)
@click.option("--noise", type=click.Choice(["clean", "realistic", "hard"]), default="realistic", show_default=True)
@click.option("--dir", "workdir", default="unify-demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the lake, warehouse and world files go (replaced on each run).")
@click.option("-c", "--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Config to use (default: the bundled examples/retail/unify.yaml).")
@one_line_errors
def demo(people, seed, noise, workdir, config_path):
    """Run the whole product on a synthetic world: broker, worker, lake, views, summary."""
    from streams.demo import run_demo
    run_demo(people=people, seed=seed, noise=noise, workdir=Path(workdir), config_path=config_path)


@main.command()
@click.option("--port", default=9092, show_default=True, help="Loopback port to listen on.")
@one_line_errors
def broker(port):
    """Run the embedded Kafka-protocol broker in the foreground (memory-only)."""
    import time
    from streams.broker import EmbeddedBroker
    with EmbeddedBroker(port) as b:
        click.echo(f"embedded broker on {b.bootstrap} (pid {b.process.pid}); Ctrl-C stops it")
        while b.process.poll() is None:
            time.sleep(0.5)


@main.command()
@CONFIG
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (overrides broker.bootstrap).")
@click.option("--lake", default=None, type=click.Path(file_okay=False), help="Override the lake path (a folder or s3://bucket/prefix).")
@WAREHOUSE
@click.option("--partitions", default=None, type=click.IntRange(min=1),
              help="Partitions of the topics the worker creates (overrides stream.partitions).")
@click.option("--log-level", default="warn", type=click.Choice(["crit", "error", "warn", "info", "debug"]))
@one_line_errors
def run(config_path, bootstrap, lake, warehouse, partitions, log_level):
    """Start a worker. Workers of one config share the work. With broker.bootstrap: embedded
    the first starts the embedded broker, and the others join it."""
    from streams.broker import BrokerError, EmbeddedBroker, clear_address, publish_address, reachable, resolve_bootstrap
    from streams.worker import run_worker
    settings = _settings(config_path, lake, bootstrap, partitions, warehouse)
    if not settings.embedded:
        run_worker(settings, settings.broker, log_level)
        return
    try:
        started = resolve_bootstrap(settings.broker, settings.lake)
    except BrokerError:
        started = None
    if started and reachable(started):
        click.echo(f"joining the embedded broker on {started}, started by this lake's first worker", err=True)
        run_worker(settings, started, log_level)
        return
    with EmbeddedBroker() as b:
        publish_address(settings.lake, b)
        click.echo(f"embedded broker on {b.bootstrap}", err=True)
        try:
            run_worker(settings, b.bootstrap, log_level)
        finally:
            clear_address(settings.lake)


@main.command()
@click.option("--people", default=5000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--noise", type=click.Choice(["clean", "realistic", "hard"]), default="realistic", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Write <source>.jsonl files and truth.jsonl here.")
@click.option("-c", "--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="With --to-topics: publish straight to the config's source topics.")
@click.option("--to-topics", is_flag=True, help="Publish to the topics instead of writing files.")
@one_line_errors
def generate(people, seed, noise, out, config_path, to_topics):
    """Generate a synthetic retail world (deterministic for a seed)."""
    from unify.synthetic import WorldSpec, write_jsonl
    spec = WorldSpec(people=people, seed=seed, noise=noise)
    if to_topics:
        if not config_path:
            raise click.UsageError("--to-topics needs -c CONFIG")
        from streams.broker import resolve_bootstrap
        from streams.demo import publish_world
        settings = _settings(config_path)
        counts = publish_world(settings, resolve_bootstrap(settings.broker, settings.lake), spec)
    else:
        if not out:
            raise click.UsageError("give --out DIR or --to-topics")
        counts = write_jsonl(Path(out), spec)
    for name, n in counts.items():
        click.echo(f"{name}\t{n}")


@main.command()
@CONFIG
@click.option("--source", "source_name", required=True, help="Source name from the config.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@one_line_errors
def produce(config_path, source_name, file):
    """Publish a JSONL file of CDC envelopes to a source's topic."""
    from streams.broker import resolve_bootstrap
    from streams.topics import ensure_topics, jsonl_values, produce_all, producer
    settings = _settings(config_path)
    try:
        source = settings.engine.source(source_name)
    except KeyError:
        names = ", ".join(s.name for s in settings.engine.sources)
        raise click.UsageError(f"unknown source {source_name!r}; use one of {names}") from None
    bootstrap = resolve_bootstrap(settings.broker, settings.lake)
    ensure_topics(bootstrap, [source.topic], settings.stream.partitions)
    n = produce_all(producer(bootstrap),
                    ((source.topic, k, v) for k, v in jsonl_values(Path(file), source.key)))
    click.echo(f"published {n} events to {source.topic}")


@main.command()
@CONFIG
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--lake", default=None, type=click.Path(file_okay=False),
              help="Query another lake (e.g. one written by unify resolve --lake).")
@WAREHOUSE
@click.option("--as-of", "as_of", default=None, metavar="TIMESTAMP",
              help="Read the dimension as it was at this time (e.g. '2026-11-29 10:00:00+00').")
@one_line_errors
def sql(config_path, query, fmt, lake, warehouse, as_of):
    """Query the warehouse views (read-only)."""
    from sinks.warehouse import connect, connect_as_of
    import duckdb
    settings = _settings(config_path, lake, warehouse=warehouse)
    con = (connect_as_of(settings.current_lake, settings.engine.attributes, as_of, **settings.view_options) if as_of
           else connect(settings.warehouse, read_only=True))
    try:
        cur = con.execute(query)
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall()
    except duckdb.Error as exc:
        raise UnifyError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    _print_rows(columns, rows, fmt)


def _print_rows(columns, rows, fmt):
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(dict(zip(columns, row)), default=str))
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)
        click.echo(f"{len(rows)} rows")


@main.command()
@CONFIG
@click.option("--wait", is_flag=True, help="Block until the lag is zero and everything is in Delta.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait may take.")
@one_line_errors
def status(config_path, wait, timeout):
    """Lag per source topic and partition against what is committed to Delta."""
    from streams.broker import resolve_bootstrap
    from streams.broker import BrokerError
    from streams.status import lag_report, outage_note, wait_until_caught_up, writer_note
    from sinks.delta import dead_letter_counts
    from sinks.lake import LakeError, reading
    settings = _settings(config_path)
    bootstrap = resolve_bootstrap(settings.broker, settings.lake)
    topics = settings.input_topics
    writer = writer_note(settings)
    try:
        with reading(settings.lake):
            lake = settings.current_lake
            # the lake is read before the broker is asked: reading it after a failed connection can
            # abort the process at exit, in the teardown of the native Kafka and Delta libraries
            note = outage_note(settings)
            try:
                report = (wait_until_caught_up(bootstrap, topics, lake, timeout) if wait
                          else lag_report(bootstrap, topics, lake))
            except BrokerError as exc:
                raise BrokerError(f"{exc}; {note}") from None
            dead = dead_letter_counts(lake)
    except LakeError as exc:
        raise LakeError(f"{exc}; {writer}" if writer else str(exc)) from None
    _print_rows(["topic", "partition", "end_offset", "committed", "lag", "dead_letters", "committed_at"],
                [(r.topic, r.partition, r.end_offset, r.committed, r.lag, dead.get((r.topic, r.partition), 0),
                  r.committed_at) for r in report], "table")
    if writer:
        raise LakeError(writer)


@main.command()
@CONFIG
@click.option("--input", "inputs", multiple=True, metavar="NAME=FILE.jsonl",
              help="A source name and its JSONL file of envelopes; repeat per source.")
@click.option("--lake", type=click.Path(file_okay=False), help="Lake folder (or s3://bucket/prefix) to land the tables in.")
@click.option("--diff-against", "diff_lake", metavar="LAKE",
              help="Instead: run the config's rules over the records of this lake and report the "
                   "merges and splits they would cause. Changes nothing.")
@one_line_errors
def resolve(config_path, inputs, lake, diff_lake):
    """Run the engine over JSONL files instead of topics, landing the same tables."""
    if diff_lake:
        from streams.whatif import diff_against
        click.echo(json.dumps(diff_against(_settings(config_path), diff_lake), indent=2, default=str))
        return
    if not inputs or not lake:
        raise click.UsageError("give --input NAME=FILE.jsonl (repeat per source) and --lake DIR, or --diff-against LAKE")
    from streams.backfill import resolve_files
    settings = _settings(config_path, lake)
    pairs = []
    for item in inputs:
        name, sep, file = item.partition("=")
        if not sep:
            raise click.UsageError(f"--input {item!r}: write it as NAME=FILE.jsonl")
        pairs.append((name, Path(file)))
    summary = resolve_files(settings, pairs)
    click.echo(json.dumps(summary, indent=2))


@main.command()
@CONFIG
@click.option("--rows-per-write", default=20_000, show_default=True, type=click.IntRange(min=1),
              help="Rows of each kind the final state is written in at a time: fewer hold less memory.")
@one_line_errors
def rebuild(config_path, rows_per_write):
    """Replay every source topic into a new version of the dimension and switch the views to
    it in one step. The current version stays readable (and a running worker keeps it fresh)
    until the switch; customer ids, erasures and history carry over."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from streams.broker import resolve_bootstrap
    from streams.rebuild import rebuild as run
    settings = _settings(config_path)
    bootstrap = resolve_bootstrap(settings.broker, settings.lake)
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("events, ETA"),
                  TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task("replay", total=None)
        summary = run(settings, bootstrap, lambda done, total: progress.update(task, completed=done, total=total),
                      part=rows_per_write)
    changes = summary.pop("id_changes")
    summary["id_changes"] = {kind: sum(1 for e in changes if e.event == kind) for kind in ("merged", "split", "created", "deleted")}
    click.echo(json.dumps(summary, indent=2))


@main.command()
@CONFIG
@click.option("--customer-id", required=True, help="The customer to erase.")
@click.option("--reason", default=None, help="Why (kept with the erasure record).")
@one_line_errors
def erase(config_path, customer_id, reason):
    """Erase a person: delete every source record of the customer and purge its history."""
    import time
    from streams.broker import resolve_bootstrap
    from streams.codec import encode_erasure
    from streams.topics import produce_all, producer
    from unify.cdm import Erasure
    settings = _settings(config_path)
    bootstrap = resolve_bootstrap(settings.broker, settings.lake)
    item = Erasure(customer_id, int(time.time() * 1000), reason)
    produce_all(producer(bootstrap), [(settings.stream.overrides_topic, None, encode_erasure(item))])
    click.echo(f"erase {customer_id}: published to {settings.stream.overrides_topic}; "
               "run `unify compact --vacuum` to remove the old files from disk")


@main.command("export-cdm")
@CONFIG
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder of the CDM export.")
@one_line_errors
def export_cdm(config_path, out):
    """Write the dimension as a Common Data Model folder (model.json plus CSV partitions)."""
    from sinks.cdm_export import export_cdm as run
    summary = run(_settings(config_path).warehouse, Path(out))
    click.echo(json.dumps(summary, indent=2, default=str))


@main.command()
@CONFIG
@click.option("--vacuum", is_flag=True, help="Also delete files no longer referenced (older than the retention).")
@click.option("--retention-hours", default=168, show_default=True,
              help="With --vacuum: keep unreferenced files younger than this (0 deletes them all).")
@one_line_errors
def compact(config_path, vacuum, retention_hours):
    """Rewrite the change logs to their current rows and merge small files."""
    from sinks.compaction import compact as run
    report = run(_settings(config_path).lake, vacuum, retention_hours)
    _print_rows(["table", "rows before", "rows after", "files", "vacuumed", "seconds"],
                [(n, r["rows_before"], r["rows_after"], r["files"], r["files_vacuumed"], r["seconds"])
                 for n, r in report.items()], "table")


@main.command()
@click.option("-c", "--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Config whose attributes the views carry (default: the bundled example).")
@click.option("--out", default="docs/data-dictionary.md", show_default=True, type=click.Path(dir_okay=False))
@one_line_errors
def docs(config_path, out):
    """Write the data dictionary of every view and column (markdown)."""
    from sinks.catalog_docs import render_data_dictionary
    from streams.demo import BUNDLED_CONFIG
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render_data_dictionary(_settings(config_path or str(BUNDLED_CONFIG))))
    click.echo(f"wrote {out}")


@main.command()
@CONFIG
@click.argument("customer_id")
@one_line_errors
def explain(config_path, customer_id):
    """Why these source records are one customer: the links, rules and scores."""
    from sinks.explain import explain_customer
    for line in explain_customer(_settings(config_path).warehouse, customer_id):
        click.echo(line)


def _record_ref(value: str) -> tuple[str, str]:
    source, sep, key = value.partition("/")
    if not sep or not source or not key:
        raise click.BadParameter(f"{value!r}: write a record as SOURCE/KEY, e.g. crm_contacts/CRM-0000001")
    return source, key


@main.command()
@CONFIG
@click.option("--always", "kind", flag_value="always", help="These two records are the same person.")
@click.option("--never", "kind", flag_value="never", help="These two records must not be linked directly.")
@click.option("--clear", "kind", flag_value="clear", help="Remove an earlier override of this pair.")
@click.argument("left")
@click.argument("right")
@click.option("--reason", default=None, help="Why (kept with the override).")
@one_line_errors
def override(config_path, kind, left, right, reason):
    """Publish a match override for two records (SOURCE/KEY SOURCE/KEY); applied at once."""
    import time
    from streams.broker import resolve_bootstrap
    from streams.codec import encode_override
    from streams.topics import produce_all, producer
    from unify.cdm import Override
    if kind is None:
        raise click.UsageError("choose one of --always, --never, --clear")
    settings = _settings(config_path)
    sources = {s.name for s in settings.engine.sources}
    refs = [_record_ref(left), _record_ref(right)]
    for source, _ in refs:
        if source not in sources:
            raise click.BadParameter(f"unknown source {source!r}; use one of {', '.join(sorted(sources))}")
    item = Override(refs[0], refs[1], kind, int(time.time() * 1000), reason)
    bootstrap = resolve_bootstrap(settings.broker, settings.lake)
    produce_all(producer(bootstrap), [(settings.stream.overrides_topic, None, encode_override(item))])
    click.echo(f"{kind} {left} {right}: published to {settings.stream.overrides_topic}")


@main.command()
@CONFIG
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5433, show_default=True, help="PostgreSQL wire protocol port.")
@click.option("--user", default="unify", show_default=True, help="The one user clients log in as.")
@click.option("--idle-timeout", default=300.0, show_default=True, help="Seconds before an idle connection is closed.")
@click.option("--dashboard-port", default=8080, show_default=True, help="Port of the live dashboard page.")
@click.option("--lake", default=None, type=click.Path(file_okay=False), help="Override the lake path (a folder or s3://bucket/prefix).")
@WAREHOUSE
@one_line_errors
def serve(config_path, host, port, user, idle_timeout, dashboard_port, lake, warehouse):
    """Serve the views over the PostgreSQL protocol (read-only; password in UNIFY_SERVE_PASSWORD)
    and the live dashboard page."""
    import asyncio
    from sinks.dashboard import serve_dashboard
    from sinks.sql_endpoint import serve as serve_sql
    settings = _settings(config_path, lake, warehouse=warehouse)
    password = os.environ.get("UNIFY_SERVE_PASSWORD")
    if not password:
        raise click.UsageError("set UNIFY_SERVE_PASSWORD to the password clients must use")

    async def serve_both():
        await asyncio.gather(
            serve_sql(settings.warehouse, host=host, port=port, user=user, password=password,
                      idle_timeout=idle_timeout),
            serve_dashboard(settings.warehouse, host=host, port=dashboard_port))

    click.echo(f"serving {settings.warehouse} on postgresql://{user}@{host}:{port}/unify (read-only)"
               f" and the dashboard on http://{host}:{dashboard_port}/", err=True)
    asyncio.run(serve_both())


@main.command()
@click.option("-c", "--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Config whose rules are measured (default: the bundled example).")
@click.option("--suite", "suites", multiple=True, type=click.Choice(["accuracy", "core", "pipeline"]),
              help="Run only these suites (repeatable; default: all).")
@click.option("--people", default=5000, show_default=True, help="People per world for the accuracy suite.")
@click.option("--large", is_flag=True,
              help="Also measure the core at 1,000,000 records, and a rebuild and queries at 1M people.")
@click.option("--out", default="bench", show_default=True, type=click.Path(file_okay=False))
@one_line_errors
def bench(config_path, suites, people, large, out):
    """Measure accuracy and speed; write bench/results.json and bench/results.md."""
    from bench.report import save
    from streams.demo import BUNDLED_CONFIG
    settings = _settings(config_path or str(BUNDLED_CONFIG))
    suites = suites or ("accuracy", "core", "pipeline")
    if "accuracy" in suites:
        from bench.accuracy import run_accuracy
        save(Path(out), "accuracy", run_accuracy(settings, people))
    if "core" in suites:
        from bench.core import run_core
        sizes = [10_000, 100_000] + ([1_000_000] if large else [])
        save(Path(out), "core", run_core(settings, sizes))
    if "pipeline" in suites:
        from bench.pipeline import run_pipeline, run_rebuild
        # the live path at 10k people; rebuilds and queries of larger worlds from their topics
        figures = {"10000": run_pipeline(settings, 10_000, [1_000, 5_000], Path(out) / "work" / "10000")}
        for n in [100_000] + ([1_000_000] if large else []):
            figures[str(n)] = run_rebuild(settings, n, Path(out) / "work" / str(n))
        if not large:  # lookups at 1M customers from the 100k lake, scaled
            from bench.scaled import scaled_queries
            work = Path(out) / "work"
            figures["100000 x 10"] = scaled_queries(work / "100000" / "unify.yaml", work / "100000x10")
        save(Path(out), "pipeline", figures)
    click.echo(f"wrote {Path(out) / 'results.json'} and {Path(out) / 'results.md'}")


if __name__ == "__main__":
    main()
