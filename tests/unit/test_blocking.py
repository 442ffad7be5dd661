"""The block index against a plain dict of sets, over any sequence of adds and removes: its
compact forms (a record, a few records, a set) must answer as the sets would."""
from __future__ import annotations

from hypothesis import given, strategies as st

from unify.blocking import FEW, BlockIndex

rids = st.tuples(st.sampled_from(["crm", "pos"]), st.sampled_from([str(i) for i in range(FEW + 4)]))
steps = st.lists(st.tuples(st.booleans(), st.sampled_from(["k1", "k2"]), rids), max_size=120)


@given(steps, st.sampled_from([2, 3, FEW - 1, FEW, FEW + 1, 50]))
def test_answers_as_sets_do(steps, max_size):
    index, model = BlockIndex(max_size), {"k1": set(), "k2": set()}
    for add, key, rid in steps:
        before = len(model[key])
        if add:
            model[key].add(rid)
            tipped = index.add(key, rid)
            assert tipped == ("became_generic" if before == max_size and len(model[key]) == max_size + 1 else None)
        else:
            model[key].discard(rid)
            dropped = index.remove(key, rid)
            assert dropped == ("became_specific" if before == max_size + 1 and len(model[key]) == max_size else None)
        for k, members in model.items():
            assert index.members(k) == members
            assert index.size(k) == len(members)
            assert index.is_generic(k) == (len(members) > max_size)
        specific = set().union(*(m for m in model.values() if len(m) <= max_size))
        assert index.candidates(["k1", "k2", "k3"]) == specific
    assert index.generic_keys() == sorted(k for k, m in model.items() if len(m) > max_size)
