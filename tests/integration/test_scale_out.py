"""Scale-out against a real broker: two workers with one app id share the source partitions;
a worker that joins or dies mid-stream moves partitions, and the writer's role, without loss."""
from __future__ import annotations

import re
import signal
import threading
import time

import pytest

from streams.demo import publish_world
from streams.settings import load
from streams.status import wait_until_caught_up
from tests.conftest import running
from tests.integration.helpers import assert_as_if_uninterrupted, committed_events
from unify.synthetic import WorldSpec

pytestmark = pytest.mark.integration


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def assignments(log) -> list[set[str]]:
    """Each assignment a worker logged: its topic-partitions."""
    return [set(re.findall(r"[\w.-]+\[\d+\]", line))
            for line in log.read_text(errors="replace").splitlines() if "assigned " in line]


def test_workers_share_the_partitions_and_a_writer_killed_in_a_rebalance_loses_nothing(broker, make_config, tmp_path):
    spec = WorldSpec(people=6000, seed=33)  # ~50,000 CDC events
    config = make_config(broker.bootstrap, partitions=4, batch_size=2000, batch_seconds=0.3, session_timeout=3.0)
    settings = load(config)
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "c")}
    sources = {s.topic for s in settings.engine.sources}

    def shared(*names) -> bool:
        """These workers' latest assignments all hold source partitions, and together all of them."""
        latest = [assignments(logs[n])[-1] if assignments(logs[n]) else set() for n in names]
        held = [{tp for tp in a if tp.split("[")[0] in sources} for a in latest]
        every = [tp for h in held for tp in h]
        return all(held) and len(every) == len(set(every)) == 4 * len(sources)

    def said(name: str, what: str) -> int:
        return logs[name].read_text(errors="replace").count(what)

    def writes(name: str) -> bool:
        """Whether the worker holds the relay partition: it said so last."""
        lines = [line for line in logs[name].read_text(errors="replace").splitlines() if "writes the lake" in line]
        return bool(lines) and "this worker writes the lake" in lines[-1]

    # CDC keeps arriving, at about 1,000 events/s, while workers come and go
    publisher = threading.Thread(target=publish_world, args=(settings, broker.bootstrap, spec),
                                 kwargs={"on_sent": lambda n: time.sleep(n / 1000)}, daemon=True)
    with running(["run", "-c", str(config)], logs["a"]) as a:
        publisher.start()
        wait_for(lambda: committed_events(settings) > 0, 120, "the first worker to commit")
        with running(["run", "-c", str(config)], logs["b"]):  # joins mid-stream
            wait_for(lambda: shared("a", "b"), 60, "two workers to share the source partitions")
            during = committed_events(settings)
            wait_for(lambda: committed_events(settings) > during, 60, "progress with two workers")
            assert writes("a") and not writes("b")  # the writer's partition stayed where it was
            rebalances = said("a", "rebalancing")
            with running(["run", "-c", str(config)], logs["c"]):  # a third joins...
                wait_for(lambda: said("a", "rebalancing") > rebalances, 60, "a rebalance")
                assert publisher.is_alive(), "the stream ended before the writer died"
                a.send_signal(signal.SIGKILL)  # ...and the writer dies in the rebalance, its child with it
                a.wait()
                publisher.join()
                wait_until_caught_up(broker.bootstrap, settings.input_topics, settings.lake, timeout=300)
                wait_for(lambda: shared("b", "c"), 60, "the two others to share the source partitions")
                # one of them took the relay partition and restored the state from the lake
                assert writes("b") != writes("c")

    assert_as_if_uninterrupted(settings, config, tmp_path, spec)
