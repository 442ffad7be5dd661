"""Read the resolver's state back from the lake (after a restart, a new broker, a what-if).

The lake is the system of record: the latest row of every source record, with its customer
id, plus the overrides, is enough to rebuild the link graph and keep ids stable.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Iterator

import pyarrow.parquet as pq

from deltalake import DeltaTable

from sinks.lake import location, uri
from sinks.warehouse import connect
from unify.cdm import OrderChange, Override, kept
from unify.resolver import LinkRow, Resolver


def has_rows(table: Path) -> bool:
    """Whether a Delta table exists there and holds any file."""
    return (table / "_delta_log").exists() and bool(DeltaTable(str(table)).file_uris())


def read_state(lake: Path, attributes: tuple[str, ...], chunk: int = 20_000) -> tuple[list[Override], Iterator[LinkRow]]:
    """Overrides in the order they were applied, and the latest row of every source record,
    streamed `chunk` rows at a time: a worker restores them into a resolver as they come
    instead of holding a list of them all (about 290 bytes a record less after the links at
    100k people)."""
    lake = location(lake)
    log, overrides_log = lake / "customer_links_log", lake / "overrides_log"
    if not has_rows(log):
        return [], iter(())
    overrides = []
    if has_rows(overrides_log):
        con = connect()
        try:
            overrides = [Override((ls, lk), (rs, rk), kind, at) for kind, ls, lk, rs, rk, at in con.execute(f"""
                SELECT kind, left_source, left_key, right_source, right_key, epoch_ms("at")
                FROM delta_scan('{uri(overrides_log)}') ORDER BY batch""").fetchall()]
        finally:
            con.close()
    return overrides, _links(log, attributes, chunk)


def _links(log: Path, attributes: tuple[str, ...], chunk: int) -> Iterator[LinkRow]:
    available = set(DeltaTable(str(log)).schema().to_arrow().names)
    wanted = [a for a in attributes if a in available]
    cols = "".join(f', "{a}"' for a in wanted)
    con = connect()
    try:
        batches = con.execute(f"""
            SELECT source, source_key, customer_id, deleted, position,
                   epoch_ms(event_at), epoch_ms(first_at){cols}
            FROM delta_scan('{uri(log)}')
            QUALIFY row_number() OVER (PARTITION BY source, source_key ORDER BY batch DESC) = 1
            ORDER BY first_at, source, source_key""").fetch_record_batch(chunk)
        for batch in batches:  # through Arrow, as `OrderChanges` reads its rows
            for r in zip(*(column.to_pylist() for column in batch.columns)):
                # one int for both times of a record never updated (most): 32 bytes less
                first_ms = r[5] if r[6] == r[5] else r[6]
                yield LinkRow(sys.intern(r[0]), r[1], r[2], None, None, None, None, r[3], r[4], r[5], first_ms,
                              {a: kept(a, v) for a, v in zip(wanted, r[7:]) if v is not None})
    finally:
        con.close()


def restore_resolver(resolver: Resolver, lake: Path, attributes: tuple[str, ...]) -> None:
    overrides, links = read_state(lake, attributes)
    for o in overrides:
        resolver.override(o.left, o.right, o.kind, o.at_ms)
    resolver.restore(links)


@contextmanager
def sorted_orders(lake: Path, chunk: int = 20_000) -> Iterator[OrderChanges]:
    """The lake's current orders in event-time order (cancelled ones as deletes, so their
    positions are known), to rebuild activity state from. Sorted on entering, into a scratch
    file, then streamed from it `chunk` at a time: the sort takes memory for a moment, so
    enter before the state being rebuilt grows."""
    log = location(lake) / "sales_orders_log"
    if not has_rows(log):
        yield OrderChanges(None, chunk)
        return
    with TemporaryDirectory(prefix="unify-order-sort-") as scratch:
        # A file, not DuckDB's result: that would hold every order (about 400 bytes each)
        # while they are folded. The sort has DuckDB's default memory limit: under a tight
        # one (1 GB at 1M people) its window fails, under 256 MB it spills and takes three
        # times as long.
        path = Path(scratch) / "orders.parquet"
        con = connect()
        try:
            con.execute(f"SET temp_directory='{scratch}'")
            con.execute(f"""COPY (
                SELECT source, order_key, deleted, position, customer_source, customer_key,
                       epoch_ms(ordered_at) AS ordered_ms, total_amount, currency, store_id, channel, lines
                FROM delta_scan('{uri(log)}')
                QUALIFY row_number() OVER (PARTITION BY source, order_key ORDER BY position DESC, batch DESC) = 1
                ORDER BY deleted, ordered_at, source, order_key) TO '{path}' (FORMAT parquet)""")
        finally:
            con.close()
        yield OrderChanges(path, chunk)


class OrderChanges:
    """The sorted orders: how many, and each as an `OrderChange`, `chunk` at a time."""

    def __init__(self, path: Path | None, chunk: int):
        self._file = None if path is None else pq.ParquetFile(path)
        self._chunk = chunk

    def __len__(self) -> int:
        return 0 if self._file is None else self._file.metadata.num_rows

    def __iter__(self) -> Iterator[OrderChange]:
        if self._file is None:
            return
        # through Arrow: a column's values come out about twice as fast as DuckDB's rows
        for batch in self._file.iter_batches(self._chunk):
            for src, key, deleted, pos, cs, ck, at, amount, cur, store, channel, lines in zip(
                    *(column.to_pylist() for column in batch.columns)):
                yield OrderChange(src, key, "delete", pos, 0, {}) if deleted else OrderChange(
                    src, key, "upsert", pos, at, {
                        "customerSource": cs, "customerRef": ck, "orderedMs": at, "totalAmount": amount,
                        "currency": cur, "storeId": store, "channel": channel, "lines": lines or []})
