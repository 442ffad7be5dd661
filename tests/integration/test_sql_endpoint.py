"""`unify serve`: the warehouse over the PostgreSQL protocol, driven by the real psql and psycopg."""
from __future__ import annotations

import datetime as dt
import os
import select
import socket
import subprocess
import threading
import time
from pathlib import Path

import deltalake
import duckdb
import psycopg
import pyarrow as pa
import pytest

from sinks.sql_endpoint import EndpointError, SqlEndpoint
from sinks.sql_endpoint.engine import Engine
from sinks.warehouse import WarehouseError, connect

pytestmark = pytest.mark.integration

PASSWORD = "s3cret pass"
LONG_QUERY = "SELECT count(*) FROM range(100000000000) a"


def customers(*ids: str) -> pa.Table:
    n = len(ids)
    return pa.table({
        "customer_id": list(ids),
        "age": pa.array([40 + i for i in range(n)], pa.int64()),
        "score": [0.5 + i for i in range(n)],
        "vip": [i % 2 == 0 for i in range(n)],
        "updated_at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)] * n,
                               pa.timestamp("us", tz="UTC")),
        "born": pa.array([dt.date(1980, 1, 1 + i) for i in range(n)], pa.date32()),
        "sources": [["pos", "crm"][: 1 + i % 2] for i in range(n)],
    })


def make_warehouse(root: Path) -> tuple[Path, Path]:
    """A Delta table and a DuckDB file holding one view over it, as the worker writes them."""
    table = (root / "lake" / "customers").resolve()
    deltalake.write_deltalake(str(table), customers("C0000000001", "C0000000002"))
    warehouse = root / "warehouse.duckdb"
    con = connect(warehouse)
    con.execute(f"CREATE VIEW dim_customer AS SELECT * FROM delta_scan('{table}')")
    con.close()
    return warehouse, table


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("serve"))[0]


@pytest.fixture(scope="module")
def port(warehouse):
    with SqlEndpoint(warehouse, port=0, password=PASSWORD) as endpoint:
        yield endpoint.port


def psql(port: int, *commands: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    args = ["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(port), "-U", "unify", "-d", "unify"]
    for command in commands:
        args += ["-c", command]
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


def failures_of(call, argument, failures: list) -> None:
    """Run call(argument) on a thread, keeping what it raised."""
    try:
        call(argument)
    except psycopg.Error as exc:
        failures.append(exc)


def pg(port: int, password: str = PASSWORD, **options) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=port, user="unify", password=password, dbname="unify",
                           connect_timeout=10, autocommit=True, **options)


def test_psql_queries_the_views_and_the_session(port):
    result = psql(port, "SELECT customer_id, age, vip FROM dim_customer ORDER BY customer_id",
                  "SELECT version()", "SHOW server_version", "SELECT current_database()")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "C0000000001|40|t", "C0000000002|41|f", f"PostgreSQL 15.0 (unify serve on DuckDB {duckdb.__version__})",
        "15.0", "unify"]


def test_psql_lists_and_describes_the_views(port):
    result = psql(port, r"\dt", r"\dv", r"\d dim_customer")
    assert result.returncode == 0, result.stderr
    assert "Did not find any relations." in result.stderr  # \dt lists tables; the warehouse has views
    assert result.stdout.splitlines() == [
        "public|dim_customer|view|unify",
        "customer_id|text|||", "age|bigint|||", "score|double precision|||", "vip|boolean|||",
        "updated_at|timestamp with time zone|||", "born|date|||", "sources|text[]|||"]


def test_information_schema_lists_views_and_columns(port):
    with pg(port) as con:
        tables = con.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
        columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_name = %s ORDER BY ordinal_position", ("dim_customer",)).fetchall()
    assert tables == [("public", "dim_customer", "VIEW")]
    assert columns == [("customer_id", "text"), ("age", "bigint"), ("score", "double precision"),
                       ("vip", "boolean"), ("updated_at", "timestamp with time zone"), ("born", "date"),
                       ("sources", "ARRAY")]


@pytest.mark.parametrize("binary", [False, True])
def test_psycopg_gets_python_types(port, binary):
    with pg(port) as con:
        rows = con.cursor(binary=binary).execute("SELECT * FROM public.dim_customer ORDER BY customer_id").fetchall()
    assert rows[0] == ("C0000000001", 40, 0.5, True, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                       dt.date(1980, 1, 1), ["pos"])
    assert rows[1][6] == ["pos", "crm"]


def test_nested_values_arrive_as_json(port):
    with pg(port) as con:
        row = con.execute("SELECT {'a': 1, 'b': [1, 2]} AS s, [[1], [2, 3]] AS nested, 12::HUGEINT AS h").fetchone()
    assert row == ({"a": 1, "b": [1, 2]}, [[1], [2, 3]], 12)


def test_parameters_in_text_and_binary(port):
    query = "SELECT customer_id FROM dim_customer WHERE customer_id = %s OR (age > %s AND score < %s AND vip = %s)"
    with pg(port) as con:
        assert con.execute(query, ("C0000000001", 100, 9.5, False)).fetchall() == [("C0000000001",)]
        assert con.execute(query.replace("%s", "%b"), ("C0000000002", 0, 0.0, True)).fetchall() == [("C0000000002",)]
        assert con.execute("SELECT %s + 1, %s", (41, dt.date(2024, 2, 29))).fetchone() == (42, dt.date(2024, 2, 29))
        for _ in range(3):  # the same prepared statement, bound again each time
            rows = con.execute("SELECT age FROM dim_customer WHERE customer_id = %s", ("C0000000002",), prepare=True)
            assert rows.fetchall() == [(41,)]


REFUSED = {
    "INSERT INTO dim_customer VALUES ('x')": "INSERT",
    "UPDATE dim_customer SET age = 1": "UPDATE",
    "DELETE FROM dim_customer": "DELETE",
    "CREATE TABLE t AS SELECT 1": "CREATE",
    "DROP VIEW dim_customer": "DROP",
    "ALTER VIEW dim_customer RENAME TO x": "ALTER",
    "ATTACH '/tmp/other.duckdb' AS other": "ATTACH",
    "COPY (SELECT 1) TO '/tmp/out.csv'": "COPY",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/out.csv'": "COPY",
    "INSTALL httpfs": "INSTALL",
    "LOAD httpfs": "LOAD",
    "SET threads = 1": "SET threads",
    "PRAGMA threads = 1": "PRAGMA",
    "CALL pragma_version()": "CALL",
    "EXPORT DATABASE '/tmp/export'": "EXPORT",
}


@pytest.mark.parametrize("statement", REFUSED)
def test_writes_and_settings_are_refused_and_the_connection_stays_usable(port, statement):
    with pg(port) as con:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as refused:
            con.execute(statement)
        assert str(refused.value).strip() == f"unify serve is read-only: {REFUSED[statement]} is not allowed"
        assert con.execute("SELECT count(*) FROM dim_customer").fetchone() == (2,)


def test_psql_sees_the_refusal_and_goes_on(port):
    result = psql(port, "DELETE FROM dim_customer", "SELECT count(*) FROM dim_customer")
    assert "ERROR:  unify serve is read-only: DELETE is not allowed" in result.stderr
    assert result.stdout.strip() == "2"


def test_client_settings_are_accepted_and_errors_leave_the_session_usable(port):
    with pg(port) as con:
        con.execute("SET application_name = 'grafana'")
        assert con.execute("SHOW application_name").fetchone() == ("grafana",)
        with pytest.raises(psycopg.errors.UndefinedColumn):
            con.execute("SELECT nope FROM dim_customer")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nothing outside the lake is readable
            con.execute("SELECT * FROM read_text('/etc/hostname')")
        assert con.execute("SELECT max(age) FROM dim_customer").fetchone() == (41,)


def test_wrong_password_is_refused_and_the_server_keeps_serving(port):
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "unify"'):
        pg(port, password="wrong")
    result = psql(port, "SELECT 1", password="wrong")
    assert result.returncode == 2 and 'password authentication failed for user "unify"' in result.stderr
    with pg(port) as con:
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_garbage_http_and_hang_ups_do_not_stop_the_server(port):
    startup_with_bad_utf8 = b"\x00\x00\x00\x10\x00\x03\x00\x00u\xff\x00\x00"
    for junk in (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"\xff" * 64, startup_with_bad_utf8):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(junk)
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(4096):
                pass
    con, failures = pg(port), []
    query = threading.Thread(target=failures_of, args=(con.execute, LONG_QUERY, failures))
    query.start()
    time.sleep(0.5)
    with socket.fromfd(con.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM) as same:
        same.shutdown(socket.SHUT_RDWR)  # the client vanishes, most likely mid-query
    query.join(30)
    assert not query.is_alive() and isinstance(failures[0], psycopg.OperationalError)
    con.close()
    with pg(port) as con:
        assert con.execute("SELECT count(*) FROM dim_customer").fetchone() == (2,)


def test_cancel_stops_the_query_not_the_session(port):
    with pg(port) as con:
        failures = []
        query = threading.Thread(target=failures_of, args=(con.execute, LONG_QUERY, failures))
        query.start()
        while query.is_alive():  # until a cancel lands while the query runs
            con.cancel_safe()
            query.join(0.2)
        assert isinstance(failures[0], psycopg.errors.QueryCanceled)
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_idle_connections_are_closed(warehouse):
    with SqlEndpoint(warehouse, port=0, password=PASSWORD, idle_timeout=1.0) as endpoint:
        with pg(endpoint.port) as idle:
            assert idle.execute("SELECT 1").fetchone() == (1,)
            started = time.monotonic()
            readable, _, _ = select.select([idle.pgconn.socket], [], [], 30)  # the server speaks first: FATAL
            assert readable and time.monotonic() - started >= 0.9
            with pytest.raises(psycopg.OperationalError, match="idle-session timeout"):
                idle.execute("SELECT 1")
        with pg(endpoint.port) as fresh:
            assert fresh.execute("SELECT 1").fetchone() == (1,)


def test_a_new_delta_commit_is_visible_to_the_next_query(tmp_path):
    warehouse, table = make_warehouse(tmp_path)
    with SqlEndpoint(warehouse, port=0, password=PASSWORD) as endpoint, pg(endpoint.port) as con:
        assert con.execute("SELECT count(*) FROM dim_customer").fetchone() == (2,)
        deltalake.write_deltalake(str(table), customers("C0000000003"), mode="append")
        assert con.execute("SELECT count(*) FROM dim_customer").fetchone() == (3,)
        assert psql(endpoint.port, "SELECT max(customer_id) FROM dim_customer").stdout.strip() == "C0000000003"


def test_each_query_reads_the_latest_commit_from_a_pinned_snapshot(tmp_path):
    warehouse, table = make_warehouse(tmp_path)
    con = connect(warehouse)
    con.execute("CREATE VIEW vip_customer AS SELECT customer_id FROM dim_customer WHERE vip")
    con.close()
    engine = Engine(warehouse)

    def ask(sql: str) -> list[tuple]:
        engine.renew(sql)
        cursor = engine.cursor()
        try:
            return cursor.execute(sql).fetchall()
        finally:
            cursor.close()

    def snapshots() -> set[str]:
        return {name for (name,) in ask("SELECT database_name FROM duckdb_databases()") if name.startswith("_lake_")}

    try:
        assert ask("SELECT count(*) FROM dim_customer") == [(2,)]
        pinned = snapshots()
        assert len(pinned) == 1
        assert ask("SELECT count(*) FROM dim_customer") == [(2,)] and snapshots() == pinned  # no commit, no re-read
        for n in (3, 4, 5):
            deltalake.write_deltalake(str(table), customers(f"C{n:010d}"), mode="append")
            assert ask("SELECT count(*) FROM dim_customer") == [(n,)]
        assert len(snapshots()) == 2 and not snapshots() & pinned  # the current one and the one before
        deltalake.write_deltalake(str(table), customers("C0000000009", "C0000000008"), mode="overwrite")
        assert ask("SELECT * FROM vip_customer") == [("C0000000009",)]  # through the view over the view
    finally:
        engine.close()


def test_views_the_worker_recreates_are_served_to_new_connections(tmp_path):
    warehouse, _table = make_warehouse(tmp_path)
    with SqlEndpoint(warehouse, port=0, password=PASSWORD) as endpoint:
        con = connect(warehouse)  # the endpoint does not hold the file: the worker can rewrite it
        con.execute("CREATE VIEW vip_customer AS SELECT customer_id FROM dim_customer WHERE vip")
        con.close()
        with pg(endpoint.port) as fresh:
            assert fresh.execute("SELECT * FROM vip_customer").fetchall() == [("C0000000001",)]


def test_a_missing_warehouse_or_busy_port_is_one_line(tmp_path, port, warehouse):
    with pytest.raises(WarehouseError, match="no warehouse yet"):
        SqlEndpoint(tmp_path / "none.duckdb", port=0, password=PASSWORD).start()
    with pytest.raises(EndpointError, match=f"cannot listen on 127.0.0.1:{port}"):
        SqlEndpoint(warehouse, port=port, password=PASSWORD).start()
    with pytest.raises(EndpointError, match="needs a password"):
        SqlEndpoint(warehouse, port=0, password="").start()
