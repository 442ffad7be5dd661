"""Run an asyncio server on a background thread: for tests and for embedding in a process."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable


class BackgroundServer:
    """`port = server.start()` (the chosen one when port=0), then `server.stop()`; or `with`.

    `listening(**options)` is an async context manager that yields the bound port and stops
    serving when it exits.
    """

    thread_name = "unify-server"

    def __init__(self, listening: Callable[..., Any], **options: Any):
        self._listening = listening
        self._options = options
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port: int | None = None

    def start(self, timeout: float = 60.0) -> int:
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(started),),
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        self.port = started.result(timeout)
        return self.port

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _run(self, started: concurrent.futures.Future) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with self._listening(**self._options) as port:
                started.set_result(port)
                await self._stop.wait()
        except Exception as exc:
            if started.done():
                raise
            started.set_exception(exc)
