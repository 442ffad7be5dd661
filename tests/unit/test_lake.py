"""Where the lake lives: local paths, object-store URLs, and DuckDB's credentials for them."""
from pathlib import Path

from sinks.lake import duckdb_secret, location, parent, uri


def test_local_paths_are_made_absolute_and_urls_kept(tmp_path):
    assert location("lake", base=tmp_path) == tmp_path / "lake"
    remote = location("s3a://bucket/retail/lake")
    assert str(remote) == "s3://bucket/retail/lake" and str(remote / "t") == "s3://bucket/retail/lake/t"
    assert uri(remote / "t") == "s3://bucket/retail/lake/t" and uri(Path("x")) == str(Path("x").resolve())
    assert parent("s3://bucket/retail/lake/t") == "s3://bucket/retail/lake"


def test_duckdb_gets_the_aws_variables_as_a_secret(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    assert duckdb_secret() is None  # a local lake needs none
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "it's")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert duckdb_secret() == ("CREATE OR REPLACE SECRET lake (TYPE s3, KEY_ID 'AKIA', SECRET 'it''s', "
                               "REGION 'eu-west-1')")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio:9000")
    assert duckdb_secret().endswith("REGION 'eu-west-1', ENDPOINT 'minio:9000', URL_STYLE 'path', USE_SSL false)")
