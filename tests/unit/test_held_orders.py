"""The ledger with its orders on disk against the ledger with its orders in memory."""
from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sinks.held_orders_on_disk import HeldOrdersOnDisk
from tests.unit.test_enrich_ledger import CUSTOMERS, KEYS, SPEC, events
from unify.enrich import ActivityLedger
from unify.enrich.features import DAY


@settings(max_examples=60, deadline=None)
@given(events.flatmap(st.permutations))
def test_orders_on_disk_answer_as_orders_in_memory_after_every_change(shuffled):
    in_memory = ActivityLedger(SPEC)
    store = HeldOrdersOnDisk()
    on_disk = ActivityLedger(SPEC, store)
    try:
        for event in shuffled + shuffled[: len(shuffled) // 2]:  # and some redelivered
            assert on_disk.apply(event) == in_memory.apply(event)
            assert len(on_disk) == len(in_memory)
            for source, key in KEYS:
                assert on_disk.position(source, key) == in_memory.position(source, key)
            for records in CUSTOMERS:
                assert on_disk.features(records, 400 * DAY) == in_memory.features(records, 400 * DAY)
                assert on_disk.orders_since(records, 100 * DAY) == in_memory.orders_since(records, 100 * DAY)
    finally:
        store.close()


def test_the_folder_goes_with_the_store():
    store = HeldOrdersOnDisk()
    folder = Path(store._db.path())
    assert folder.is_dir() and folder.name.startswith("unify-orders-")
    store.close()
    assert not folder.exists()
    again = HeldOrdersOnDisk()
    folder = Path(again._db.path())
    del again  # collected: removed too
    assert not folder.exists()


def test_a_killed_process_folder_goes_when_the_next_store_starts(tmp_path, monkeypatch):
    import subprocess
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its PID names no process
    left = tmp_path / f"unify-orders-{dead.pid}-x1"
    left.mkdir()
    mine = tmp_path / f"unify-orders-{os.getpid()}-x2"  # a live process's: kept
    mine.mkdir()
    store = HeldOrdersOnDisk()
    assert not left.exists() and mine.exists()
    assert Path(store._db.path()).parent == tmp_path
    store.close()
