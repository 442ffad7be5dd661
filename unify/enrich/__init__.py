"""Customer enrichment from orders: activity features, affinity, lifetime value, online churn.

Pure and deterministic like the rest of the core: no I/O, no wall clock (every time is an
event time passed in), the same input sequence gives the same state.

- `ActivityLedger` holds each live order's contribution under the source record it names
  and folds a customer's member records into `CustomerFeatures`; merges and splits of
  customers need nothing from it.
- `CustomerFeatures` carry recency/frequency/monetary, spend with time decay, channel and
  store mixes and the top brand and category `Affinity` with a level.
- `LifetimeValueModel` (BG/NBD + Gamma-Gamma) predicts the next year's spend and a value band.
- `ChurnModel` learns online, from delayed labels only, whether a customer buys again within
  a window after a purchase, with progressive ROC AUC, log loss, calibration and drift.
- `Enrichment` drives the ledger and the churn model from the order stream.

The stream calls, per order change, `Enrichment.apply(change, customer_of, members_of)`; per
resolver lineage event, `Enrichment.apply_lineage(event)`; per micro-batch, optionally
`Enrichment.advance(watermark_ms)`; on a refit cadence, `LifetimeValueModel.fit` over the
features of all customers at one time.

>>> from unify.enrich import Enrichment, OrderEvent
>>> enrichment = Enrichment()
>>> order = {"customerSource": "pos_customers", "customerRef": "7", "orderedMs": 0, "totalAmount": 12.5,
...          "channel": "web", "lines": [{"brand": "Lumen", "category": "home", "quantity": 1, "price": 12.5}]}
>>> enrichment.apply(OrderEvent("pos_tickets", "T1", "upsert", 1, 0, order),
...                  {("pos_customers", "7"): "C1"}.get, {"C1": [("pos_customers", "7")]}.get).purchase
True
>>> features = enrichment.features("C1", {"C1": [("pos_customers", "7")]}.get, as_of_ms=0)
>>> features.total_spend, features.top_brands[0].level
(12.5, 'very high')
"""
from unify.enrich.affinity import Affinity, affinity_level, top_affinities
from unify.enrich.aggregate import ActivityAggregate
from unify.enrich.churn import ChurnModel, MaturedExample, churn_inputs
from unify.enrich.decay import DecayedSums
from unify.enrich.enrichment import Enrichment
from unify.enrich.features import CustomerFeatures, FeatureSpec, summarize
from unify.enrich.ledger import ActivityLedger
from unify.enrich.monitor import ChurnMonitor
from unify.enrich.orders import HeldOrder, OrderEvent
from unify.enrich.value import LifetimeValueModel, ValueEstimate

__all__ = [
    "ActivityAggregate", "ActivityLedger", "Affinity", "ChurnModel", "ChurnMonitor", "CustomerFeatures",
    "DecayedSums", "Enrichment", "FeatureSpec", "HeldOrder", "LifetimeValueModel", "MaturedExample",
    "OrderEvent", "ValueEstimate", "affinity_level", "churn_inputs", "summarize", "top_affinities",
]
