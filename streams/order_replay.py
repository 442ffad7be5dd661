"""A rebuild's orders, in a second process.

Orders hang off source records, not customers, so a rebuild needs nothing from the resolver
until the partition is final: while the rebuild's own process replays the customer records
through the core, this one reads, decodes and writes the orders. Given the final partition
it then folds them, in event time, into the ledger and the churn model and returns every
customer's feature row, while the rebuild's process writes the profiles, links and
explanations. It dies with the rebuild's process, and a failed or interrupted rebuild kills
it before removing the version it was writing.
"""
from __future__ import annotations

import multiprocessing
import signal
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from sinks.delta import DeltaSink
from sinks.lake import location
from sinks.restore import read_orders
from streams.enrich_stage import EnrichStage
from streams.pipeline import Decoder, Message, settle_gc, tune_gc
from streams.pipeline_process import die_with_parent
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
    return dead_letters, sink.batch


def _enrich(settings: Settings, lake: Path, ids: CustomerIds) -> tuple[list[dict], dict | None]:
    """Feature rows of every customer of the final partition `ids` (without profiles), and
    the churn model's metrics row (None without purchases)."""
    tune_gc()
    enrich = EnrichStage(settings.enrich.half_life_days, settings.enrich.churn_window_days)
    for change in read_orders(lake):
        enrich.apply_order(change, ids)
    enrich.refit(ids)
    rows = enrich.rows(ids.members, ids)
    settle_gc()
    return rows, enrich.metrics_row() if enrich.watermark_ms else None


def _serve(conn: Connection, config: dict, lake: str, bootstrap: str, events) -> None:
    """The child: a replay request, then an enrich request; each answered (ok, result).
    `lake` is the version's folder or object-store URL, as text."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the rebuild decides when the child stops
    settings = Settings(ConfigModel.model_validate(config), Path("/"))
    try:
        _, ends, chunk = conn.recv()
        conn.send((True, _replay(settings, location(lake), bootstrap, ends, chunk, events)))
        _, ids = conn.recv()
        conn.send((True, _enrich(settings, location(lake), ids)))
    except Exception as exc:  # some (delta-rs's) cannot be pickled: one line, the trace on stderr
        traceback.print_exc()
        conn.send((False, f"{type(exc).__name__}: {first_line(exc)}"))


class OrderReplay:
    """The child process: `replay`, then `enrich`; `replayed` and `enriched` wait for
    their results. `stop` kills it (a failed or interrupted rebuild must not write on)."""

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

    def enrich(self, ids: CustomerIds) -> None:
        self._conn.send(("enrich", ids))

    def enriched(self) -> tuple[list[dict], dict | None]:
        """(feature rows, metrics row or None)."""
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
