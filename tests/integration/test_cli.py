"""The CLI as a user runs it: help, config errors, files in and out, the embedded broker."""
from __future__ import annotations

import csv
import io
import json
import os
import time

import pytest
import yaml

from streams.broker import runtime_file
from tests.conftest import processes_matching, running, unify

pytestmark = pytest.mark.integration

VERBS = ["demo", "broker", "run", "generate", "produce", "sql", "status", "resolve", "explain",
         "override", "erase", "serve", "compact", "export-cdm", "docs", "bench"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb):
    result = unify(verb, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_bad_config_is_one_line_per_problem_and_no_traceback(tmp_path, make_config):
    config = make_config()
    data = yaml.safe_load(config.read_text())
    data["match"]["rules"][0]["level"] = "certain"
    config.write_text(yaml.safe_dump(data))
    result = unify("status", "-c", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("unify: match.rules.0.level")
    missing = unify("sql", "-c", str(tmp_path / "nope.yaml"), "SELECT 1")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_generate_then_resolve_files_then_query(tmp_path, make_config):
    config = make_config()
    out = tmp_path / "world"
    gen = unify("generate", "--people", "300", "--seed", "3", "--out", str(out))
    assert gen.returncode == 0, gen.stderr
    truth = [json.loads(l) for l in (out / "truth.jsonl").read_text().splitlines()]
    live = {(t["source"], t["key"]) for t in truth if t["kind"] == "record" and not t["deleted"]}
    inputs = [f"--input={name}={out / (name + '.jsonl')}" for name in
              ("pos_customers", "crm_contacts", "erp_customers", "pos_tickets", "erp_orders")]
    res = unify("resolve", "-c", str(config), *inputs, "--lake", str(tmp_path / "lake"))
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["source_records"] == len(live) and summary["dead_letters"] == 0
    as_json = unify("sql", "-c", str(config), "--format", "json",
                    "SELECT source, source_key FROM customer_links")
    rows = [json.loads(l) for l in as_json.stdout.splitlines()]
    assert {(r["source"], r["source_key"]) for r in rows} == live
    as_csv = unify("sql", "-c", str(config), "--format", "csv", "SELECT count(*) AS n FROM dim_customer")
    (n,) = [int(r["n"]) for r in csv.DictReader(io.StringIO(as_csv.stdout))]
    assert n == summary["customers"] < len(live)
    bad_sql = unify("sql", "-c", str(config), "SELECT nope FROM dim_customer")
    assert bad_sql.returncode == 1 and bad_sql.stderr.startswith("unify: query failed")

    # why is a customer one customer
    cid = unify("sql", "-c", str(config), "--format", "csv",
                "SELECT customer_id FROM dim_customer WHERE source_count = 3 LIMIT 1").stdout.split()[1]
    explained = unify("explain", "-c", str(config), cid)
    assert explained.returncode == 0 and f"customer {cid}: 3 source record(s)" in explained.stdout
    assert sum(" -- " in line for line in explained.stdout.splitlines()) == 2  # spans three records

    # what-if: the same rules change nothing; a loose extra rule merges customers
    same = json.loads(unify("resolve", "-c", str(config), "--diff-against", str(tmp_path / "lake")).stdout)
    assert (same["merges"], same["splits"], same["records"]) == (0, 0, len(live))
    data = yaml.safe_load(config.read_text())
    data["match"]["rules"].append({"name": "last_name_only", "level": "low",
                                   "conditions": [{"attribute": "lastName"}]})
    loose = tmp_path / "loose.yaml"
    loose.write_text(yaml.safe_dump(data))
    what_if = json.loads(unify("resolve", "-c", str(loose), "--diff-against", str(tmp_path / "lake")).stdout)
    assert what_if["merges"] > 0 and what_if["merge_examples"][0]["because"]["rule"] == "last_name_only"
    assert json.loads(unify("sql", "-c", str(config), "--format", "json",
                            "SELECT count(*) AS n FROM dim_customer").stdout)["n"] == summary["customers"]


def test_run_embedded_then_produce_and_status_wait_with_a_second_worker(tmp_path, make_config):
    config = make_config()  # broker.bootstrap: embedded
    files = tmp_path / "world"
    assert unify("generate", "--people", "200", "--out", str(files)).returncode == 0
    lake = tmp_path / "lake"
    with running(["run", "-c", str(config)], tmp_path / "run.log") as run:
        for _ in range(200):
            if runtime_file(lake).exists():
                break
            time.sleep(0.1)
        broker_pid = json.loads(runtime_file(lake).read_text())["broker_pid"]
        # a second worker of the same lake joins the first one's broker, and leaves it running
        with running(["run", "-c", str(config)], tmp_path / "second.log") as second:
            for source in ("crm_contacts", "pos_customers", "pos_tickets"):
                p = unify("produce", "-c", str(config), "--source", source, str(files / f"{source}.jsonl"))
                assert p.returncode == 0, p.stderr
            status = unify("status", "-c", str(config), "--wait", "--timeout", "180")
            assert status.returncode == 0, status.stderr
            assert second.poll() is None
            assert "joining the embedded broker" in (tmp_path / "second.log").read_text()
        assert json.loads(runtime_file(lake).read_text())["broker_pid"] == broker_pid
        assert "lag" in status.stdout
        n = unify("sql", "-c", str(config), "--format", "csv", "SELECT count(*) AS n FROM customer_links")
        assert int(n.stdout.splitlines()[1]) > 0
        assert run.poll() is None
    # the worker stopped its broker, and the address is withdrawn
    assert not runtime_file(lake).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(broker_pid, 0)
    gone = unify("status", "-c", str(config))
    assert gone.returncode == 1 and "no embedded broker is running" in gone.stderr


def test_demo_prints_summary_and_leaves_nothing_running(tmp_path):
    result = unify("demo", "--people", "400", "--dir", str(tmp_path / "demo"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "precision / recall" in result.stdout and "customers out" in result.stdout
    assert (tmp_path / "demo" / "lake.duckdb").exists()
    assert processes_matching(f"run -c {tmp_path}") == []
