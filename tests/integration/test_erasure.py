"""Erasure on a real broker: a person leaves the dimension, links, explanations, features and
history at once, and after compaction with vacuum no file of the lake holds their data."""
from __future__ import annotations

import pytest

from streams.demo import publish_world
from streams.settings import load
from streams.status import wait_until_caught_up
from tests.conftest import query, running, unify
from unify.synthetic import WorldSpec

pytestmark = pytest.mark.integration


def lake_bytes(lake) -> bytes:
    return b"".join(p.read_bytes() for p in lake.rglob("*") if p.is_file())


def test_erase_removes_a_person_everywhere(broker, make_config, tmp_path):
    config = make_config(broker.bootstrap, batch_seconds=0.3)
    settings = load(config)
    with running(["run", "-c", str(config)], tmp_path / "w.log"):
        publish_world(settings, broker.bootstrap, WorldSpec(people=300, seed=17))
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=180)
        cid, email, phone, last_name = query(settings, """
            SELECT customer_id, emailAddress1, telephone1, lastName FROM dim_customer
            WHERE source_count >= 2 AND emailAddress1 IS NOT NULL AND telephone1 IS NOT NULL
              AND length(lastName) >= 6
              AND lastName NOT IN (SELECT lastName FROM dim_customer GROUP BY 1 HAVING count(*) > 1)
            ORDER BY customer_id LIMIT 1""")[0]
        assert email.encode() in lake_bytes(settings.lake)  # the grep below can see them
        out = unify("erase", "-c", str(config), "--customer-id", cid, "--reason", "GDPR request 42")
        assert out.returncode == 0, out.stderr
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=60)

    for view, column in (("dim_customer", "customer_id"), ("customer_links", "customer_id"),
                         ("match_explanations", "customer_id"), ("customer_features", "customer_id"),
                         ("dim_customer_history", "customer_id")):
        assert query(settings, f"SELECT count(*) FROM {view} WHERE {column} = '{cid}'")[0][0] == 0, view
    assert query(settings, f"SELECT count(*) FROM customer_links WHERE emailAddress1 = '{email}'")[0][0] == 0
    erasures = query(settings, "SELECT customer_id, records, reason FROM erasures")
    assert erasures[0][0] == cid and erasures[0][1] >= 2 and erasures[0][2] == "GDPR request 42"

    compacted = unify("compact", "-c", str(config), "--vacuum", "--retention-hours", "0")
    assert compacted.returncode == 0, compacted.stderr
    data = lake_bytes(settings.lake)
    for personal in (email, phone, last_name):
        assert personal.encode() not in data, personal
