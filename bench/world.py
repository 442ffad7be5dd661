"""A generated world decoded once, for benchmarks of the core."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from streams.codec import SourceCodec
from streams.settings import Settings
from unify.cdm import Change
from unify.synthetic import WorldSpec, generate, truth


@dataclass
class DecodedWorld:
    spec: WorldSpec
    changes: list[Change]
    truth: dict[tuple[str, str], str]
    events: int
    decode_seconds: float


def decode_world(settings: Settings, spec: WorldSpec) -> DecodedWorld:
    """The world's contact changes, through the same codec as the stream."""
    codecs = {s.name: SourceCodec(s) for s in settings.engine.sources}
    changes: list[Change] = []
    events = 0
    started = time.perf_counter()
    for name, envelope in generate(spec):
        codec = codecs.get(name)
        if codec is None or not codec.is_contact:
            continue
        events += 1
        change = codec.decode(json.dumps(envelope).encode())
        if change is not None:
            changes.append(change)
    seconds = time.perf_counter() - started
    answer = {(t["source"], t["key"]): t["person_id"] for t in truth(spec)
              if t["kind"] == "record" and not t["deleted"]}
    return DecodedWorld(spec, changes, answer, events, seconds)
