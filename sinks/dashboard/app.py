"""The web application: the page, its static files, and one JSON endpoint per panel."""
from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
from aiohttp import web

from sinks.dashboard.panels import PANELS
from sinks.dashboard.reader import PanelReader
from sinks.dashboard.timeline import WINDOWS
from sinks.sql_endpoint.engine import Engine
from sinks.warehouse import WarehouseError

STATIC = Path(__file__).parent / "static"
QUERY_THREADS = 4
# Everything the page loads comes from this server; nothing inline, nothing third-party.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_WAREHOUSE = web.AppKey("warehouse", Path)
_VIEW_REFRESH = web.AppKey("view_refresh", float)
_READER = web.AppKey("reader", PanelReader)


def make_app(warehouse: Path, *, view_refresh: float = 30.0) -> web.Application:
    """The dashboard over `warehouse`; views are re-read from the file at most every `view_refresh` s."""
    app = web.Application(middlewares=[_security_headers])
    app[_WAREHOUSE], app[_VIEW_REFRESH] = Path(warehouse), view_refresh
    app.cleanup_ctx.append(_open_warehouse)
    app.router.add_get("/", _page)
    app.router.add_get("/api/{panel}", _panel)
    app.router.add_static("/static/", STATIC)
    return app


async def _open_warehouse(app: web.Application) -> AsyncIterator[None]:
    executor = concurrent.futures.ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="unify-dashboard")
    engine = None
    try:
        engine = await asyncio.get_running_loop().run_in_executor(executor, Engine, app[_WAREHOUSE])
        app[_READER] = PanelReader(engine, executor, view_refresh=app[_VIEW_REFRESH])
        yield
    finally:
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        if engine is not None:
            engine.close()


@web.middleware
async def _security_headers(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    return response


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _panel(request: web.Request) -> web.Response:
    name = request.match_info["panel"]
    if name not in PANELS:
        return web.json_response({"error": f"no panel {name!r}; use one of {', '.join(PANELS)}"}, status=404)
    params = {}
    if name == "timeline":
        params["window"] = request.query.get("window", "all")
        if params["window"] not in WINDOWS:
            return web.json_response({"error": f"window must be one of {', '.join(WINDOWS)}"}, status=400)
    try:
        data = await request.app[_READER].read(name, **params)
    except (duckdb.Error, WarehouseError) as exc:
        # The lake mid-rewrite or a view the worker has not created yet: the page keeps its last data.
        return web.json_response({"error": str(exc).splitlines()[0]}, status=503)
    return web.json_response(data, headers={"Cache-Control": "no-store"})
