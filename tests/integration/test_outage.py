"""The broker going away for a while, against a real broker behind a TCP proxy that the test
cuts: the worker says so once, `unify status` says so, and the worker resumes without loss."""
from __future__ import annotations

import time

import pytest

from sinks.background import BackgroundServer
from streams.broker import EmbeddedBroker, free_port
from streams.demo import publish_world
from streams.settings import load
from streams.status import wait_until_caught_up
from tests.conftest import running, unify
from tests.integration.helpers import assert_as_if_uninterrupted, forwarding, wait_for
from unify.synthetic import WorldSpec

pytestmark = pytest.mark.integration


def test_the_worker_rides_out_a_broker_outage(make_config, tmp_path):
    port = free_port()
    with EmbeddedBroker(advertised_port=port) as broker:
        proxy = BackgroundServer(forwarding, port=port, target=broker.port)
        proxy.start()
        bootstrap = f"127.0.0.1:{port}"
        config = make_config(bootstrap, batch_seconds=0.3, session_timeout=6.0)
        settings = load(config)
        before, after = WorldSpec(people=300, seed=8), WorldSpec(people=300, seed=9)
        log = tmp_path / "worker.log"
        try:
            with running(["run", "-c", str(config)], log):
                publish_world(settings, bootstrap, before)
                wait_until_caught_up(bootstrap, settings.input_topics, settings.current_lake, timeout=180)

                proxy.stop()  # the broker is gone for every client
                assert wait_for(lambda: "unreachable" in log.read_text(errors="replace"), 30)
                status = unify("status", "-c", str(config), timeout=120)
                assert status.returncode != 0 and len(status.stderr.strip().splitlines()) == 1
                assert "cannot reach the broker" in status.stderr and "unreachable since" in status.stderr
                time.sleep(10)

                proxy.start()  # back, with everything it had
                publish_world(settings, bootstrap, after)
                wait_until_caught_up(bootstrap, settings.input_topics, settings.current_lake, timeout=240)
                assert wait_for(lambda: "back after" in log.read_text(errors="replace"), 30)
        finally:
            proxy.stop()
    text = log.read_text(errors="replace")
    assert text.count("unreachable;") == 1 and text.count("back after") == 1

    assert_as_if_uninterrupted(settings, config, tmp_path, before, after)
