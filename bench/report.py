"""Write benchmark figures to bench/results.json and a markdown table, with the machine."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path


def machine() -> dict:
    with open("/proc/meminfo") as f:
        mem_kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def save(out_dir: Path, suite: str, figures: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data["machine"] = machine()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # what this run did not measure (the 1M worlds, without --large) stays, with its own date
    kept = {key: value for key, value in data.get(suite, {}).items()
            if key not in figures and isinstance(value, dict) and "measured_at" in value}
    fresh = {key: {**value, "measured_at": now} if isinstance(value, dict) else value for key, value in figures.items()}
    merged = {**kept, **fresh}
    data[suite] = {"measured_at": now, **{key: merged[key] for key in sorted(merged, key=_size)}}
    path.write_text(json.dumps(data, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown(data))
    return path


def _size(key: str) -> list[int]:
    """Worlds in order of size: "10000", "100000", "100000 x 10" (scaled), "1000000"."""
    return [int(n) for n in key.split(" x ") if n.isdigit()]


def markdown(data: dict) -> str:
    m = data.get("machine", {})
    lines = [f"Machine: {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}", ""]
    if "accuracy" in data:
        lines += ["| noise | records | pairwise P | pairwise R | pairwise F1 | B-cubed P | B-cubed R | B-cubed F1 |",
                  "|---|---|---|---|---|---|---|---|"]
        for noise, r in data["accuracy"].items():
            if isinstance(r, dict) and "pairwise" in r:
                pw, b3 = r["pairwise"], r["bcubed"]
                lines.append(f"| {noise} | {r['records']:,} | {pw['precision']:.4f} | {pw['recall']:.4f} | "
                             f"{pw['f1']:.4f} | {b3['precision']:.4f} | {b3['recall']:.4f} | {b3['f1']:.4f} |")
        lines.append("")
    if "core" in data:
        lines += ["| known records | changes/s (overall) | changes/s (last 10 %) | bytes/record | decode+normalize/s |",
                  "|---|---|---|---|---|"]
        for _, r in data["core"].items():
            if isinstance(r, dict) and "records" in r:
                lines.append(f"| {r['records']:,} | {r['records_per_s']:,} | {r['records_per_s_last_10pct']:,} | "
                             f"{r['bytes_per_record']:,} | {r['decode_per_s']:,} |")
        lines.append("")
    if "pipeline" in data:
        lines += ["| people | events | transport ceiling ev/s | live ev/s (steady) | ratio | live ev/s (end to end) | peak RSS | B/source record |",
                  "|---|---|---|---|---|---|---|---|"]
        rows = [r for r in data["pipeline"].values() if isinstance(r, dict) and "live" in r]
        for r in rows:
            live = r["live"]
            lines.append(f"| {r['people']:,} | {r['events']:,} | {r['transport_ceiling_events_per_s']:,} | "
                         f"{live['events_per_s_steady']:,} | {live['ratio_to_ceiling']:.1%} | "
                         f"{live['events_per_s_end_to_end']:,} | {live['peak_rss_bytes'] / 2**20:,.0f} MiB | "
                         f"{live['bytes_per_source_record']:,} |")
        lines += ["", "| people | live ev/s, one worker | two workers | ratio | peak RSS, two workers |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['people']:,} | {r['live']['events_per_s_steady']:,} | {t['events_per_s_steady']:,} | "
                  f"{t['ratio_to_one_worker']:.2f} | {t['peak_rss_bytes'] / 2**20:,.0f} MiB |"
                  for r in rows if (t := r.get("live_two_workers"))]
        lines += ["", "| people | offered ev/s | freshness p50 | p95 | p99 |", "|---|---|---|---|---|"]
        for r in rows:
            for rate, f in r["freshness"].items():
                lines.append(f"| {r['people']:,} | {int(rate):,} | {f.get('p50')} s | {f.get('p95')} s | {f.get('p99')} s |")
        every = [r for r in data["pipeline"].values() if isinstance(r, dict) and "people" in r]
        lines += ["", "| people | rebuild events | seconds | events/s | peak RSS | B/source record |",
                  "|---|---|---|---|---|---|"]
        for r in every:
            if "rebuild" in r:
                b = r["rebuild"]
                lines.append(f"| {r['people']:,} | {b['events']:,} | {b['seconds']} | {b['events_per_second']:,} | "
                             f"{b.get('peak_rss_bytes', 0) / 2**20:,.0f} MiB | {b.get('bytes_per_source_record', 0):,} |")
        restored = [(r["people"], r["rebuild"]["source_records"], r["rebuild"]["restored_worker"])
                    for r in every if "restored_worker" in r.get("rebuild", {})]
        lines += ["", "| people | source records | a worker on the rebuilt lake: ready after | peak RSS | B/source record |",
                  "|---|---|---|---|---|"]
        lines += [f"| {people:,} | {records:,} | {w['seconds_to_ready']} s | {w['peak_rss_bytes'] / 2**20:,.0f} MiB | "
                  f"{w['bytes_per_source_record']:,} |" for people, records, w in restored]
        latest = data["pipeline"]["measured_at"]  # a slope within one run: runs differ by machine and code
        same_run = [(people, records, w) for people, records, w in restored
                    if data["pipeline"][str(people)].get("measured_at", latest) == latest]
        if len(same_run) > 1:
            (_, low, a), *_, (_, high, b) = sorted(same_run, key=lambda r: r[1])
            lines += ["", f"Each source record past {low:,} adds {(b['peak_rss_bytes'] - a['peak_rss_bytes']) / (high - low):,.0f} "
                          f"bytes to the worker's peak (this run, up to {high:,})."]
        lines += ["", "| people | customers | lake | query | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
        scaled = [r for r in data["pipeline"].values() if isinstance(r, dict) and "factor" in r]
        for r in every + scaled:
            people = f"{r['people']:,}" if "people" in r else "–"
            rebuilt = f"rebuilt, scaled {r['factor']} x, compacted" if "factor" in r else "rebuilt, compacted"
            for lake, key in (("live, uncompacted", "queries"), (rebuilt, "queries_compacted")):
                for name, q in r.get(key, {}).items():
                    if isinstance(q, dict):
                        lines.append(f"| {people} | {r['customers']:,} | {lake} | {name.removesuffix('_ms')} | "
                                     f"{q['p50']} | {q['p95']} | {q['p99']} |")
        lines.append("")
    for suite in ("core", "pipeline"):
        older = [(key, r["measured_at"]) for key, r in data.get(suite, {}).items()
                 if isinstance(r, dict) and r.get("measured_at", data[suite]["measured_at"]) != data[suite]["measured_at"]]
        if older:
            lines += [f"From an earlier run of the {suite} suite: " + ", ".join(f"{key} ({at})" for key, at in older) + ".", ""]
    return "\n".join(lines)
