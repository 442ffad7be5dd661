"""The relay record format: messages go through whole, in order, in bounded records."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streams.pipeline import Message
from streams.relay import batches, pack, unpack

messages = st.lists(st.builds(Message, st.sampled_from(["crm.contacts", "pos.orders", "ünïcode.topic"]),
                              st.integers(0, 63), st.integers(0, 2**62),
                              st.none() | st.binary(max_size=300)), max_size=60)


@given(messages, st.integers(1, 1000))
def test_pack_then_unpack_gives_back_every_message_in_order(batch, max_bytes):
    records = list(pack(batch, max_bytes))
    assert [m for r in records for m in unpack(r)] == batch


@given(messages, st.integers(1, 2000))
def test_a_record_exceeds_the_limit_only_to_carry_one_message(batch, max_bytes):
    for record in pack(batch, max_bytes):
        framing = 5 + len('[[], []]') + sum(len(t) + 3 for t in {m.topic.encode() for m in unpack(record)})
        assert len(record) <= max_bytes + framing or len(unpack(record)) == 1


def test_tombstones_too_fill_records_by_their_header():
    records = list(pack([Message("t", 0, 2**62 + n, None) for n in range(1000)], 4096))
    assert len(records) > 1 and all(len(r) <= 4096 + 32 for r in records)


def test_a_record_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="not a relay record"):
        unpack(b'{"op": "c"}')


@given(st.lists(messages, max_size=12), st.integers(1, 80))
def test_batches_take_whole_records_in_order_and_say_where_the_relay_goes_on(runs, batch_size):
    records = [(10 + n, record) for n, record in enumerate(r for run in runs for r in pack(run, 200))]
    pending = iter(records)
    for packed, after in batches(records, batch_size):
        batch = [m for record in packed for m in unpack(record)]
        taken, offset = [], None
        while len(taken) < len(batch):
            offset, record = next(pending)
            taken += unpack(record)
        assert taken == batch and after == offset + 1
        assert len(batch) <= batch_size or len(batch) == len(unpack(records[offset - 10][1]))
    assert next(pending, None) is None
