"""What the integration tests compare (the dimension of a run against the same events
resolved once from files), a record to send to a known customer, and a TCP proxy to cut."""
from __future__ import annotations

import asyncio
import contextlib
import time

from streams.backfill import resolve_files
from streams.settings import load
from streams.status import lag_report
from tests.conftest import query
from unify.synthetic import generate, write_jsonl


def committed_events(settings) -> int:
    """Source events the lake records as applied, over every topic-partition."""
    return sum(r.committed for r in lag_report(settings.broker, settings.input_topics, settings.lake))


def dimension(settings):
    """The dimension as comparable values: clusters of records with their golden attributes."""
    links = query(settings, "SELECT customer_id, source, source_key FROM customer_links")
    members: dict[str, set] = {}
    for cid, source, key in links:
        members.setdefault(cid, set()).add((source, key))
    golden = {row[0]: row[1:] for row in query(settings, """
        SELECT customer_id, firstName, lastName, emailAddress1, telephone1, address1_postalCode,
               source_count, order_count, round(total_spend, 2) FROM dim_customer""")}
    return {frozenset(m): golden[cid] for cid, m in members.items()}


def assert_as_if_uninterrupted(settings, config, tmp_path, *specs) -> None:
    """The dimension equals the one the same worlds give resolved once from files: the same
    customers, no duplicate record, every order once."""
    reference = load(config).with_overrides(lake=tmp_path / "reference")
    for n, spec in enumerate(specs):
        files = tmp_path / f"world{n}"
        write_jsonl(files, spec)
        resolve_files(reference, [(s.name, files / f"{s.name}.jsonl") for s in reference.engine.sources])
    assert dimension(settings) == dimension(reference)
    assert query(settings, "SELECT count(*) - count(DISTINCT (source, source_key)) FROM customer_links") == [(0,)]
    orders = "SELECT count(*), count(DISTINCT (source, order_key)), round(sum(total_amount), 2) FROM sales_orders"
    assert query(settings, orders) == query(reference, orders)


def known_customer(settings, spec) -> tuple[str, str, str, str, dict]:
    """A CRM record of a customer with several records: its reference, customer id, e-mail,
    first name and source row, from which to make a record that matches it."""
    ref, cid, email, first_name = query(settings, """
        SELECT l.source || '/' || l.source_key, l.customer_id, l.emailAddress1, l.firstName
        FROM customer_links l JOIN dim_customer d USING (customer_id)
        WHERE l.source = 'crm_contacts' AND d.source_count >= 2 AND l.emailAddress1 IS NOT NULL
        ORDER BY 1 LIMIT 1""")[0]
    row = next(env["after"] for name, env in generate(spec)
               if name == "crm_contacts" and env["after"] and env["after"]["contact_id"] == ref.split("/")[1])
    return ref, cid, email, first_name, row


@contextlib.asynccontextmanager
async def forwarding(port: int, target: int):
    """Forward 127.0.0.1:port to 127.0.0.1:target; on exit, drop every connection."""
    transports = set()

    async def pipe(reader, writer):
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        transports.update({writer.transport, up_writer.transport})
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True)
    try:
        yield port
    finally:
        server.close()
        for transport in transports:
            transport.abort()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
