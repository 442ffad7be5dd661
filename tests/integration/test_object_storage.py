"""The lake on an S3-compatible object store (a real S3 HTTP server process): the worker
writes it, the warehouse's views and the SQL endpoint read it, a rebuild switches versions
on it, erasure with vacuum leaves no personal data in any of its objects, and an outage of
the store loses nothing."""
from __future__ import annotations

import json

import psycopg
import pytest
import s3fs

from sinks.background import BackgroundServer
from sinks.sql_endpoint.server import SqlEndpoint
from streams.broker import free_port
from streams.demo import publish_world
from streams.settings import load
from streams.status import wait_until_caught_up
from tests.conftest import ROOT, query, running, unify
from tests.integration.helpers import assert_as_if_uninterrupted, forwarding, wait_for
from unify.synthetic import WorldSpec

pytestmark = pytest.mark.integration


def lake_objects(url: str) -> dict[str, bytes]:
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    return {path: fs.cat_file(path) for path in fs.find(url.removeprefix("s3://"))}


def test_lake_on_object_storage(broker, make_config, s3_bucket, tmp_path):
    url = f"s3://{s3_bucket}/retail/lake"
    config = make_config(broker.bootstrap, lake=url, batch_seconds=0.3, segments_every_seconds=0)
    settings = load(config)
    assert str(settings.lake) == url and not (tmp_path / "lake").exists()
    spec = WorldSpec(people=300, seed=23)
    with running(["run", "-c", str(config)], tmp_path / "worker.log"):
        publish_world(settings, broker.bootstrap, spec)
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=180)
        assert_as_if_uninterrupted(settings, config, tmp_path, spec)
        assert not (tmp_path / "lake").exists()  # everything went to the object store
        assert any(p.endswith("customer_links_log/_delta_log/00000000000000000000.json")
                   for p in lake_objects(url))

        live = query(settings, "SELECT customer_id, source_count, emailAddress1 FROM dim_customer ORDER BY 1")
        orders = query(settings, "SELECT source, order_key, customer_id, total_amount FROM sales_orders ORDER BY 1, 2")
        assert orders
        same = unify("resolve", "-c", str(config), "--diff-against", url)  # what-if reads it too
        assert same.returncode == 0, same.stderr
        records = query(settings, "SELECT count(*) FROM customer_links")[0][0]
        diff = json.loads(same.stdout)
        assert (diff["merges"], diff["splits"], diff["records"]) == (0, 0, records)
        result = unify("rebuild", "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["id_changes"] == {"merged": 0, "split": 0, "created": 0, "deleted": 0}
        assert str(settings.current_lake) == f"{url}/versions/2"
        assert query(settings, "SELECT customer_id, source_count, emailAddress1 FROM dim_customer ORDER BY 1") == live
        # the rebuild's orders went to the new version in the store, not to a local folder
        assert query(settings, "SELECT source, order_key, customer_id, total_amount FROM sales_orders ORDER BY 1, 2") == orders
        assert any("/versions/2/sales_orders_log/_delta_log/" in p for p in lake_objects(url))
        assert not (ROOT / "s3:").exists()

        cid, email, phone = query(settings, """
            SELECT customer_id, emailAddress1, telephone1 FROM dim_customer
            WHERE source_count >= 2 AND emailAddress1 IS NOT NULL AND telephone1 IS NOT NULL
            ORDER BY customer_id LIMIT 1""")[0]
        erased = unify("erase", "-c", str(config), "--customer-id", cid)
        assert erased.returncode == 0, erased.stderr
        wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.current_lake, timeout=60)
    assert query(settings, f"SELECT count(*) FROM customer_links WHERE customer_id = '{cid}'") == [(0,)]

    compacted = unify("compact", "-c", str(config), "--vacuum", "--retention-hours", "0")
    assert compacted.returncode == 0, compacted.stderr
    objects = lake_objects(url)
    assert not any("/versions/" not in p and "_delta_log" in p for p in objects)  # the first version went
    for personal in (email, phone):
        assert not [p for p, data in objects.items() if personal.encode() in data], personal

    # the SQL endpoint serves views over the object store, with file access still locked down
    with SqlEndpoint(settings.warehouse, port=0, password="pw") as endpoint:
        with psycopg.connect(host="127.0.0.1", port=endpoint.port, user="unify", password="pw",
                             dbname="unify", connect_timeout=10, autocommit=True) as pg:
            assert pg.execute("SELECT count(*) FROM dim_customer").fetchone()[0] == len(live) - 1


def test_an_unsupported_lake_scheme_is_one_line(make_config, tmp_path):
    config = make_config(lake="gs://bucket/lake")
    out = unify("status", "-c", str(config))
    assert out.returncode == 2
    assert out.stderr.strip() == "unify: lake gs://bucket/lake: unsupported scheme 'gs'; use a local folder or s3://bucket/prefix"


def test_the_worker_rides_out_an_object_store_outage(broker, make_config, s3_bucket, s3_server, monkeypatch, tmp_path):
    """The store behind a TCP proxy that the test cuts for a while mid-stream: nothing is lost."""
    port = free_port()
    proxy = BackgroundServer(forwarding, port=port, target=int(s3_server.rsplit(":", 1)[1]))
    proxy.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    config = make_config(broker.bootstrap, lake=f"s3://{s3_bucket}/lake", batch_seconds=0.3,
                         segments_every_seconds=0)
    settings = load(config)
    before, after = WorldSpec(people=200, seed=31), WorldSpec(people=200, seed=32)
    log = tmp_path / "worker.log"
    try:
        with running(["run", "-c", str(config)], log) as worker:
            publish_world(settings, broker.bootstrap, before)
            wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=180)
            proxy.stop()  # the store is gone while new events arrive
            publish_world(settings, broker.bootstrap, after)
            assert wait_for(lambda: "the pipeline failed" in log.read_text(errors="replace"), 60)
            status = unify("status", "-c", str(config), timeout=180)
            assert status.returncode == 1 and len(status.stderr.strip().splitlines()) == 1
            assert f"cannot read the lake s3://{s3_bucket}/lake" in status.stderr
            assert "the worker has failed to write the lake since" in status.stderr
            assert worker.poll() is None
            proxy.start()
            wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=240)
            assert worker.poll() is None
        text = log.read_text(errors="replace")
        assert text.count("the pipeline failed") == 1 and text.count("the pipeline is back") == 1
        assert "Traceback" not in text
        assert_as_if_uninterrupted(settings, config, tmp_path, before, after)
        assert unify("status", "-c", str(config)).returncode == 0  # the outage is over
    finally:
        proxy.stop()
