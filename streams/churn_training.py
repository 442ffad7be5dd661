"""Churn training beside a fold of orders, in another process.

The churn model learns in event order, so its training cannot be split, but it need not
wait for the ledger: the fold hands each call it would make on the model to a `ChurnFeed`,
which sends them, packed and in order, to a process that replays them on the model
(`train`). Folding and training take about as long each, and on two cores they overlap. A
rebuild trains in its own process while its order process folds; a worker restoring from a
large lake starts a `ChurnTrainer`.
"""
from __future__ import annotations

import multiprocessing
import signal
from array import array
from multiprocessing.connection import Connection

from streams.children import die_with_parent
from unify.enrich import ChurnModel


class ChurnFeed:
    """Stands in for the churn model during the fold: its calls go, in order and in chunks,
    to the process that trains the model. A chunk is packed as (times, customer ids or None
    for a clock move, input names, input values in an array): pickling an example's dict
    and reading it back cost more than the fold's own work for it."""

    def __init__(self, conn: Connection, chunk: int = 10_000):
        self._conn, self._chunk = conn, chunk
        self._clock: int | None = None
        self._names: tuple = ()
        self._start()

    def _start(self) -> None:
        self._times, self._ids, self._values = array("q"), [], array("d")

    def advance(self, now_ms: int) -> None:
        if self._clock is None or now_ms > self._clock:  # the model ignores a clock that does not move on
            self._clock = now_ms
            self._times.append(now_ms)
            self._ids.append(None)
            self._flush_if_full()

    def observe(self, customer_id: str, x: dict, event_ms: int) -> None:
        names = tuple(x)
        if names != self._names:  # one layout per chunk
            self._send()
            self._names = names
        self._times.append(event_ms)
        self._ids.append(customer_id)
        self._values.extend(x.values())
        self._flush_if_full()

    def _flush_if_full(self) -> None:
        if len(self._ids) >= self._chunk:
            self._send()

    def _send(self) -> None:
        if self._ids:
            self._conn.send((True, (self._times, self._ids, self._names, self._values)))
            self._start()

    def close(self) -> None:
        self._send()
        self._conn.send((True, None))


def train(model: ChurnModel, chunk: tuple) -> None:
    """Replay a `ChurnFeed`'s chunk of calls on the model."""
    times, ids, names, values = chunk
    values, width, at = values.tolist(), len(names), 0
    for at_ms, customer_id in zip(times, ids):
        if customer_id is None:
            model.advance(at_ms)
        else:
            model.observe(customer_id, dict(zip(names, values[at:at + width])), at_ms)
            at += width


def _train_until_closed(conn: Connection) -> None:
    """The child: the model, the feed's chunks until None, then the model back."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # its parent decides when it stops
    model = conn.recv()
    while (chunk := conn.recv()[1]) is not None:
        train(model, chunk)
    conn.send(model)


class ChurnTrainer:
    """A process that trains `model` on what is given to `feed`; `model()` closes the feed
    and returns the trained model."""

    def __init__(self, model: ChurnModel):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_train_until_closed, name="unify-churn-training",
                                        daemon=True, args=(child,))
        self._process.start()
        child.close()
        self._conn.send(model)
        self.feed = ChurnFeed(self._conn)

    def stop(self) -> None:
        """Kill it (the fold failed)."""
        self._process.kill()
        self._process.join()
        self._conn.close()

    def model(self) -> ChurnModel:
        try:
            self.feed.close()
            return self._conn.recv()
        except (EOFError, BrokenPipeError):
            self._process.join()
            raise RuntimeError(f"churn training ended (exit code {self._process.exitcode})") from None
        finally:
            self._process.join()
            self._conn.close()
