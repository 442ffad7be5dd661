"""The worker against a real broker: a generated world lands in Delta and the views match
the truth; bad input is dead-lettered and the stream goes on; a restart keeps ids."""
from __future__ import annotations

import json
import re
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from deltalake import DeltaTable

from streams.demo import accuracy_against_truth, publish_world
from streams.settings import load
from streams.status import wait_until_caught_up
from streams.topics import produce_all, producer
from tests.conftest import query, running, unify as unify_cli
from tests.integration.helpers import assert_as_if_uninterrupted, dimension, wait_for
from unify.synthetic import WorldSpec, generate

pytestmark = pytest.mark.integration


def read_topic(bootstrap, topic, idle=2.0):
    """Every message of partition 0, read until the topic stays quiet for `idle` seconds.

    (Not up to the high watermark: the embedded broker under-reports it for batches
    produced by aiokafka, which Faust uses.)"""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    found, quiet = [], 0.0
    try:
        while quiet < idle:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                quiet += 0.2
            else:
                found.append(msg)
                quiet = 0.0
    finally:
        consumer.close()
    return found


def compacted_rows(settings, log: str) -> int:
    from sinks.lake import uri
    from sinks.warehouse import connect
    con = connect()
    try:
        return con.execute(f"SELECT count(*) FROM delta_scan('{uri(settings.current_lake / log)}') "
                           "WHERE compacted").fetchone()[0]
    finally:
        con.close()


def test_world_to_views_dead_letters_and_restart(broker, make_config, tmp_path):
    config = make_config(broker.bootstrap, batch_seconds=0.5)
    settings = load(config)
    topics = settings.input_topics
    spec = WorldSpec(people=2000, seed=11)
    crm = settings.engine.source("crm_contacts").topic
    bad = [b"{not json", b"[1, 2]", json.dumps({"op": "z", "after": {}}).encode(),
           json.dumps({"op": "c", "after": {"given_name": "no key"}, "source": {"ts_ms": 1, "lsn": 1}}).encode()]

    with running(["run", "-c", str(config), "--bootstrap", broker.bootstrap], tmp_path / "w1.log") as w:
        counts = publish_world(settings, broker.bootstrap, spec)
        produce_all(producer(broker.bootstrap), ((crm, None, raw) for raw in bad))
        wait_until_caught_up(broker.bootstrap, topics, settings.lake, timeout=300)
        assert w.poll() is None
        # once the stream is quiet the worker compacts, and the views read the same dimension
        live = dimension(settings)
        assert wait_for(lambda: compacted_rows(settings, "customer_links_log") > 0, 60)
        assert dimension(settings) == live and w.poll() is None

    acc, records, customers = accuracy_against_truth(settings, spec)
    assert acc.precision >= 0.97, acc
    assert acc.recall >= 0.93, acc
    assert customers < records
    # every live source record is linked exactly once
    (dupes,) = query(settings, "SELECT count(*) - count(DISTINCT (source, source_key)) FROM customer_links")[0:1][0]
    assert dupes == 0
    # spend in the dimension is the spend of linked, live orders
    dim_spend, linked_spend = query(settings, """
        SELECT (SELECT round(sum(total_spend), 2) FROM dim_customer),
               (SELECT round(sum(total_amount), 2) FROM sales_orders WHERE customer_id IS NOT NULL)""")[0]
    assert dim_spend == linked_spend and dim_spend > 0
    assert query(settings, "SELECT count(*) FROM sales_orders")[0][0] > counts["pos_tickets"] * 0.9

    from sinks.delta import dead_letter_counts
    assert dead_letter_counts(settings.lake) == {(crm, 0): 4}
    reasons = [r for (r,) in query(settings, "SELECT reason FROM dead_letters ORDER BY \"offset\"")]
    assert len(reasons) == 4
    assert "invalid JSON" in reasons[0] and "missing key column" in reasons[3]
    dlq = read_topic(broker.bootstrap, settings.stream.dead_letter_topic)
    assert sorted(m.value() for m in dlq) == sorted(bad)
    assert all(dict(m.headers())["topic"] == crm.encode() for m in dlq)

    # Restart: state comes back from the lake, an update keeps the customer's id.
    key, cid = query(settings, """SELECT source_key, customer_id FROM customer_links
                                  WHERE source = 'crm_contacts' ORDER BY source_key LIMIT 1""")[0]
    row = next(env["after"] for name, env in generate(spec)
               if name == "crm_contacts" and env["after"] and env["after"]["contact_id"] == key)
    update = {"op": "u", "before": row, "after": {**row, "city": "Springfield"},
              "source": {"ts_ms": 1_900_000_000_000, "lsn": 10**9}}
    with running(["run", "-c", str(config), "--bootstrap", broker.bootstrap], tmp_path / "w2.log") as w:
        produce_all(producer(broker.bootstrap), [(crm, key.encode(), json.dumps(update).encode())])
        wait_until_caught_up(broker.bootstrap, topics, settings.lake, timeout=120)
    assert query(settings, f"SELECT customer_id FROM customer_links WHERE source_key = '{key}'")[0][0] == cid
    city = query(settings, f"SELECT address1_city FROM dim_customer WHERE customer_id = '{cid}'")[0][0]
    assert city == "springfield"

    # Lineage events are on their compacted topic, keyed by customer id.
    lineage = read_topic(broker.bootstrap, settings.stream.lineage_topic)
    events = [json.loads(m.value()) for m in lineage]
    assert {"created", "merged"} <= {e["event"] for e in events}
    assert all(m.key().decode() == e["customer_id"] for m, e in zip(lineage, events))


def test_overrides_merge_and_split_at_once(broker, make_config, tmp_path):
    config = make_config(broker.bootstrap, batch_seconds=0.3)
    settings = load(config)
    spec = WorldSpec(people=300, seed=5)
    with running(["run", "-c", str(config), "--bootstrap", broker.bootstrap], tmp_path / "w.log"):
        publish_world(settings, broker.bootstrap, spec)
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=180)
        # two single-record customers, the older first
        (a, ida), (b, idb) = query(settings, """
            SELECT source || '/' || source_key, customer_id FROM customer_links
            WHERE customer_id IN (SELECT customer_id FROM dim_customer WHERE source_count = 1)
            ORDER BY customer_id LIMIT 2""")
        # a two-record customer held together by one link
        left, right, pair_id = query(settings, """
            SELECT left_source || '/' || left_key, right_source || '/' || right_key, customer_id
            FROM match_explanations WHERE customer_id IN
                 (SELECT customer_id FROM dim_customer WHERE source_count = 2)
            ORDER BY customer_id LIMIT 1""")[0]
        for args in (["--always", a, b], ["--never", left, right]):
            out = unify_cli("override", "-c", str(config), *args)
            assert out.returncode == 0, out.stderr
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=60)
    ids = dict(query(settings, f"""SELECT source || '/' || source_key, customer_id FROM customer_links
                                   WHERE source || '/' || source_key IN ('{a}', '{b}', '{left}', '{right}')"""))
    assert ids[a] == ids[b] == min(ida, idb)
    assert ids[left] != ids[right] and pair_id in (ids[left], ids[right])
    kinds = {k for (k,) in query(settings, "SELECT kind FROM match_overrides")}
    assert kinds == {"always", "never"}
    events = {e for (e,) in query(settings, "SELECT event FROM customer_lineage WHERE cause LIKE '%_match:%'")}
    assert events == {"merged", "split"}


def test_a_purchase_reaches_features_and_scores_within_seconds(broker, make_config, tmp_path):
    config = make_config(broker.bootstrap, batch_seconds=0.3, segments_every_seconds=0)
    settings = load(config)
    spec = WorldSpec(people=400, seed=13)
    tickets = settings.engine.source("pos_tickets").topic
    with running(["run", "-c", str(config)], tmp_path / "w.log"):
        publish_world(settings, broker.bootstrap, spec)
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=180)
        member, cid, orders, spend = query(settings, """
            SELECT l.source_key, d.customer_id, d.order_count, d.total_spend
            FROM customer_links l JOIN dim_customer d USING (customer_id)
            WHERE l.source = 'pos_customers' AND d.order_count > 0 ORDER BY 2 LIMIT 1""")[0]
        latest = query(settings, "SELECT max(ordered_at) FROM sales_orders")[0][0]
        ticket = {"op": "c", "before": None, "source": {"ts_ms": 1_900_000_000_000, "lsn": 10**9},
                  "after": {"ticket_id": 99_999_999, "member_id": int(member), "store_id": "S001",
                            "channel": "store", "ts": latest.isoformat(), "total": 123.45, "currency": "USD",
                            "lines": [{"sku": "X-1", "brand": "Brandnew", "category": "shoes", "qty": 1,
                                       "unit_price": 123.45}]}}
        produced = time.monotonic()
        produce_all(producer(broker.bootstrap), [(tickets, str(member).encode(), json.dumps(ticket).encode())])
        row = None
        while time.monotonic() - produced < 30:
            row = query(settings, f"""SELECT d.order_count, d.total_spend, s.churn_score, d.recency_days
                                      FROM dim_customer d JOIN customer_scores s USING (customer_id)
                                      WHERE customer_id = '{cid}'""")[0]
            if row[0] == orders + 1:
                break
            time.sleep(0.2)
    assert row[0] == orders + 1 and round(row[1] - spend, 2) == 123.45
    assert row[2] is not None and row[3] == 0.0
    brands = [b for (b,) in query(settings, f"SELECT brand FROM customer_brand_affinity WHERE customer_id = '{cid}'")]
    assert "Brandnew" in brands


def test_the_worker_compacts_beside_the_stream(broker, make_config, tmp_path):
    # compaction only for the rows written since the last one (not when idle), on a steady
    # stream: batches keep committing while it rewrites the logs, CDC deletes purge them
    # meanwhile, and nothing is lost
    config = make_config(broker.bootstrap, batch_seconds=0.2, batch_size=300, compact_when_idle_seconds=0,
                         compact_after_rows=1_500, compact_after_share=0.1)
    settings = load(config)
    spec = WorldSpec(people=1500, seed=23, delete_rate=0.05)
    with running(["run", "-c", str(config), "--bootstrap", broker.bootstrap], tmp_path / "worker.log") as w:
        # slow enough that the niced compaction process finishes one while events still come
        publish_world(settings, broker.bootstrap, spec, on_sent=lambda sent: time.sleep(sent / 400))
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=300)
        assert w.poll() is None
    # the links log's commits: compactions (overwrites) with batches appended between them
    history = [e for e in reversed(DeltaTable(str(settings.current_lake / "customer_links_log")).history())]
    kinds = "".join("c" if e["operationParameters"].get("mode") == "Overwrite" else "a"
                    for e in history if e["operation"] == "WRITE")
    assert re.search("c+a+c", kinds), kinds
    log = (tmp_path / "worker.log").read_text()
    assert "the pipeline failed" not in log and "Traceback" not in log
    assert_as_if_uninterrupted(settings, config, tmp_path, spec)
