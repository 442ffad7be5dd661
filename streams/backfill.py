"""`unify resolve`: the same engine and sink, driven from JSONL files instead of topics."""
from __future__ import annotations

import time
from itertools import islice
from pathlib import Path

from sinks.warehouse import create_views
from streams.pipeline import Message, Pipeline
from streams.settings import ConfigError, Settings


def _messages(topic: str, path: Path):
    with open(path, "rb") as f:
        for offset, line in enumerate(f):
            line = line.rstrip(b"\r\n")
            yield Message(topic, 0, offset, line or None)


def resolve_files(settings: Settings, inputs: list[tuple[str, Path]]) -> dict:
    names = {s.name: s for s in settings.engine.sources}
    for name, path in inputs:
        if name not in names:
            raise ConfigError(f"--input {name}: not a source of the config; use one of {', '.join(names)}")
        if not path.exists():
            raise ConfigError(f"--input {name}={path}: no such file")
    started = time.perf_counter()
    pipeline = Pipeline(settings)
    events = dead = 0
    for name, path in inputs:
        stream = _messages(names[name].topic, path)
        while batch := list(islice(stream, settings.stream.batch_size)):
            result = pipeline.process(batch, record_offsets=False)
            events += result.events
            dead += result.dead_letters
    create_views(settings.warehouse, settings.current_lake, settings.engine.attributes, **settings.view_options)
    pipeline.update_segments()
    seconds = time.perf_counter() - started
    return {"events": events, "dead_letters": dead, "source_records": len(pipeline.resolver),
            "customers": len(pipeline.resolver.partition()), "seconds": round(seconds, 2),
            "lake": str(settings.current_lake), "warehouse": str(settings.warehouse)}
