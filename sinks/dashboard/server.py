"""Running the dashboard: in the caller's event loop until cancelled, or on a thread of its own."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from sinks.dashboard.app import make_app
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


class DashboardServer:
    """The dashboard on a background thread: `port = DashboardServer(path, port=0).start()`, then `stop()`."""

    def __init__(self, warehouse: Path, *, host: str = "127.0.0.1", port: int = 8080,
                 view_refresh: float = 30.0):
        self._options = {"warehouse": warehouse, "host": host, "port": port, "view_refresh": view_refresh}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port: int | None = None

    def start(self, timeout: float = 60.0) -> int:
        """Start answering; returns the bound port (the chosen one when port=0)."""
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(started),),
                                        name="unify-dashboard", daemon=True)
        self._thread.start()
        self.port = started.result(timeout)
        return self.port

    def stop(self, timeout: float = 30.0) -> None:
        """Stop answering and release the in-memory database."""
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> DashboardServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _run(self, started: concurrent.futures.Future) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with listening(**self._options) as port:
                started.set_result(port)
                await self._stop.wait()
        except Exception as exc:
            if started.done():
                raise
            started.set_exception(exc)
