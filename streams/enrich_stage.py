"""The enrichment step of a micro-batch: orders into features, churn and value, per customer.

Runs beside the resolver, reading its partition (`CustomerIds`): in the live writer after
each batch's changes, in a rebuild in a process of its own over the final partition. Each
order change goes to the ledger (by the source record it names) and the churn model; every
customer whose orders or membership changed then gets a fresh feature row with its churn
score and value.
Event time only: a row's features are as of the customer's latest purchase, so they do not
depend on when the row is written; its scores are as of the watermark (the latest order
time seen).
"""
from __future__ import annotations

import json
import time
import zlib
from typing import Iterable

import orjson

from unify.clusters import CustomerIds
from unify.enrich import ChurnModel, Enrichment, FeatureSpec, LifetimeValueModel, churn_inputs
from unify.enrich.held_orders import OrderStore


def _json(counts: dict) -> str:
    """A feature map as JSON text, keys sorted (so equal maps give equal text)."""
    return orjson.dumps(counts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


RECENT_MS = 90 * 86_400_000  # the longest window of the dimension's windowed spend
# The value model's 4 + 3 parameters need no more customers than this; a fit over every
# customer took 0.7 s at 10k customers, and grows with them.
FIT_SAMPLE = 5_000


class EnrichStage:
    def __init__(self, half_life_days: float = 90.0, churn_window_days: float = 90.0,
                 refit_every_seconds: float = 60.0, orders: OrderStore | None = None, packed: bool = False):
        """`orders`: where the ledger keeps its orders (in memory by default); `packed`: its
        aggregates packed but for the ones used lately."""
        self.enrichment = Enrichment(FeatureSpec(half_life_days=half_life_days),
                                     ChurnModel(window_days=churn_window_days), orders=orders, packed=packed)
        self.value = LifetimeValueModel()
        self.watermark_ms = 0
        self.refit_every_seconds = refit_every_seconds
        self._new_orders = False  # since the last fit
        self._fitted_at = -float("inf")
        self._dirty: set[str] = set()

    def is_newer(self, change) -> bool:
        held = self.enrichment.ledger.position(change.source, change.key)
        return held is None or change.position > held

    def apply_order(self, change, ids: CustomerIds) -> None:
        customer_of = ids.customer_of.get
        applied = self.enrichment.apply(change, customer_of, ids.members.get)
        for record in (applied.before, applied.after):
            customer = customer_of(record) if record is not None else None
            if customer is not None:
                self._dirty.add(customer)
        if change.op == "upsert":
            self.watermark_ms = max(self.watermark_ms, int(change.order["orderedMs"]))
        self._new_orders = True

    def apply_lineage(self, events, ids: CustomerIds) -> None:
        for event in events:
            self.enrichment.apply_lineage(event)
            self._dirty.update(c for c in event.to_ids if c in ids.members)

    def rows(self, touched: Iterable[str], ids: CustomerIds) -> list[dict]:
        """Rows of the customers whose profile (`touched`) or orders changed since the last
        call (deleted ones excluded): features and scores, without the golden profile."""
        members = ids.members.get
        if self._refit_due():
            self.refit(ids)
        out = []
        cids = sorted((self._dirty | set(touched)) & ids.members.keys())
        # stored as of the customer's latest purchase: the same whenever it is written (the
        # views bring recency and decay to the dimension's watermark); the scores need the
        # features now, from the same fold of the customer's records
        ledger = self.enrichment.ledger
        activities = [ledger.activity(members(cid) or ()) for cid in cids]
        stored = [ledger.summarize(activity, None) for activity in activities]
        current = [ledger.summarize(activity, self.watermark_ms, mixes=False) if f.orders else f
                   for activity, f in zip(activities, stored)]
        for cid, f, now, v in zip(cids, stored, current, self.value.predict_many(current), strict=True):
            out.append({
                "customer_id": cid, "as_of": f.as_of_ms if f.orders else None, "orders": f.orders,
                "total_spend": f.total_spend, "average_order_value": f.average_order_value,
                "monetary_value": f.monetary_value, "first_purchase_at": f.first_purchase_ms,
                "last_purchase_at": f.last_purchase_ms, "recency_days": f.recency_days,
                "tenure_days": f.tenure_days,
                "orders_by_channel": _json(f.orders_by_channel),
                "orders_by_store": _json(f.orders_by_store),
                "category_spend": _json(f.category_spend),
                "brand_spend": _json(f.brand_spend),
                "top_brands": [{"name": a.name, "score": a.score, "level": a.level} for a in f.top_brands],
                "top_categories": [{"name": a.name, "score": a.score, "level": a.level} for a in f.top_categories],
                "churn_score": self._churn_score(cid, now),
                "predicted_value": v.predicted_value, "alive_probability": v.alive_probability,
                "value_band": v.band,
                "recent_purchases": [{"at": at, "cents": cents} for at, cents in self.enrichment.ledger.orders_since(
                    members(cid) or (), f.as_of_ms - RECENT_MS)] if f.orders else [],
            })
        self._dirty = set()
        return out

    def _churn_score(self, customer_id: str, features) -> float | None:
        """The current model's churn probability for the customer's current features (so a
        merge or split rescores too); None before the first purchase."""
        if not features.orders:
            return None
        churn = self.enrichment.churn
        return churn.predict_proba_one(churn_inputs(features)).get(True, 0.0)

    def settle(self, ids: CustomerIds) -> None:
        """After a restore or a rebuild's fold: nothing is pending, the value model is fitted once."""
        self._dirty = set()
        if self.watermark_ms:
            self.refit(ids)

    def _refit_due(self) -> bool:
        """After new orders: at once until a first fit, then every `refit_every_seconds`, so
        a refit costs the same share of the worker at any batch size."""
        if not self._new_orders or not self.watermark_ms:
            return False
        return self.value.bgnbd is None or time.monotonic() - self._fitted_at >= self.refit_every_seconds

    def refit(self, ids: CustomerIds) -> None:
        """Refit the lifetime-value model on the customers' features at the watermark: all
        of them, or a sample of about `FIT_SAMPLE` that depends only on their ids."""
        members = ids.members
        sample = members if len(members) <= FIT_SAMPLE else [
            c for c in members if zlib.crc32(c.encode()) % len(members) < FIT_SAMPLE]
        features = [self.enrichment.features(c, members.get, self.watermark_ms) for c in sample]
        buyers = [f for f in features if f.orders]
        if len(buyers) >= 50:
            self.value.fit(buyers)
        self._new_orders, self._fitted_at = False, time.monotonic()

    def metrics_row(self) -> dict:
        m = self.enrichment.churn.metrics()
        return {"as_of": self.watermark_ms, "labels": m["labels"], "positive_rate": m["positive_rate"],
                "roc_auc": m["roc_auc"], "log_loss": m["log_loss"],
                "expected_calibration_error": m["expected_calibration_error"],
                "calibration": json.dumps(m["calibration"]), "drift_detected": m["drift_detected"],
                "drifts": m["drifts"], "pending": m["pending"]}
