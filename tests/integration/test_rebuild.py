"""`unify rebuild` against a real broker: the rebuilt dimension equals the live one, readers
see the old version until one switch, and a running worker follows the switch."""
from __future__ import annotations

import json
import threading

import pytest

from streams.demo import publish_world
from streams.relay import unpack
from streams.settings import load
from streams.status import end_offsets, wait_until_caught_up
from streams.topics import produce_all, producer, read_range
from streams.worker import prepare_topics
from tests.conftest import query, running, unify
from tests.integration.helpers import known_customer
from unify.synthetic import WorldSpec

pytestmark = pytest.mark.integration

# Every current-state view, without wall-clock times and the model scores (a live row holds
# the score the model gave when it was written; a rebuild scores everyone with the final
# model), and the segments defined on those scores.
VIEWS = {
    "dim_customer": "* EXCLUDE (churn_score, predicted_value, value_band, segments)",
    "customer_links": "*",
    "match_explanations": "* EXCLUDE (linked_at)",
    "sales_orders": "*",
    "customer_features": "*",
    "customer_brand_affinity": "*",
    "customer_category_affinity": "*",
    "generic_keys": "* EXCLUDE (since)",
    "match_overrides": "*",
    "customer_lineage": "*",
    "dead_letters": "* EXCLUDE (written_at)",
    "customer_segments": "* WHERE segment = 'lapsed'",
}


def tables(settings) -> dict[str, list[tuple]]:
    return {view: sorted(query(settings, f"SELECT {columns.replace(' WHERE', f' FROM {view} WHERE')}"
                                         if " WHERE" in columns else f"SELECT {columns} FROM {view}"), key=repr)
            for view, columns in VIEWS.items()}


def test_rebuild_equals_live_switches_in_one_step_and_the_worker_follows(broker, make_config, tmp_path):
    spec = WorldSpec(people=400, seed=5)
    config = make_config(broker.bootstrap, batch_size=500, batch_seconds=0.3, segments_every_seconds=0)
    settings = load(config)
    first_version = settings.current_lake
    with running(["run", "-c", str(config)], tmp_path / "worker.log"):
        publish_world(settings, broker.bootstrap, spec)
        produce_all(producer(broker.bootstrap), [(settings.input_topics[0], None, b"{not json")])
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.current_lake, timeout=180)
        live = tables(settings)
        assert len(live["dim_customer"]) > 300 and live["dead_letters"]

        expected = query(settings, "SELECT count(*), sum(source_count) FROM dim_customer")[0]
        seen, stop = set(), threading.Event()

        def read_while_rebuilding():  # as a dashboard does, a query every few milliseconds
            while not stop.wait(0.005):
                seen.add(query(settings, "SELECT count(*), sum(source_count) FROM dim_customer")[0])

        reader = threading.Thread(target=read_while_rebuilding)
        reader.start()
        try:
            # written a few rows at a time: every part of the final state must count
            result = unify("rebuild", "-c", str(config), "--rows-per-write", "97")
        finally:
            stop.set()
            reader.join()
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["id_changes"] == {"merged": 0, "split": 0, "created": 0, "deleted": 0}
        assert settings.current_lake != first_version and settings.current_lake.is_relative_to(settings.lake)
        # readers saw one complete dimension throughout, never a half-built one
        assert seen == {expected}
        rebuilt = tables(settings)
        for view in VIEWS:
            assert rebuilt[view] == live[view], (view, [r for r in rebuilt[view] if r not in live[view]][:2], [r for r in live[view] if r not in rebuilt[view]][:2])

        # the running worker moves to the new version: a new record joins a known customer
        ref, cid, email, first_name, row = known_customer(settings, spec)
        twin = {"op": "c", "before": None, "source": {"ts_ms": 1_900_000_000_001, "lsn": 10**9 + 1},
                "after": {**row, "contact_id": "CRM-NEW-1", "email": email, "given_name": first_name}}
        crm = settings.engine.source("crm_contacts").topic
        produce_all(producer(broker.bootstrap), [(crm, None, json.dumps(twin).encode())])
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.current_lake, timeout=120)
        assert query(settings, "SELECT customer_id FROM customer_links "
                               "WHERE source_key = 'CRM-NEW-1'") == [(cid,)]


def test_the_first_worker_after_a_rebuild_reads_on_from_the_rebuilt_version(broker, make_config, tmp_path):
    """A consumer group that never read the topics starts where the rebuild ended, instead
    of forwarding every event again for the writer to find applied already."""
    spec = WorldSpec(people=150, seed=9)
    config = make_config(broker.bootstrap, batch_size=500, batch_seconds=0.3, segments_every_seconds=0)
    settings = load(config)
    prepare_topics(settings, broker.bootstrap)
    published = sum(publish_world(settings, broker.bootstrap, spec).values())
    result = unify("rebuild", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["group_moved_past"] == published
    ref, cid, email, first_name, row = known_customer(settings, spec)
    twin = {"op": "c", "before": None, "source": {"ts_ms": 1_900_000_000_001, "lsn": 10**9 + 1},
            "after": {**row, "contact_id": "CRM-NEW-2", "email": email, "given_name": first_name}}
    with running(["run", "-c", str(config)], tmp_path / "worker.log"):
        produce_all(producer(broker.bootstrap), [(settings.engine.source("crm_contacts").topic, None,
                                                  json.dumps(twin).encode())])
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.current_lake, timeout=120)
        assert query(settings, "SELECT customer_id FROM customer_links WHERE source_key = 'CRM-NEW-2'") == [(cid,)]
    relay = end_offsets(broker.bootstrap, [settings.relay_topic])
    forwarded = [m for records in read_range(broker.bootstrap, {}, relay) for r in records for m in unpack(r[3])]
    assert len(forwarded) == 1
