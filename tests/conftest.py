"""Shared fixtures: one real embedded broker per test session, configs on temp lakes."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from streams.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "retail" / "unify.yaml"


@pytest.fixture(scope="session")
def broker():
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 HTTP server process (moto) on loopback; its endpoint URL."""
    from streams.broker import free_port, reachable
    port = free_port()
    log = open(tmp_path_factory.mktemp("s3") / "s3.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if reachable(f"127.0.0.1:{port}", timeout=0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A fresh bucket, with the AWS variables every process of the test (and the CLI it
    starts) reads the object store's address and credentials from."""
    for name, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    import s3fs
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    return bucket


@pytest.fixture
def make_config(tmp_path):
    """Write a config like the example, on a fresh lake, with topics of its own."""

    def make(bootstrap: str = "embedded", lake: str | None = None, **stream) -> Path:
        data = yaml.safe_load(EXAMPLE.read_text())
        prefix = uuid.uuid4().hex[:8]
        for source in data["sources"]:
            source["topic"] = f"{prefix}.{source['topic']}"
        data["broker"]["bootstrap"] = bootstrap
        data["lake"] = lake or str(tmp_path / "lake")
        data["warehouse"] = str(tmp_path / "warehouse.duckdb")
        data["stream"].update({"app_id": f"test-{prefix}", "dead_letter_topic": f"{prefix}.dead-letters",
                               "overrides_topic": f"{prefix}.overrides", "lineage_topic": f"{prefix}.lineage",
                               **stream})
        path = tmp_path / "unify.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


@contextlib.contextmanager
def running(args: list[str], log: Path):
    """A CLI process in the background, stopped by its PID however the test ends."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", *args], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        yield proc
    except BaseException:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print(f"--- last lines of {log} ---", *tail, sep="\n")
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def query(settings, sql: str) -> list[tuple]:
    """Rows of a query over a config's warehouse, opened read-only for just this query."""
    from sinks.warehouse import connect
    con = connect(settings.warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def unify(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI as a user does and capture what it prints."""
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)


def processes_matching(text: str) -> list[int]:
    """PIDs whose command line contains `text` (read from /proc; excludes this process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found
