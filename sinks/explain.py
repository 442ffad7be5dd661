"""`unify explain`: why a customer's source records are one customer, as a path of links."""
from __future__ import annotations

from collections import deque
from pathlib import Path

from sinks.warehouse import connect


def _ref(source: str, key: str) -> str:
    return f"{source}/{key}"


def explain_customer(warehouse: Path, customer_id: str) -> list[str]:
    """Lines describing the customer's records and a spanning tree of the links between them."""
    con = connect(warehouse, read_only=True)
    try:
        records = con.execute(
            "SELECT source, source_key, first_seen_at FROM customer_links WHERE customer_id = ? "
            "ORDER BY first_seen_at, source, source_key", [customer_id]).fetchall()
        links = con.execute(
            "SELECT left_source, left_key, right_source, right_key, rule, level, score, conditions "
            "FROM match_explanations WHERE customer_id = ?", [customer_id]).fetchall()
    finally:
        con.close()
    if not records:
        return [f"no customer {customer_id} in the dimension"]
    lines = [f"customer {customer_id}: {len(records)} source record(s)"]
    lines += [f"  {_ref(s, k)} (first seen {at})" for s, k, at in records]
    adjacency: dict[str, list] = {}
    for ls, lk, rs, rk, rule, level, score, conditions in links:
        a, b = _ref(ls, lk), _ref(rs, rk)
        adjacency.setdefault(a, []).append((b, rule, level, score, conditions))
        adjacency.setdefault(b, []).append((a, rule, level, score, conditions))
    root = _ref(records[0][0], records[0][1])
    seen, queue = {root}, deque([root])
    if len(records) > 1:
        lines.append(f"links (a path from {root} to every other record):")
    while queue:
        node = queue.popleft()
        for other, rule, level, score, conditions in sorted(adjacency.get(node, []), key=lambda e: e[0]):
            if other in seen:
                continue
            seen.add(other)
            queue.append(other)
            lines.append(f"  {node} -- {rule} (level {level}, score {score}) -- {other}")
            for c in conditions or []:
                lines.append(f"      {c['attribute']}: {c['compare']} {c['left']!r} vs {c['right']!r}"
                             f" = {c['score']} (threshold {c['threshold']})")
    return lines
