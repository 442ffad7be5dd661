"""The ledger's orders in a local RocksDB, so that a worker's memory does not grow with them.

A worker holds every live order to take it back out when it changes: in memory that is
about 450 bytes each, 3-4 orders per source record. Here an order is an entry of a RocksDB
(through `rocksdict`, Faust's own RocksDB driver), whose memory is its write buffer and
block cache, the same at any size. Only each record's order times and amounts stay in
memory (16 bytes an order), for the purchase span and the recent purchases.

The database is scratch: the lake is the system of record and a worker rebuilds this at
every start, so it is written without a write-ahead log, in a temporary folder (under
TMPDIR) removed when the store is closed or collected, or the process exits; the folder of
a killed process goes when the next store starts.
"""
from __future__ import annotations

import os
import shutil
import weakref
from array import array
from collections.abc import Iterable
from pathlib import Path
from tempfile import gettempdir, mkdtemp

import orjson
from rocksdict import Options, Rdict, WriteOptions

from unify.enrich.orders import HeldOrder, RecordId

CACHE_MB = 16  # RocksDB's block cache
PREFIX = "unify-orders-"  # then the PID of the process whose store it is


def _remove(db: Rdict, scratch: str) -> None:
    db.close()
    shutil.rmtree(scratch, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _sweep(parent: Path) -> None:
    """Remove the folders of processes that were killed before they could (by PID)."""
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class HeldOrdersOnDisk:
    """An `unify.enrich.held_orders.OrderStore` in a temporary RocksDB."""

    def __init__(self):
        _sweep(Path(gettempdir()))
        scratch = mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
        options = Options(raw_mode=True)
        # Bloom filters: most lookups are of new orders, which a filter answers without a
        # read (without them a miss cost 4 us at 0.5M orders and 15 us at 2M).
        options.optimize_for_point_lookup(CACHE_MB)
        options.set_memtable_whole_key_filtering(True)
        self._db = Rdict(scratch, options)
        # closed and removed by `close`, when the store is collected, or at the process's exit
        self.close = weakref.finalize(self, _remove, self._db, scratch)
        unlogged = WriteOptions()
        unlogged.disable_wal = True
        self._db.set_write_options(unlogged)
        self._of: dict[RecordId, array] = {}  # (ordered_ms, cents, ordered_ms, cents, ...)
        self._live = 0
        # The ledger asks about a key up to three times per change (is it new, which record,
        # apply): the last answer is kept.
        self._last: tuple[tuple[str, str] | None, HeldOrder | int | None] = (None, None)

    def __len__(self) -> int:
        return self._live

    def get(self, source: str, key: str) -> HeldOrder | int | None:
        at = source, key
        if self._last[0] == at:
            return self._last[1]
        value = self._db.get(f"{source}\0{key}".encode())
        found = None if value is None else orjson.loads(value)
        if isinstance(found, list):
            position, record_source, record_key, ordered_ms, cents, channel, store, lines = found
            found = HeldOrder(position, (record_source, record_key), ordered_ms, cents, channel, store, tuple(lines))
        self._last = at, found
        return found

    def put(self, source: str, key: str, order: HeldOrder | int) -> None:
        at = f"{source}\0{key}".encode()
        if isinstance(order, int):
            self._db[at] = orjson.dumps(order)
        else:
            self._live += 1
            self._db[at] = orjson.dumps((order.position, *order.record, order.ordered_ms, order.cents,
                                         order.channel, order.store, order.lines))
            pairs = self._of.get(order.record)
            if pairs is None:
                pairs = self._of[order.record] = array("q")
            pairs += array("q", (order.ordered_ms, order.cents))
        self._last = (source, key), order

    def discard(self, source: str, key: str, order: HeldOrder) -> None:
        self._live -= 1
        pairs = self._of[order.record]
        for i in range(0, len(pairs), 2):
            if pairs[i] == order.ordered_ms and pairs[i + 1] == order.cents:
                del pairs[i:i + 2]
                break
        if not pairs:
            del self._of[order.record]
        self._last = (None, None)  # the key is put again right after

    def times(self, record: RecordId) -> list[int]:
        return list(self._of.get(record, ())[::2])

    def since(self, records: Iterable[RecordId], since_ms: int) -> list[tuple[int, int]]:
        return sorted((pairs[i], pairs[i + 1]) for r in set(records) for pairs in [self._of.get(r, ())]
                      for i in range(0, len(pairs), 2) if pairs[i] > since_ms)

    def shared(self, record: RecordId) -> RecordId:
        return record
