"""A fixed product catalogue: ~20 brands over 8 categories, with SKUs and prices.

The catalogue does not depend on the world seed, so SKUs mean the same thing in
every generated world.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

# category -> (SKU code, price range in USD)
CATEGORIES = {
    "apparel": ("APP", (14.0, 120.0)),
    "footwear": ("FTW", (35.0, 180.0)),
    "accessories": ("ACC", (8.0, 90.0)),
    "beauty": ("BEA", (6.0, 65.0)),
    "home": ("HOM", (9.0, 220.0)),
    "electronics": ("ELE", (19.0, 450.0)),
    "sports": ("SPT", (12.0, 260.0)),
    "toys": ("TOY", (7.0, 85.0)),
}

# brand -> (SKU prefix, categories it sells)
BRANDS = {
    "Northwind": ("NWD", ("apparel", "accessories")),
    "Peak Trail": ("PKT", ("footwear", "sports", "apparel")),
    "Lumen": ("LUM", ("electronics", "home")),
    "Bramble & Co": ("BRM", ("home", "accessories")),
    "Urban Thread": ("UTH", ("apparel", "footwear")),
    "Kinetic": ("KIN", ("sports", "electronics")),
    "Solstice": ("SOL", ("beauty", "accessories")),
    "Harbor Home": ("HBH", ("home",)),
    "Glow Lab": ("GLW", ("beauty",)),
    "Tiny Titans": ("TNT", ("toys", "apparel")),
    "Vireo": ("VIR", ("apparel", "accessories", "footwear")),
    "Cobalt": ("CBT", ("electronics",)),
    "Maple & Moss": ("MPM", ("home", "beauty")),
    "Strata": ("STR", ("sports", "footwear")),
    "Pulse Audio": ("PLS", ("electronics",)),
    "Fernwood": ("FRN", ("home", "toys")),
    "Halcyon": ("HAL", ("beauty", "apparel")),
    "Ridgeback": ("RDG", ("sports", "accessories")),
    "Velvet Fox": ("VFX", ("apparel", "beauty")),
    "Playgrove": ("PLG", ("toys",)),
}
SKUS_PER_BRAND_CATEGORY = 6


@dataclass(frozen=True)
class Product:
    sku: str
    brand: str
    category: str
    unit_price: float


def _build() -> tuple[Product, ...]:
    rng = Random(20240101)
    products = []
    for brand, (prefix, categories) in BRANDS.items():
        for category in categories:
            code, (low, high) = CATEGORIES[category]
            for n in range(1, SKUS_PER_BRAND_CATEGORY + 1):
                # Prices end in .99/.49/.00 like real shelf prices.
                price = int(low + (high - low) * rng.random() ** 1.6) + rng.choice((0.99, 0.49, 0.0))
                products.append(Product(f"{prefix}-{code}-{n:04d}", brand, category, round(price, 2)))
    return tuple(products)


PRODUCTS = _build()
BRAND_NAMES = tuple(BRANDS)
PRODUCTS_BY_BRAND = {b: tuple(p for p in PRODUCTS if p.brand == b) for b in BRAND_NAMES}


def order_lines(rng: Random, favourite_brands: tuple[str, ...]) -> tuple[list[dict], int]:
    """A basket of 1..6 lines leaning on the buyer's favourite brands; returns (lines, total cents)."""
    lines, total_cents = [], 0
    n = 1
    while n < 6 and rng.random() < 0.45:
        n += 1
    for _ in range(n):
        brand = favourite_brands[int(rng.random() * len(favourite_brands))] if rng.random() < 0.7 \
            else BRAND_NAMES[int(rng.random() * len(BRAND_NAMES))]
        choices = PRODUCTS_BY_BRAND[brand]
        p = choices[int(rng.random() * len(choices))]
        qty = 1 if rng.random() < 0.8 else 2 + int(rng.random() * 2)
        lines.append({"sku": p.sku, "brand": p.brand, "category": p.category, "qty": qty, "unit_price": p.unit_price})
        total_cents += qty * round(p.unit_price * 100)
    return lines, total_cents
