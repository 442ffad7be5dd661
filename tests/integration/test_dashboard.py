"""The live dashboard over a real warehouse: its JSON API against DuckDB, and the page in headless Chromium."""
from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
import json
import os
import shutil
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import aiohttp
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from sinks.dashboard import DashboardError, DashboardServer
from sinks.dashboard.timeline import MAX_BUCKETS, MINUTE
from sinks.tables import CHECKPOINTS
from sinks.warehouse import WarehouseError, connect, create_views
from streams.backfill import resolve_files
from streams.settings import load
from tests.conftest import EXAMPLE
from unify.synthetic import WorldSpec, write_jsonl

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--lang=en-US", "--window-size=1366,2200", "--remote-debugging-port=0"]
# A `segments` view takes precedence over any other segment view; with no rows the panel is hidden.
SEGMENTS_VIEW = "CREATE OR REPLACE VIEW segments AS SELECT customer_id, value_band AS segment FROM dim_customer WHERE {}"


@pytest.fixture
def lake(tmp_path):
    """A small synthetic world landed by the file-driven engine, one streamed batch's checkpoint, no segments."""
    settings = load(EXAMPLE).with_overrides(lake=tmp_path / "lake")
    write_jsonl(tmp_path / "world", WorldSpec(people=500, seed=3))
    resolve_files(settings, [(s.name, tmp_path / "world" / f"{s.name}.jsonl") for s in settings.engine.sources])
    commit_checkpoint(settings.lake, batch=1, events={s.topic: 100 for s in settings.engine.sources})
    define_segments(settings.warehouse, "false")
    return settings


@pytest.fixture
def dashboard(lake):
    with DashboardServer(lake.warehouse, port=0, view_refresh=1.0) as server:
        yield f"http://127.0.0.1:{server.port}"


def commit_checkpoint(lake: Path, batch: int, events: dict[str, int]) -> None:
    """Record a committed batch as the streaming worker does (the file-driven engine records none)."""
    now = dt.datetime.now(dt.UTC)
    rows = [{"batch": batch, "written_at": now, "topic": topic, "partition": 0, "next_offset": batch * n,
             "events": n} for topic, n in events.items()]
    write_deltalake(str(lake / "checkpoints"), pa.Table.from_pylist(rows, schema=CHECKPOINTS), mode="append")


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = connect(warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def get(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def define_segments(warehouse: Path, members: str) -> None:
    """Write the view into the file as a worker would; a dashboard may be reading the file that instant."""
    for _ in range(20):
        try:
            con = connect(warehouse)
        except WarehouseError:
            time.sleep(0.1)
            continue
        try:
            con.execute(SEGMENTS_VIEW.format(members))
            return
        finally:
            con.close()
    raise AssertionError("the warehouse file stayed locked")


def test_the_api_agrees_with_the_warehouse_and_never_holds_the_file(lake, dashboard):
    warehouse = lake.warehouse
    status, headers, summary = get(f"{dashboard}/api/summary")
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    (customers, records, linked), = query(warehouse, "SELECT (SELECT count(*) FROM dim_customer), count(*), "
                                                     "count(rule) FROM customer_links")
    assert (summary["customers"], summary["source_records"], summary["linked_records"]) == (customers, records, linked)
    assert summary["match_rate"] == pytest.approx(linked / records)
    (merges, splits), = query(warehouse, "SELECT count(*) FILTER (event = 'merged'), "
                                         "count(*) FILTER (event = 'split') FROM customer_lineage")
    assert (summary["merges"], summary["splits"], summary["dead_letters"]) == (merges, splits, 0)

    timeline = get(f"{dashboard}/api/timeline")[2]
    assert 1 < len(timeline["buckets"]) <= MAX_BUCKETS + 1
    last = timeline["buckets"][-1]
    assert (last["records"], last["customers"]) == (records, customers)  # running totals end at today's
    assert sum(b["merges"] for b in timeline["buckets"]) == merges
    hour = get(f"{dashboard}/api/timeline?window=1h")[2]
    assert hour["width"] == MINUTE and len(hour["buckets"]) <= 61 and hour["buckets"][-1]["records"] == records

    rates = {row["source"]: row["match_rate"] for row in get(f"{dashboard}/api/sources")[2]["sources"]}
    expected = query(warehouse, "SELECT source, count(rule) / count(*) FROM customer_links GROUP BY source")
    assert rates == pytest.approx(dict(expected))

    ingest = get(f"{dashboard}/api/ingest")[2]
    (events,), = query(warehouse, "SELECT sum(events) FROM ingest_checkpoints")
    assert ingest["events"] == events == 100 * len(lake.engine.sources)
    assert 0 <= ingest["now"] - ingest["last_commit_at"] < 60_000

    churn = get(f"{dashboard}/api/churn")[2]
    assert sum(b["customers"] for b in churn["bins"]) + churn["unscored"] == customers
    brands = [b["brand"] for b in get(f"{dashboard}/api/brands")[2]["brands"]]
    assert brands == [name for name, in query(warehouse, "SELECT brand FROM customer_brand_affinity "
                                                          "GROUP BY brand ORDER BY sum(score) DESC, brand LIMIT 10")]
    assert get(f"{dashboard}/api/segments")[2] == {"available": False, "segments": []}
    assert get(f"{dashboard}/api/timeline?window=week")[0] == 400
    assert get(f"{dashboard}/api/customers")[0] == 404

    # The worker's start-up rewrites the views while the dashboard is serving: the file is free.
    create_views(warehouse, lake.lake, lake.engine.attributes)
    assert get(f"{dashboard}/api/summary")[2]["customers"] == customers


def test_a_missing_warehouse_or_a_busy_port_is_one_clear_error(tmp_path, lake, dashboard):
    with pytest.raises(WarehouseError, match="no warehouse yet"):
        DashboardServer(tmp_path / "missing.duckdb", port=0).start()
    with pytest.raises(DashboardError, match="Address already in use"):
        DashboardServer(lake.warehouse, port=int(dashboard.rsplit(":", 1)[1])).start()


def test_the_page_shows_live_data_in_chromium(lake, dashboard, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    warehouse = lake.warehouse
    (customers,), = query(warehouse, "SELECT count(*) FROM dim_customer")
    (merges_and_splits,), = query(warehouse, "SELECT count(*) FROM customer_lineage WHERE event IN ('merged', 'split')")
    top_brands = [name for name, in query(warehouse, "SELECT brand FROM customer_brand_affinity "
                                                      "GROUP BY brand ORDER BY sum(score) DESC, brand LIMIT 3")]
    segments = dict(query(warehouse, "SELECT value_band, count(*) FROM dim_customer "
                                     "WHERE value_band IS NOT NULL GROUP BY 1"))
    screenshot = tmp_path / "dashboard.png"

    async def check() -> None:
        async with Chromium(chromium, tmp_path / "profile", tmp_path / "chromium.log") as browser:
            await browser.send("Page.navigate", url=f"{dashboard}/?refresh=1")
            await browser.wait_for("document.body?.dataset.state === 'ready'")  # body: null while loading
            assert await browser.text("#kpi-customers") == f"{customers:,}"
            assert await browser.evaluate(
                "document.querySelector('#growth-chart polyline.series-records').points.length") > 10
            bars = await browser.evaluate("document.querySelectorAll('#changes-chart rect[class^=col]').length")
            if merges_and_splits:
                assert bars > 0
            else:
                assert await browser.text("#changes-chart") == "No merges or splits in this window"
            assert await browser.evaluate("document.querySelectorAll('#churn-chart rect[class^=col]').length") >= 5
            brands = await browser.text("#brands-bars")
            assert all(brand in brands for brand in top_brands), brands
            assert "ago" in await browser.text("#kpi-freshness")
            assert await browser.evaluate("document.getElementById('segments-card').hidden") is True
            assert await browser.evaluate("document.getElementById('alert').hidden") is True
            shot = await browser.send("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))

            # New commits and a new view arrive while the page is open: the next polls show them.
            commit_checkpoint(lake.lake, batch=2, events={s.topic: 50 for s in lake.engine.sources})
            define_segments(warehouse, "value_band IS NOT NULL")
            events = f"{150 * len(lake.engine.sources):,}"
            await browser.wait_for(f"document.getElementById('kpi-events').textContent === '{events}'")
            await browser.wait_for("!document.getElementById('segments-card').hidden")
            band, size = max(segments.items(), key=lambda item: item[1])
            assert f"{size:,}" in await browser.text("#segments-bars") and band in await browser.text("#segments-bars")

    asyncio.run(check())
    colours = png_colours(screenshot.read_bytes())
    assert len(colours) > 50, "the screenshot is nearly blank"
    for name, rgb in {"records line": (0x00, 0x72, 0xB2), "customers line": (0xC7, 0x78, 0x00),
                      "churn bars": (0x56, 0xB4, 0xE9)}.items():
        assert colours[rgb] > 100, f"no {name} colour in {screenshot}"


class Chromium:
    """Headless Chromium driven over the DevTools protocol, through aiohttp's websocket client."""

    def __init__(self, binary: str, profile: Path, log: Path):
        self._args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self._profile, self._log = profile, log
        self._ids = 0

    async def __aenter__(self) -> Chromium:
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(self._args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._http = aiohttp.ClientSession()
        try:
            port = await self._debugging_port()
            async with self._http.get(f"http://127.0.0.1:{port}/json/list") as response:
                page = next(t for t in await response.json() if t["type"] == "page")
            self._socket = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.close()
        # The whole group: the browser leaves renderer and GPU processes of its own.
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(5)

    async def _debugging_port(self, timeout: float = 30.0) -> int:
        active = self._profile / "DevToolsActivePort"  # Chromium writes the port it chose here
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"chromium exited ({self._process.returncode}): see {self._log}")
            lines = active.read_text().splitlines() if active.exists() else []
            if len(lines) == 2:
                return int(lines[0])
            await asyncio.sleep(0.1)
        raise AssertionError(f"chromium did not open its DevTools port in {timeout:.0f} s: see {self._log}")

    async def send(self, method: str, **params: object) -> dict:
        self._ids += 1
        await self._socket.send_json({"id": self._ids, "method": method, "params": params})
        async for message in self._socket:
            reply = json.loads(message.data)
            if reply.get("id") == self._ids:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
        raise AssertionError("chromium closed the DevTools connection")

    async def evaluate(self, expression: str) -> object:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def text(self, selector: str) -> str:
        return await self.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                page = await self.evaluate("`${location.href}: ${document.getElementById('alert')?.textContent}`")
                raise AssertionError(f"still false after {timeout:.0f} s: {expression} ({page})")
            await asyncio.sleep(0.2)


def png_colours(data: bytes) -> collections.Counter:
    """How many pixels of each RGB colour an 8-bit RGB or RGBA PNG (what Chromium writes) holds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, compressed = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
        elif kind == b"IDAT":
            compressed.append(body)
        position += 12 + length
    step = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(compressed)), width * step
    previous, colours = bytearray(stride), collections.Counter()
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1:start + 1 + stride])
        unfilter(raw[start], line, previous, step)
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, step))
        previous = line
    return collections.Counter({tuple(rgb): n for rgb, n in colours.items()})


def unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> None:
    """Undo one of PNG's five row filters in place (None, Sub, Up, Average, Paeth)."""
    for i in range(len(line)) if kind else ():
        left = line[i - step] if i >= step else 0
        up, up_left = previous[i], (previous[i - step] if i >= step else 0)
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + up) & 255
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 255
        else:
            guess = left + up - up_left
            near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - up_left), 2, up_left))
            line[i] = (line[i] + near[2]) & 255
