"""Panel data read off the event loop and shared by every viewer for a moment.

Each viewer polls every few seconds; without sharing, ten open tabs would run every query ten
times. View definitions are re-read from the warehouse file (opened read-only for an instant)
at most every `view_refresh` seconds and only while someone is watching, so a worker restart's
re-created views, or a new `segments` view, show up without ever holding the file.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import time

from sinks.dashboard.panels import PANELS
from sinks.sql_endpoint.engine import Engine


class PanelReader:
    """Answers panel requests from one Engine, on the executor's threads."""

    def __init__(self, engine: Engine, executor: concurrent.futures.Executor, *,
                 fresh_for: float = 2.0, view_refresh: float = 30.0):
        self._engine, self._executor = engine, executor
        self._fresh_for, self._view_refresh = fresh_for, view_refresh
        self._answers: dict[tuple, tuple[float, asyncio.Future]] = {}
        self._views_read_at = time.monotonic()

    async def read(self, panel: str, **params: str) -> dict:
        """The panel's data, computed at most once per `fresh_for` seconds for all viewers."""
        key = (panel, *sorted(params.items()))
        now = time.monotonic()
        answer = self._answers.get(key)
        if answer is None or now - answer[0] > self._fresh_for:
            answer = (now, asyncio.ensure_future(self._compute(panel, params)))
            self._answers[key] = answer
        # Shielded: a viewer who leaves must not cancel the answer others are waiting for.
        return await asyncio.shield(answer[1])

    async def _compute(self, panel: str, params: dict[str, str]) -> dict:
        loop = asyncio.get_running_loop()
        if time.monotonic() - self._views_read_at > self._view_refresh:
            self._views_read_at = time.monotonic()
            await loop.run_in_executor(self._executor, self._engine.refresh)
        return await loop.run_in_executor(self._executor, self._query, panel, params)

    def _query(self, panel: str, params: dict[str, str]) -> dict:
        self._engine.renew()
        cursor = self._engine.cursor()
        try:
            return PANELS[panel](cursor, **params)
        finally:
            cursor.close()
