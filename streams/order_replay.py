"""A rebuild's orders, in a second process.

Orders hang off source records, not customers, so a rebuild needs nothing from the resolver
until the partition is final: while the rebuild's own process replays the customer records
through the core, this one reads, decodes and writes the orders. Given the final partition
it then folds them, in event time, into the ledger and the churn model and returns every
customer's feature row, while the rebuild's process builds the profiles. The two stages
take about the same time at any world size, so each process keeps one core busy.
"""
from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from sinks.delta import DeltaSink
from sinks.restore import read_orders
from streams.enrich_stage import EnrichStage
from streams.pipeline import Decoder, Message, settle_gc, tune_gc
from streams.pipeline_process import die_with_parent, picklable
from streams.settings import ConfigModel, Settings
from streams.topics import read_range
from unify.cdm import OrderChange
from unify.clusters import CustomerIds
from unify.errors import InvalidRecord
from unify.resolver import Output

_child: dict = {}  # the child's settings, lake, broker address and event counter


def _start(config: dict, lake: str, bootstrap: str, events) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the rebuild decides when the child stops
    _child.update(settings=Settings(ConfigModel.model_validate(config), Path("/")), lake=Path(lake),
                  bootstrap=bootstrap, events=events)


@picklable
def _replay(ends: dict[tuple[str, int], int], chunk: int) -> tuple[int, int]:
    """Every order up to `ends` into the lake's orders log, the latest version of an order
    per chunk (the log's view keeps the latest overall); returns the dead letters written
    and the next free batch number."""
    settings, events = _child["settings"], _child["events"]
    decoder, sink = Decoder(settings), DeltaSink(_child["lake"], settings.engine.attributes)
    dead_letters = 0
    for records in read_range(_child["bootstrap"], {}, ends, chunk):
        orders: dict[tuple[str, str], OrderChange] = {}
        dead = []
        for record in records:
            m = Message(*record)
            try:
                order = decoder.decode(m)
            except InvalidRecord as exc:
                dead.append(decoder.dead_letter(m, exc))
                continue
            if isinstance(order, OrderChange):
                held = orders.get((order.source, order.key))
                if held is None or order.position > held.position:
                    orders[(order.source, order.key)] = order
        sink.add(Output(), list(orders.values()), dead, {})
        sink.flush()
        dead_letters += len(dead)
        with events.get_lock():
            events.value += len(records)
    return dead_letters, sink.batch


@picklable
def _enrich(ids: CustomerIds) -> tuple[list[dict], dict | None]:
    """Feature rows of every customer of the final partition `ids` (without profiles), and
    the churn model's metrics row (None without purchases)."""
    settings = _child["settings"]
    tune_gc()
    enrich = EnrichStage(settings.enrich.half_life_days, settings.enrich.churn_window_days)
    for change in read_orders(_child["lake"]):
        enrich.apply_order(change, ids)
    enrich.refit(ids)
    rows = enrich.rows(ids.members, ids)
    settle_gc()
    return rows, enrich.metrics_row() if enrich.watermark_ms else None


class OrderReplay:
    """The child process; `replay` then `enrich`, each a Future, run there in that order."""

    def __init__(self, settings: Settings, lake: Path, bootstrap: str):
        context = multiprocessing.get_context("spawn")
        self._events = context.Value("q", 0)
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_start,
                                         initargs=(settings.dump(), str(lake), bootstrap, self._events))

    @property
    def events(self) -> int:
        """Order-topic events replayed so far."""
        return self._events.value

    def replay(self, ends: dict[tuple[str, int], int], chunk: int) -> Future:
        return self._pool.submit(_replay, ends, chunk)

    def enrich(self, ids: CustomerIds) -> Future:
        return self._pool.submit(_enrich, ids)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
