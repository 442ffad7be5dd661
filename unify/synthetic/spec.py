"""World configuration: what to simulate and how messy the records are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

NOISE_LEVELS = ("clean", "realistic", "hard")

# Phone numbers are handed out by a bijection on this many slots (see people.py),
# which is what guarantees one distinct mobile and landline per person.
MAX_PEOPLE = 3_800_000


@dataclass(frozen=True)
class NoiseProfile:
    """Per-record (or per-person, where noted) probabilities of each kind of variation."""

    typo: float  # one edit in a first or last name
    nickname: float  # William -> Bill
    swap_names: float  # first and last entered the wrong way round
    missing_email: float
    missing_phone: float
    missing_birth_date: float
    missing_address: float
    email_alias: float  # gmail dots, +tags, upper case
    ascii_fold: float  # a system dropping accents (ERP is a legacy ASCII system)
    date_swap: float  # day and month swapped in a birth date
    phone_typo: float  # two digits transposed
    junk_contact: float  # placeholder e-mail / shop phone typed by a cashier
    duplicate: float  # second sign-up of the same person in one source
    accented_names: float  # per person: name with diacritics (Zoë, Björn)
    common_name: float  # per person: forced very common name (John Smith)
    shared_household: float  # per person: shares address/phone/e-mail with the previous one
    move: float  # per person: new address during the world
    email_change: float  # per person: new e-mail during the world
    typo_fix: float  # share of typo'd records that are corrected later


PROFILES: dict[str, NoiseProfile] = {
    "clean": NoiseProfile(
        typo=0.0, nickname=0.0, swap_names=0.0, missing_email=0.05, missing_phone=0.04,
        missing_birth_date=0.10, missing_address=0.04, email_alias=0.0, ascii_fold=0.0,
        date_swap=0.0, phone_typo=0.0, junk_contact=0.0, duplicate=0.01,
        accented_names=0.0, common_name=0.002, shared_household=0.0, move=0.02,
        email_change=0.01, typo_fix=0.0,
    ),
    "realistic": NoiseProfile(
        typo=0.05, nickname=0.08, swap_names=0.02, missing_email=0.15, missing_phone=0.12,
        missing_birth_date=0.25, missing_address=0.10, email_alias=0.08, ascii_fold=0.5,
        date_swap=0.01, phone_typo=0.01, junk_contact=0.01, duplicate=0.03,
        accented_names=0.05, common_name=0.01, shared_household=0.01, move=0.05,
        email_change=0.03, typo_fix=0.3,
    ),
    "hard": NoiseProfile(
        typo=0.10, nickname=0.16, swap_names=0.04, missing_email=0.25, missing_phone=0.22,
        missing_birth_date=0.40, missing_address=0.20, email_alias=0.16, ascii_fold=0.8,
        date_swap=0.03, phone_typo=0.02, junk_contact=0.03, duplicate=0.06,
        accented_names=0.10, common_name=0.04, shared_household=0.03, move=0.10,
        email_change=0.06, typo_fix=0.3,
    ),
}


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a synthetic world; equal specs give identical output.

    >>> from unify.synthetic import WorldSpec, generate, truth
    >>> spec = WorldSpec(people=50, seed=1, noise="hard")
    >>> events = list(generate(spec))
    >>> sorted({source for source, _ in events})
    ['crm_contacts', 'erp_customers', 'erp_orders', 'pos_customers', 'pos_tickets']
    >>> events == list(generate(WorldSpec(people=50, seed=1, noise="hard")))
    True
    >>> sorted({row["kind"] for row in truth(spec)})
    ['person', 'record']
    """

    people: int = 5000
    seed: int = 7
    noise: str = "realistic"  # "clean" | "realistic" | "hard"
    start: str = "2024-01-01"  # world's first day (UTC)
    days: int = 730  # simulated span
    chunk_size: int = 2000  # people simulated together; bounds memory, part of the output
    preexisting: float = 0.15  # people already known before `start` (emitted as snapshot reads)
    systems_mix: tuple[float, float, float] = (0.45, 0.35, 0.20)  # in 1, 2, 3 contact sources
    delete_rate: float = 0.01  # GDPR deletes per contact record
    churn_rate: float = 0.30  # people whose purchase rate decays to zero
    monthly_orders_median: float = 0.35  # log-normal purchase rate: many light, few heavy buyers
    stores: int = 60
    profile: NoiseProfile = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.noise not in PROFILES:
            raise ValueError(f"noise must be one of {NOISE_LEVELS}, got {self.noise!r}")
        if not 1 <= self.people <= MAX_PEOPLE:
            raise ValueError(f"people must be in 1..{MAX_PEOPLE}")
        if self.days < 120 or self.chunk_size < 1 or self.stores < 1:
            raise ValueError("days must be >= 120, chunk_size and stores >= 1")
        if abs(sum(self.systems_mix) - 1.0) > 1e-9 or len(self.systems_mix) != 3:
            raise ValueError("systems_mix must be three shares summing to 1")
        date.fromisoformat(self.start)
        object.__setattr__(self, "profile", PROFILES[self.noise])
