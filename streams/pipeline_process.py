"""The pipeline (core, enrichment, Delta sink) in a child process of the worker.

Faust's per-event hand-off and the pipeline each take about one core: in one process they
share the interpreter lock and take turns, in two they overlap, so Faust takes in batch N+1
while batch N is still being written. The child holds all the state; it dies with its
parent (a kill -9 of the worker leaves no writer behind) and the worker with it.
"""
from __future__ import annotations

import functools
import logging
import multiprocessing
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from sinks.delta import read_checkpoints
from streams.children import die_with_parent
from streams.outbox import Outbox
from streams.pipeline import BatchResult, Message, Pipeline
from streams.relay import unpack
from streams.settings import ConfigModel, Settings
from streams.topics import read_range
from unify.errors import first_line

log = logging.getLogger("unify.worker")

_child: dict = {}  # the child's settings, broker address and current pipeline


def lake_offsets(lake, topics: list[str]) -> dict[tuple[str, int], int]:
    return {tp: offset for tp, (offset, _, _) in read_checkpoints(lake).items() if tp[0] in topics}


def catch_up(pipeline: Pipeline, bootstrap: str, target: dict[tuple[str, int], int]) -> int:
    """Process what `target` (offsets per topic-partition) has and the pipeline's lake has
    not: after a rebuild's switch, or a lake behind the consumer group. Returns the count."""
    have = lake_offsets(pipeline.sink.lake, [t for t, _ in target])
    behind = {tp: end for tp, end in target.items() if end > have.get(tp, 0)}
    done = 0
    for records in read_range(bootstrap, have, behind):
        done += pipeline.process([Message(*r) for r in records]).events
    return done


def follow_version(settings: Settings, bootstrap: str, pipeline: Pipeline) -> Pipeline:
    """The pipeline to use now: after `unify rebuild` switched versions, a new one on the new
    version that has also seen what this one had."""
    if settings.current_lake == pipeline.sink.lake:
        return pipeline
    log.warning("the dimension was rebuilt into %s; moving to it", settings.current_lake)
    fresh = Pipeline(settings, outbox=pipeline.outbox)
    seen = catch_up(fresh, bootstrap, lake_offsets(pipeline.sink.lake, settings.input_topics))
    log.warning("caught up %d events the rebuild had not seen", seen)
    return fresh


def _start(config: dict, bootstrap: str) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when the child stops
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    settings = Settings(ConfigModel.model_validate(config), Path("/"))
    _child.update(settings=settings, bootstrap=bootstrap)
    try:
        _child["pipeline"] = Pipeline(settings, outbox=Outbox(settings, bootstrap))
    except Exception as exc:  # the lake out of reach: said by the first task, to the parent
        _child["failure"] = f"{type(exc).__name__}: {first_line(exc)}"


def _pipeline() -> Pipeline:
    if "failure" in _child:
        raise RuntimeError(f"cannot restore from the lake ({_child['failure']})")
    return _child["pipeline"]


def picklable(task):
    """A task whose failure reaches the parent as one line: some exceptions (delta-rs's)
    cannot be pickled, and the parent would only learn that."""
    @functools.wraps(task)  # pickled by name, as the module-level task
    def run(*args):
        try:
            return task(*args)
        except Exception as exc:
            raise RuntimeError(f"{type(exc).__name__}: {first_line(exc)}") from None
    return run


@picklable
def _catch_up_to(target: dict[tuple[str, int], int]) -> int:
    return catch_up(_pipeline(), _child["bootstrap"], target)


@picklable
def _process(records: list[bytes], relayed: tuple[str, int, int] | None, merge: bool) -> BatchResult:
    _child["pipeline"] = follow_version(_child["settings"], _child["bootstrap"], _pipeline())
    messages = [m for record in records for m in unpack(record)]
    return _child["pipeline"].process(messages, relayed=relayed, merge=merge)


class PipelineProcess:
    """A Pipeline in a child process; batches run there one at a time, in submission order,
    and send their outputs to their topics themselves."""

    def __init__(self, settings: Settings, bootstrap: str):
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(settings.dump(), bootstrap))

    def catch_up(self, target: dict[tuple[str, int], int]) -> int:
        """Restore the state from the lake, then process what `target` has and the lake has
        not; returns the count."""
        return self._pool.submit(_catch_up_to, target).result()

    def submit(self, records: list[bytes], relayed: tuple[str, int, int] | None = None,
               merge: bool = True) -> Future:
        """Process relay records (see streams.relay), unpacked in the child."""
        return self._pool.submit(_process, records, relayed, merge)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
