"""The listener: password authentication, idle and malformed clients dropped, and the runners."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from pg_mimic import IdentityProvider, PgServer, ScramSha256AuthPlugin
from pg_mimic.messages import make_error_response

from sinks.sql_endpoint.engine import Engine
from sinks.sql_endpoint.session import WarehouseSession
from sinks.sql_endpoint.settings import SERVER_VERSION
from sinks.background import BackgroundServer
from unify.errors import UnifyError

log = logging.getLogger(__name__)
# pg_mimic logs every wrong password with a traceback; it is the client's mistake, not ours.
logging.getLogger("pg_mimic.auth").setLevel(logging.ERROR)

QUERY_THREADS = 16
# Far above any real query text; a wild length (an HTTP request read as a message header)
# ends the connection instead of waiting for gigabytes.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class EndpointError(UnifyError):
    """The SQL endpoint cannot start."""


class _OneUser(IdentityProvider):
    """The configured user's password; any other user name gets a secret nobody knows."""

    def __init__(self, user: str, password: str):
        self._user, self._password = user, password

    async def get_password(self, username: str) -> str:
        return self._password if username == self._user else secrets.token_hex(32)


class _GuardedReader:
    """The client's side of the socket, closed on a client idle too long or a wild length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle_timeout: float):
        self._reader, self._writer, self._idle_timeout = reader, writer, idle_timeout

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    async def readexactly(self, n: int) -> bytes:
        if n > MAX_MESSAGE_BYTES:
            raise asyncio.IncompleteReadError(b"", n)
        try:
            return await asyncio.wait_for(self._reader.readexactly(n), self._idle_timeout)
        except TimeoutError:
            self._writer.write(make_error_response({"S": "FATAL", "V": "FATAL", "C": "57P05",
                                                    "M": "terminating connection due to idle-session timeout"}))
            raise asyncio.IncompleteReadError(b"", n) from None


class _Server(PgServer):
    def __init__(self, engine: Engine, executor: concurrent.futures.Executor, user: str, password: str,
                 idle_timeout: float):
        super().__init__(session_factory=lambda: WarehouseSession(engine, executor),
                         auth_plugin_factory=lambda _user: ScramSha256AuthPlugin(),
                         identity_provider=_OneUser(user, password), server_version=SERVER_VERSION)
        self._idle_timeout = idle_timeout

    async def _client_connected_cb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # pg_mimic reads only through readexactly, so guarding it covers every read.
        try:
            await super()._client_connected_cb(_GuardedReader(reader, writer, self._idle_timeout), writer)
        except Exception as exc:  # a malformed client must cost only its own connection
            log.info("dropped a client: %s: %s", type(exc).__name__, exc)


@contextlib.asynccontextmanager
async def listening(warehouse: Path, *, host: str = "127.0.0.1", port: int = 5433, user: str = "unify",
                    password: str, idle_timeout: float = 300.0) -> AsyncIterator[int]:
    """The endpoint accepting connections while the block runs; yields the bound port."""
    if not password:
        raise EndpointError("unify serve needs a password")
    executor = concurrent.futures.ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="unify-serve")
    engine = None
    try:
        engine = await asyncio.get_running_loop().run_in_executor(executor, Engine, Path(warehouse))
        server = _Server(engine, executor, user, password, idle_timeout)
        try:
            await server.start_server(host=host, port=port)
        except OSError as exc:
            raise EndpointError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        try:
            yield server.sockets()[0].getsockname()[1]
        finally:
            server.close()
            await server.wait_closed()
    finally:
        # Off the loop, so the cancelled sessions can still interrupt their queries meanwhile.
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        if engine is not None:
            engine.close()


async def serve(warehouse: Path, *, host: str = "127.0.0.1", port: int = 5433, user: str = "unify",
                password: str, idle_timeout: float = 300.0) -> None:
    """Serve the warehouse read-only over the PostgreSQL wire protocol until cancelled."""
    async with listening(warehouse, host=host, port=port, user=user, password=password, idle_timeout=idle_timeout):
        await asyncio.Event().wait()


class SqlEndpoint(BackgroundServer):
    """The endpoint on a background thread: `port = SqlEndpoint(path, password=p).start()`, then `stop()`."""

    thread_name = "unify-serve"

    def __init__(self, warehouse: Path, *, host: str = "127.0.0.1", port: int = 5433, user: str = "unify",
                 password: str, idle_timeout: float = 300.0):
        super().__init__(listening, warehouse=warehouse, host=host, port=port, user=user, password=password,
                         idle_timeout=idle_timeout)
