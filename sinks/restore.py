"""Restore the resolver's in-memory state from the lake (after a restart or a new broker).

The lake is the system of record: the latest row of every source record, with its customer
id, is enough to rebuild the link graph and keep ids stable.
"""
from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from sinks.warehouse import connect
from unify.resolver import LinkRow, Resolver


def _has_rows(table: Path) -> bool:
    return (table / "_delta_log").exists() and bool(DeltaTable(str(table)).file_uris())


def restore_resolver(resolver: Resolver, lake: Path, attributes: tuple[str, ...]) -> int:
    log = Path(lake) / "customer_links_log"
    if not _has_rows(log):
        return 0
    cols = ", ".join(f'"{a}"' for a in attributes)
    con = connect()
    try:
        overrides_log = Path(lake) / "overrides_log"
        if _has_rows(overrides_log):
            for kind, ls, lk, rs, rk, at in con.execute(f"""
                    SELECT kind, left_source, left_key, right_source, right_key, epoch_ms("at")
                    FROM delta_scan('{overrides_log.resolve()}') ORDER BY batch""").fetchall():
                resolver.override((ls, lk), (rs, rk), kind, at)
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
