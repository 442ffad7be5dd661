"""A batch's outputs for their topics: dead letters, lineage events and segment changes.

The pipeline sends them before the batch's Delta commit (segment changes right after they
are recorded), so a crash repeats an output rather than losing it: at-least-once, and the
lineage topic is compacted by customer id.
"""
from __future__ import annotations

import json

from streams.codec import encode_lineage
from streams.settings import Settings
from streams.topics import produce_all, producer


class Outbox:
    def __init__(self, settings: Settings, bootstrap: str):
        self.stream = settings.stream
        self.producer = producer(bootstrap)

    def send(self, dead=(), lineage=(), segment_events=()) -> None:
        stream = self.stream
        messages = [(stream.dead_letter_topic, None, d["value"], {
                        "reason": d["reason"], "topic": d["topic"],
                        "partition": str(d["partition"]), "offset": str(d["offset"])})
                    for d in dead]
        messages += [(stream.lineage_topic, *encode_lineage(e)) for e in lineage]
        messages += [(stream.segment_events_topic, e["customer_id"].encode(), json.dumps(
                         {"segment": e["segment"], "customer_id": e["customer_id"], "event": e["event"],
                          "at_ms": e["written_at"]}).encode()) for e in segment_events]
        if messages:
            produce_all(self.producer, messages)
