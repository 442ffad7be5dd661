"""The domain core: pure, deterministic, no I/O.

CDC changes mapped to CDM records go in (`Resolver.apply`); links, golden profiles and
lineage come out (`Resolver.drain`). Kafka, Faust, Delta and DuckDB live in `streams` and
`sinks`, never here.
"""
from unify.cdm import CONTACT_ATTRIBUTES, Change
from unify.errors import InvalidRecord, SpecError, UnifyError
from unify.resolver import CustomerRow, LinkRow, Output, Resolver
from unify.spec import Condition, EngineSpec, FieldSpec, MatchSpec, Rule, SourceSpec, SurvivorshipSpec

__all__ = [
    "CONTACT_ATTRIBUTES", "Change", "Condition", "CustomerRow", "EngineSpec", "FieldSpec",
    "InvalidRecord", "LinkRow", "MatchSpec", "Output", "Resolver", "Rule", "SourceSpec",
    "SpecError", "SurvivorshipSpec", "UnifyError",
]
