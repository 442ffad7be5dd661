"""A rebuild's orders, in a second process.

Orders hang off source records, not customers, so a rebuild needs nothing from the resolver
until the partition is final: while the rebuild's own process replays the customer records
through the core, this one reads, decodes and writes the orders. Given the final partition
it then folds them, in event time, into the ledger (sorted beforehand, while the rebuild's
process is still replaying its records), and streams each purchase's churn
example to the rebuild's process, which trains the churn model on them meanwhile (the
model learns in event order, so it cannot be split, but it need not wait for the ledger).
With the trained model back it builds the customers' feature rows, a part at a time,
while the rebuild's process writes the links and explanations, then each part beside its
customers' profiles. It dies with the rebuild's process, and a failed or interrupted
rebuild kills it before removing the version it was writing.
"""
from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path

from sinks.delta import DeltaSink
from sinks.lake import location
from sinks.restore import sorted_orders
from streams.children import die_with_parent
from streams.churn_training import ChurnFeed, train
from streams.enrich_stage import EnrichStage
from streams.pipeline import Decoder, Message, settle_gc, tune_gc
from streams.settings import ConfigModel, Settings
from streams.topics import read_range
from unify.cdm import OrderChange
from unify.clusters import CustomerIds
from unify.errors import InvalidRecord, first_line
from unify.resolver import Output


def _replay(settings: Settings, lake: Path, bootstrap: str, ends: dict[tuple[str, int], int], chunk: int,
            events) -> tuple[int, int]:
    """Every order up to `ends` into the lake's orders log, the latest version of an order
    per chunk (the log's view keeps the latest overall); returns the dead letters written
    and the next free batch number."""
    decoder, sink = Decoder(settings), DeltaSink(lake, settings.engine.attributes)
    dead_letters = 0
    tune_gc()
    for records in read_range(bootstrap, {}, ends, chunk):
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
        events.value += len(records)
        settle_gc()
    return dead_letters, sink.batch


def _enrich(settings: Settings, orders: Iterable[OrderChange], ids: CustomerIds, conn: Connection,
            part: int) -> dict | None:
    """Fold the `orders` (in event time) over the final partition `ids`, then send every
    customer's feature row (without its profile) over `conn` in parts of `part` customers,
    in id order, and None after the last; returns the churn model's metrics row (None
    without purchases). The churn model is sent over `conn` untrained, trained there on the
    fold's examples, and received back."""
    tune_gc()
    enrich = EnrichStage(settings.enrich.half_life_days, settings.enrich.churn_window_days)
    conn.send((True, enrich.enrichment.churn))
    feed = enrich.enrichment.churn = ChurnFeed(conn)
    for change in orders:
        enrich.apply_order(change, ids)
    feed.close()
    enrich.enrichment.churn = conn.recv()
    enrich.settle(ids)
    customers = sorted(ids.members)
    for start in range(0, len(customers), part):
        conn.send((True, enrich.rows(customers[start:start + part], ids)))
    conn.send((True, None))
    settle_gc()
    return enrich.metrics_row() if enrich.watermark_ms else None


def _serve(conn: Connection, config: dict, lake: str, bootstrap: str, events) -> None:
    """The child: a replay request, then an enrich request; each answered (ok, result).
    `lake` is the version's folder or object-store URL, as text."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the rebuild decides when the child stops
    settings = Settings(ConfigModel.model_validate(config), Path("/"))
    try:
        _, ends, chunk = conn.recv()
        conn.send((True, _replay(settings, location(lake), bootstrap, ends, chunk, events)))
        # Sorted (DuckDB, without the GIL) while the partition is awaited: the rebuild's
        # process sends it when it has replayed its records, and must not wait on the sort.
        with ExitStack() as scratch, ThreadPoolExecutor(1) as sorter:
            sorting = sorter.submit(scratch.enter_context, sorted_orders(location(lake)))
            _, ids, part = conn.recv()
            conn.send((True, _enrich(settings, sorting.result(), ids, conn, part)))
    except Exception as exc:  # some (delta-rs's) cannot be pickled: one line, the trace on stderr
        traceback.print_exc()
        conn.send((False, f"{type(exc).__name__}: {first_line(exc)}"))


class OrderReplay:
    """The child process: `replay`, then `enrich`; `replayed`, `train_churn`, `feature_rows`
    and `metrics` wait for their results. `stop` kills it (a failed or interrupted rebuild
    must not write on)."""

    def __init__(self, settings: Settings, lake: Path, bootstrap: str):
        context = multiprocessing.get_context("spawn")
        self._events = context.Value("q", 0, lock=False)  # one writer; a killed child holds no lock
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, name="unify-order-replay", daemon=True,
                                        args=(child, settings.dump(), str(lake), bootstrap, self._events))
        self._process.start()
        child.close()
        self._replayed: tuple[int, int] | None = None

    @property
    def events(self) -> int:
        """Order-topic events replayed so far."""
        return self._events.value

    def replay(self, ends: dict[tuple[str, int], int], chunk: int) -> None:
        self._conn.send(("replay", ends, chunk))

    def check(self) -> None:
        """Raise now if the replay has failed (its answer is kept for `replayed`)."""
        if self._replayed is None and self._conn.poll():
            self._replayed = self._answer()

    def replayed(self) -> tuple[int, int]:
        """(dead letters written, next free batch number)."""
        if self._replayed is None:
            self._replayed = self._answer()
        return self._replayed

    def enrich(self, ids: CustomerIds, part: int) -> None:
        """Start the fold over the final partition `ids`; the feature rows will come in parts
        of `part` customers. The churn examples are taken in as they come, so that the fold
        goes on while this process does other work before `train_churn`."""
        self._conn.send(("enrich", ids, part))
        self._examples: queue.SimpleQueue = queue.SimpleQueue()
        self._taker = threading.Thread(target=self._take_examples, name="churn-examples", daemon=True)
        self._taker.start()

    def _take_examples(self) -> None:
        """The untrained model, then the `ChurnFeed`'s chunks of calls, then None (or what failed)."""
        try:
            self._examples.put(self._answer())
            while (calls := self._answer()) is not None:
                self._examples.put(calls)
            self._examples.put(None)
        except BaseException as exc:  # raised again by `train_churn`
            self._examples.put(exc)

    def _example(self):
        item = self._examples.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def train_churn(self) -> None:
        """Train the churn model on the fold's examples, then hand it back."""
        model = self._example()
        while (calls := self._example()) is not None:
            train(model, calls)
        self._taker.join()
        self._conn.send(model)

    def feature_rows(self) -> Iterator[list[dict]]:
        """Every customer's feature row (without its profile), in parts, in id order."""
        while (rows := self._answer()) is not None:
            yield rows

    def metrics(self) -> dict | None:
        """The churn model's metrics row; None without purchases."""
        return self._answer()

    def _answer(self):
        try:
            ok, result = self._conn.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"the rebuild's order process ended (exit code {self._process.exitcode})") from None
        if not ok:
            raise RuntimeError(result)
        return result

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()
