"""Running the dashboard: in the caller's event loop until cancelled, or on a thread of its own."""
from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from sinks.dashboard.app import make_app
from sinks.background import BackgroundServer
from unify.errors import UnifyError


class DashboardError(UnifyError):
    """The dashboard cannot start."""


@contextlib.asynccontextmanager
async def listening(warehouse: Path, *, host: str = "127.0.0.1", port: int = 8080,
                    view_refresh: float = 30.0) -> AsyncIterator[int]:
    """The dashboard answering while the block runs; yields the bound port."""
    runner = web.AppRunner(make_app(warehouse, view_refresh=view_refresh), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise DashboardError(f"cannot listen on {host}:{port} ({os.strerror(exc.errno) if exc.errno else exc})") from None
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def serve_dashboard(warehouse: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the live dashboard page until cancelled."""
    async with listening(warehouse, host=host, port=port):
        await asyncio.Event().wait()


class DashboardServer(BackgroundServer):
    """The dashboard on a background thread: `port = DashboardServer(path, port=0).start()`, then `stop()`."""

    thread_name = "unify-dashboard"

    def __init__(self, warehouse: Path, *, host: str = "127.0.0.1", port: int = 8080,
                 view_refresh: float = 30.0):
        super().__init__(listening, warehouse=warehouse, host=host, port=port, view_refresh=view_refresh)
