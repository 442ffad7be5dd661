"""Epoch-millisecond arithmetic and the date formats the source systems use."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

SECOND = 1000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
MONTH = int(30.4375 * DAY)
_EPOCH = date(1970, 1, 1)


def day_ms(iso_day: str) -> int:
    """Epoch ms of midnight UTC of an ISO date."""
    return (date.fromisoformat(iso_day) - _EPOCH).days * DAY


@lru_cache(maxsize=8192)
def _day_string(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def iso_date(ms: int) -> str:
    return _day_string(ms // DAY)


def iso_datetime(ms: int) -> str:
    """'YYYY-MM-DDTHH:MM:SSZ' (formatted by hand: this runs once per order)."""
    seconds = (ms % DAY) // SECOND
    return f"{_day_string(ms // DAY)}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def ymd_of(ms: int) -> tuple[int, int, int]:
    d = _EPOCH + timedelta(days=ms // DAY)
    return d.year, d.month, d.day


def ymd_iso(ymd: tuple[int, int, int]) -> str:
    return f"{ymd[0]:04d}-{ymd[1]:02d}-{ymd[2]:02d}"


def ymd_dmy(ymd: tuple[int, int, int]) -> str:
    return f"{ymd[2]:02d}/{ymd[1]:02d}/{ymd[0]:04d}"


def ymd_mdy(ymd: tuple[int, int, int]) -> str:
    return f"{ymd[1]:02d}/{ymd[2]:02d}/{ymd[0]:04d}"
