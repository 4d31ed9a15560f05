"""Fixtures: a sandbox gateway, a producer daemon and a consumer daemon on loopback, from prebuilt binaries.

Binaries come from ``$WPW_BIN`` (default ``<repo>/.build/debug``). Network rule: daemons serve HTE on
127.0.0.1 (port 0), discovery broadcasts go to 127.255.255.255 from 127.0.0.1 on a free UDP port,
the gateway listens on 127.0.0.1 port 0. Sockets, state and credentials (mode 0600) live in temp dirs.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "clients" / "python" / "src"
if os.environ.get("WPW_PY_INSTALLED") != "1":
    sys.path.insert(0, str(SOURCE))  # test the source tree (scripts/test-python.sh tests the installed copy)

import wpwithin  # noqa: E402

if os.environ.get("WPW_PY_INSTALLED") == "1":
    assert SOURCE not in Path(wpwithin.__file__).resolve().parents, "WPW_PY_INSTALLED=1 but wpwithin comes from the source tree"

CLIENT_KEY = "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356"
SERVICE_KEY = "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"
CARD = {"firstName": "Joe", "lastName": "Bloggs", "expMonth": 12, "expYear": 2099,
        "cardNumber": "4444333322221111", "type": "Card", "cvc": "123"}
ROBOWASH = {"id": 1, "name": "RoboWash", "description": "Car washed by robot", "serviceType": "car-wash",
            "prices": [{"id": 1, "description": "Car wash", "amount": 500, "currencyCode": "GBP",
                        "unitId": 1, "unitDescription": "Single wash", "stock": None}]}

_processes: List[subprocess.Popen] = []


def bin_dir() -> Path:
    return Path(os.environ.get("WPW_BIN") or REPO / ".build" / "debug").resolve()


def executable(name: str) -> str:
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not there: build first (swift build) or set WPW_BIN", pytrace=False)
    return str(path)


def short_tempdir(prefix: str = "wpw-py-") -> str:
    """Short, so socket paths stay under the 107-byte limit."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_private(path: str, value: object) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(value, file)
    os.chmod(path, 0o600)
    return path


def loopback_discovery(port: int, roles: str) -> Dict[str, str]:
    return {
        "WPWITHIND_ROLES": roles,
        "WPWITHIND_BROADCAST_ADDRESS": "127.255.255.255",
        "WPWITHIND_BROADCAST_SOURCE": "127.0.0.1",
        "WPWITHIND_DISCOVERY_PORT": str(port),
        "WPWITHIND_SCAN_BIND_ADDRESS": "127.255.255.255",
        "WPWITHIND_ADVERTISED_HOST": "127.0.0.1",
        "WPWITHIND_HTE_HOST": "127.0.0.1",
    }


def spawn(args: List[str], env: Dict[str, str], stderr_path: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    with open(stderr_path, "ab") as stderr:
        process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    _processes.append(process)
    return process


def stop_process(process: Optional[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 15) -> Optional[int]:
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def raw_call(socket_path: str, method: str, params: Optional[dict] = None, timeout: float = 5) -> dict:
    """One call on a fresh connection, without the client (the harness must not depend on it)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        request = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            request["params"] = params
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
            for line in data.split(b"\n")[:-1]:
                message = json.loads(line)
                if message.get("id") == 1:
                    return message


class Daemon:
    """A ``wpwithind`` on a temp socket and state dir; restartable on the same state."""

    def __init__(self, name: str, env: Dict[str, str], config: Optional[dict] = None):
        self.name = name
        self.dir = short_tempdir(f"wpw-{name[:4]}-")
        self.socket_path = os.path.join(self.dir, "rpc.sock")
        self.state_dir = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.extra_args: List[str] = []
        if config is not None:
            config_path = os.path.join(self.dir, "config.json")
            Path(config_path).write_text(json.dumps(config))
            self.extra_args = ["--config", config_path]
        base = {k: v for k, v in os.environ.items()
                if not (k.startswith(("WPWITHIND_", "LISTEN_", "WATCHDOG_")) or k in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WPWITHIN_SOCKET"))}
        base.update({"WPWITHIND_HTE_HOST": "127.0.0.1", "WPWITHIND_HTE_PORT": "0", "WPWITHIND_STORE_SYNCHRONOUS": "normal",
                     "WPWITHIND_DEVICE_NAME": name})
        base.update(env)
        self.env = base
        self.process: Optional[subprocess.Popen] = None
        self.start()

    def start(self, wait: bool = True) -> None:
        args = [executable("wpwithind"), "--socket", self.socket_path, "--state-dir", self.state_dir,
                "--log-level", "debug", *self.extra_args]
        self.process = spawn(args, self.env, self.log_path)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log}")
            try:
                if raw_call(self.socket_path, "getStatus").get("result", {}).get("ready"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not get ready:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        return stop_process(self.process, sig)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def client(self, **kwargs) -> wpwithin.Client:
        return wpwithin.Client(self.socket_path, **kwargs)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sandbox:
    def __init__(self) -> None:
        self.dir = short_tempdir("wpw-gw-")
        self.process = spawn([executable("wpw-sandbox-gateway"), "--port", "0"], dict(os.environ),
                             os.path.join(self.dir, "sandbox.log"), stdout=subprocess.PIPE)
        line = _read_line(self.process, timeout=30)
        self.port = json.loads(line)["port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def cleanup(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


def _read_line(process: subprocess.Popen, timeout: float) -> bytes:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError("the sandbox gateway did not say where it listens")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the sandbox gateway exited")
    return line


class World:
    """A sandbox gateway, a producer and a consumer that find each other on loopback."""

    def __init__(self, sandbox: Sandbox, producer_config: Optional[dict] = None, name: str = "producer") -> None:
        self.sandbox = sandbox
        self.dir = short_tempdir("wpw-cred-")
        merchant = write_private(os.path.join(self.dir, "merchant.json"), {"clientKey": CLIENT_KEY, "serviceKey": SERVICE_KEY})
        card = write_private(os.path.join(self.dir, "card.json"), CARD)
        port = free_udp_port()
        self.producer = Daemon(name, {**loopback_discovery(port, "producer"), "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint,
                                      "WPWITHIND_MERCHANT_FILE": merchant}, producer_config)
        self.consumer = Daemon("consumer", {**loopback_discovery(port, "consumer"), "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint,
                                            "WPWITHIND_CARD_FILE": card})
        self.server_id = raw_call(self.producer.socket_path, "getDevice")["result"]["serverId"]

    def discover(self, consumer: wpwithin.Client) -> dict:
        """Starts the producer's broadcast and waits until the consumer hears it."""
        raw_call(self.producer.socket_path, "startServiceBroadcast", {"timeoutMs": 0})
        return consumer.searchForDevice(serverId=self.server_id, timeoutMs=20000)

    def cleanup(self) -> None:
        self.producer.cleanup()
        self.consumer.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sandbox():
    gateway = Sandbox()
    yield gateway
    gateway.cleanup()


@pytest.fixture(scope="session")
def world(sandbox):
    """Shared by the tests that only add to it: RoboWash (service 1) in the producer's catalog."""
    shared = World(sandbox, {"producer": {"services": [ROBOWASH]}})
    yield shared
    shared.cleanup()


@pytest.fixture
def fresh_world(sandbox):
    """A producer with an empty catalog and a consumer of its own (for the examples)."""
    own = World(sandbox, name="carwash")
    yield own
    own.cleanup()


@pytest.fixture
def daemon():
    """A lone daemon (both roles, no credentials) that a test may stop, kill and restart."""
    lone = Daemon("lone", loopback_discovery(free_udp_port(), "producer,consumer"))
    yield lone
    lone.cleanup()


@pytest.fixture
def world_clients(world):
    producer = world.producer.client()
    consumer = world.consumer.client()
    yield producer, consumer
    producer.close()
    consumer.close()


def pytest_sessionfinish(session, exitstatus):
    for process in _processes:
        if process.poll() is None:
            process.kill()
            process.wait()
