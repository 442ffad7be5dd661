"""Crash safety and restarts against a real broker: kill -9 mid-stream loses and doubles
nothing; a fresh, empty broker plus the lake carries on with the same customer ids."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from streams.broker import EmbeddedBroker
from streams.demo import publish_world
from streams.settings import load
from streams.status import lag_report, wait_until_caught_up
from streams.topics import produce_all, producer
from tests.conftest import ROOT, query, running
from tests.integration.helpers import assert_as_if_uninterrupted, committed_events, known_customer
from unify.synthetic import WorldSpec

pytestmark = pytest.mark.integration


def test_kill_9_at_random_moments_changes_nothing(broker, make_config, tmp_path):
    spec = WorldSpec(people=6000, seed=21)  # ~50,000 CDC events
    config = make_config(broker.bootstrap, batch_size=2000, batch_seconds=0.5, session_timeout=3.0)
    crashed = load(config)
    publish_world(crashed, broker.bootstrap, spec)
    rnd = random.Random(3)

    def lagging() -> bool:
        return any(r.lag for r in lag_report(broker.bootstrap, crashed.input_topics, crashed.lake))

    kills = mid_stream = 0
    while kills < 5 and lagging():  # a fast worker may have written everything before the fifth
        before = committed_events(crashed)
        with running(["run", "-c", str(config)], tmp_path / f"w{kills}.log") as w:
            deadline = time.monotonic() + 90
            while committed_events(crashed) <= before and time.monotonic() < deadline:
                time.sleep(0.1)  # wait until it consumes, then kill it at a random moment
            # (a restarted worker sees some relayed events again: the lake's offsets can step
            # back for a batch before they pass where they were)
            assert committed_events(crashed) > before, "the worker made no progress"
            time.sleep(rnd.uniform(0.0, 1.0))
            mid_stream += lagging()
            w.send_signal(signal.SIGKILL)
            w.wait()
            kills += 1
    assert mid_stream, "no kill hit a worker with events still to write"
    with running(["run", "-c", str(config)], tmp_path / "final.log"):
        wait_until_caught_up(broker.bootstrap, crashed.input_topics, crashed.lake, timeout=300)

    # the same events, uninterrupted, through the same engine from files
    assert_as_if_uninterrupted(crashed, config, tmp_path, spec)


def max_batch(settings, table: str) -> int:
    from sinks.warehouse import connect
    con = connect()
    try:
        return con.execute(f"SELECT coalesce(max(batch), 0) FROM delta_scan('{settings.current_lake / table}')").fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("crash_before", ["customer_links_log:3", "checkpoints:3"])
def test_a_crash_between_a_batch_files_and_its_commit_loses_and_doubles_nothing(
        broker, make_config, tmp_path, crash_before):
    spec = WorldSpec(people=800, seed=4)
    config = make_config(broker.bootstrap, batch_size=1000, batch_seconds=0.3)
    settings = load(config)
    publish_world(settings, broker.bootstrap, spec)
    with open(tmp_path / "crashed.log", "wb") as log:
        crashing = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "integration" / "crashing_worker.py"), "run", "-c", str(config)],
            cwd=ROOT, env={**os.environ, "UNIFY_CRASH_BEFORE": crash_before}, stdout=log,
            stderr=subprocess.STDOUT, timeout=180)
    assert crashing.returncode == -signal.SIGKILL
    # the third batch is half in the lake: some of its tables are written, its commit is not
    assert max_batch(settings, "sales_orders_log") == 3 and max_batch(settings, "checkpoints") == 2
    assert max_batch(settings, "customer_links_log") == (3 if crash_before.startswith("checkpoints") else 2)

    with running(["run", "-c", str(config)], tmp_path / "after.log"):
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.current_lake, timeout=180)
    assert_as_if_uninterrupted(settings, config, tmp_path, spec)


def test_fresh_broker_restores_from_the_lake(make_config, tmp_path):
    spec = WorldSpec(people=300, seed=9)
    with EmbeddedBroker() as first:
        config = make_config(first.bootstrap)
        settings = load(config)
        with running(["run", "-c", str(config)], tmp_path / "first.log"):
            publish_world(settings, first.bootstrap, spec)
            wait_until_caught_up(first.bootstrap, settings.input_topics, settings.lake, timeout=180)
    before = dict(query(settings, "SELECT source || '/' || source_key, customer_id FROM customer_links"))
    # a record of a multi-record customer, and a brand-new record that matches it by e-mail
    ref, cid, email, first_name, row = known_customer(settings, spec)

    with EmbeddedBroker() as second:  # knows nothing: no topics, no offsets
        config = make_config(second.bootstrap)
        data = json.loads(json.dumps(settings.dump()))
        data["broker"]["bootstrap"] = second.bootstrap
        import yaml
        config.write_text(yaml.safe_dump(data))
        settings2 = load(config)
        crm = settings2.engine.source("crm_contacts").topic
        update = {"op": "u", "before": row, "after": {**row, "city": "Shelbyville"},
                  "source": {"ts_ms": 1_900_000_000_000, "lsn": 10**9}}
        twin = {"op": "c", "before": None, "source": {"ts_ms": 1_900_000_000_001, "lsn": 10**9 + 1},
                "after": {**row, "contact_id": "CRM-NEW-1", "email": email, "given_name": first_name,
                          "street": None, "city": None, "state": None, "postal_code": None}}
        with running(["run", "-c", str(config)], tmp_path / "second.log"):
            produce_all(producer(second.bootstrap), [(crm, None, json.dumps(update).encode()),
                                                     (crm, None, json.dumps(twin).encode())])
            wait_until_caught_up(second.bootstrap, settings2.input_topics, settings2.lake, timeout=120)
    after = dict(query(settings, "SELECT source || '/' || source_key, customer_id FROM customer_links"))
    assert {k: after[k] for k in before} == before  # every id kept
    assert after["crm_contacts/CRM-NEW-1"] == cid
    assert query(settings, f"SELECT address1_city FROM dim_customer WHERE customer_id = '{cid}'")[0][0] == "shelbyville"


def test_a_lake_behind_the_consumer_group_is_caught_up_first(broker, make_config, tmp_path):
    """The worker acks a batch once its pipeline process has it, so a kill can leave the
    group's offsets ahead of the lake. Here the group is at the topics' end and the lake empty:
    the worker must process the whole gap from the topics before it consumes."""
    from confluent_kafka import Consumer, TopicPartition
    from streams.worker import prepare_topics

    spec = WorldSpec(people=400, seed=5)
    config = make_config(broker.bootstrap)
    settings = load(config)
    prepare_topics(settings, broker.bootstrap)
    publish_world(settings, broker.bootstrap, spec)
    group = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": settings.stream.app_id,
                      "enable.auto.commit": False})
    try:
        ends = [TopicPartition(t, 0, group.get_watermark_offsets(TopicPartition(t, 0), timeout=10)[1])
                for t in settings.input_topics]
        group.commit(offsets=ends, asynchronous=False)
    finally:
        group.close()
    assert not any(r.committed for r in lag_report(broker.bootstrap, settings.input_topics, settings.lake))

    with running(["run", "-c", str(config)], tmp_path / "w.log"):
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=120)
    assert "caught up" in (tmp_path / "w.log").read_text()
    assert_as_if_uninterrupted(settings, config, tmp_path, spec)
