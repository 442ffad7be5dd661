"""Restore the resolver's in-memory state from the lake (after a restart or a new broker).

The lake is the system of record: the latest row of every source record, with its customer
id, is enough to rebuild the link graph and keep ids stable.
"""
from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from sinks.warehouse import connect
from unify.resolver import LinkRow, Resolver


def restore_resolver(resolver: Resolver, lake: Path, attributes: tuple[str, ...]) -> int:
    log = Path(lake) / "customer_links_log"
    if not (log / "_delta_log").exists() or not DeltaTable(str(log)).file_uris():
        return 0
    cols = ", ".join(f'"{a}"' for a in attributes)
    con = connect()
    try:
        rows = con.execute(f"""
            SELECT source, source_key, customer_id, deleted, position,
                   epoch_ms(event_at), epoch_ms(first_at), {cols}
            FROM delta_scan('{log.resolve()}')
            QUALIFY row_number() OVER (PARTITION BY source, source_key ORDER BY batch DESC) = 1
            ORDER BY first_at, source, source_key""").fetchall()
    finally:
        con.close()
    resolver.restore(
        LinkRow(r[0], r[1], r[2], None, None, None, None, r[3], r[4], r[5], r[6],
                {a: v for a, v in zip(attributes, r[7:]) if v is not None})
        for r in rows
    )
    return len(rows)
