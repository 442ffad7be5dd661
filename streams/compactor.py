"""The worker's compaction, in a process of its own, so that batches go on meanwhile.

Compaction rewrites the current-state logs to their current rows (`sinks.compaction`); a
point lookup then reads one compacted row instead of ranking every row written since. The
writer starts one once the stream has gone quiet (`stream.compact_when_idle_seconds`); once
the rows written since the last one pass both `stream.compact_after_rows` and
`stream.compact_after_share` of the rows it left, unless the writer has a backlog to catch
up on (a bulk load or a replay, which compaction would only slow down), so that while a
stream goes on a lookup costs a bounded share more; and at the latest every
`stream.compact_every_seconds`. Batches keep committing meanwhile: compaction rewrites only
the rows up to the batch committed when it starts, and a commit of the writer that
conflicts with one of its commits runs again (`sinks.delta`).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor

from sinks.compaction import compact
from sinks.tables import COMPACTABLE
from streams.children import die_with_parent
from streams.pipeline_process import picklable
from unify.errors import first_line

log = logging.getLogger("unify.worker")


def _background() -> None:
    """The compaction process yields the cores to the batches (and dies with the worker)."""
    die_with_parent()
    os.nice(10)


@picklable
def _compact(lake: str) -> int:
    """Compact; returns the current-state rows it left."""
    report = compact(lake)
    return sum(r["rows_after"] or 0 for name, r in report.items() if name in COMPACTABLE)


class Compactor:
    """Decides when, and runs one compaction at a time; the writer's thread calls it."""

    def __init__(self, lake, stream):
        self._lake = str(lake)
        self._after_share, self._after_rows = stream.compact_after_share, stream.compact_after_rows
        self._every, self._idle = stream.compact_every_seconds, stream.compact_when_idle_seconds
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_background)
        self._running: Future | None = None
        self._started_at = time.monotonic()
        self._rows_left = 0  # by the last compaction: unknown until one has run
        self._rows_since = 0
        self._written_at = time.monotonic()
        self._compacted = True  # nothing written since the last one started

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def written(self, rows: int) -> None:
        """A batch committed `rows` rows to the current-state logs."""
        self._rows_since += rows
        self._written_at = time.monotonic()
        self._compacted = False

    def due(self, caught_up: bool) -> bool:
        """Whether to start one now; `caught_up`: the writer has no backlog."""
        self._collect()
        now = time.monotonic()
        if self._compacted or self.busy:
            return False
        return (bool(self._idle) and now - self._written_at >= self._idle
                or caught_up and bool(self._after_share)
                and self._rows_since >= max(self._after_rows, self._after_share * self._rows_left)
                or bool(self._every) and now - self._started_at >= self._every)

    def start(self) -> None:
        self._running = self._pool.submit(_compact, self._lake)
        self._started_at = time.monotonic()
        self._rows_since, self._compacted = 0, True

    def _collect(self) -> None:
        if self._running is None or not self._running.done():
            return
        failure = self._running.exception()
        if failure is None:
            self._rows_left = self._running.result()
        else:  # e.g. a conflicting commit: the next one will do
            log.warning("compaction failed, to be tried again: %s", first_line(failure))
        self._running = None

    def close(self) -> None:
        """Stop; a compaction under way ends with this process (its files are left to vacuum)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
