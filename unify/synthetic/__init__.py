"""Seedable synthetic retail world: Debezium CDC events from POS, CRM and ERP, plus the truth.

>>> from unify.synthetic import WorldSpec, generate, truth
>>> spec = WorldSpec(people=20, seed=1)
>>> source, envelope = next(generate(spec))
>>> sorted(envelope)
['after', 'before', 'op', 'source', 'ts_ms']
"""

from .export import write_jsonl
from .spec import NOISE_LEVELS, NoiseProfile, WorldSpec
from .world import SOURCES, generate, truth

__all__ = ["NOISE_LEVELS", "SOURCES", "NoiseProfile", "WorldSpec", "generate", "truth", "write_jsonl"]
