from pathlib import Path

import pytest
import yaml

from streams.settings import ConfigError, load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retail" / "unify.yaml"


def write(tmp_path, data) -> Path:
    path = tmp_path / "unify.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_example_config_loads():
    s = load(EXAMPLE)
    assert s.embedded and s.engine.match.rules[0].name == "loyalty_card"
    assert "firstName" in s.engine.attributes


def test_every_problem_is_reported_with_its_key(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["sources"][0]["kind"] = "Customer"
    data["match"]["rules"][0]["conditions"][0]["compare"] = "fuzzy"
    data["stream"]["batch_size"] = 0
    data["bogus"] = 1
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, data))
    lines = str(err.value).splitlines()
    assert any(l.startswith("sources.0.kind") for l in lines)
    assert any("match.rules.0.conditions.0.compare" in l and "unknown comparator" in l for l in lines)
    assert any(l.startswith("stream.batch_size") for l in lines)
    assert any(l.startswith("bogus") and "unknown key" in l for l in lines)


def test_semantic_errors_name_the_fix(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["sources"][0]["fields"]["firstName"]["normalize"] = ["nope"]
    data["match"]["rules"].append({"name": "fuzzy_only", "conditions": [
        {"attribute": "firstName", "compare": "jaro_winkler", "threshold": 0.9}]})
    data["sources"][3]["customer_source"] = "nowhere"
    data["match"]["shard_key"] = "planet"
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, data))
    text = str(err.value)
    assert "match.shard_key: 'planet' is not mapped by any Contact source" in text
    assert "unknown normalizer 'nope'" in text
    assert "no condition gives a blocking key" in text
    assert "customer_source" in text


def test_a_shard_key_reaches_the_matcher(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["match"]["shard_key"] = "address1_country"
    assert load(write(tmp_path, data)).engine.match.shard_key == "address1_country"


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)


def test_a_lake_on_object_storage_keeps_its_warehouse_on_local_disk(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["lake"] = "s3://bucket/retail/lake"
    del data["warehouse"]
    s = load(write(tmp_path, data))
    assert str(s.lake) == "s3://bucket/retail/lake" and s.warehouse == tmp_path / "lake.duckdb"
    assert s.with_overrides(lake="s3://other/dim").warehouse == tmp_path / "dim.duckdb"
    shared = s.with_overrides(lake="s3://other/dim", warehouse=tmp_path / "shared" / "unify.duckdb")
    assert str(shared.lake) == "s3://other/dim" and shared.warehouse == tmp_path / "shared" / "unify.duckdb"
    local = s.with_overrides(lake=tmp_path / "here")
    assert local.lake == tmp_path / "here" and local.warehouse == tmp_path / "here.duckdb"
    data["lake"] = "gs://bucket/lake"
    with pytest.raises(ConfigError, match=r"^lake gs://bucket/lake: unsupported scheme 'gs'"):
        load(write(tmp_path, data))
