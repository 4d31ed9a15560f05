"""Bad situations end in a clear exception, never a hang."""

import asyncio
import os
import signal
import socket
import threading
import time

import pytest

import wpwithin
from conftest import short_tempdir


@pytest.fixture
def tmp():
    path = short_tempdir("wpw-bad-")
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def both_clients(path, **kwargs):
    """Connects with the sync client and the asyncio client; returns the two exceptions."""
    errors = []
    with pytest.raises(wpwithin.WPWithinClientError) as sync_error:
        wpwithin.Client(path, **kwargs)
    errors.append(sync_error.value)

    async def connect():
        await wpwithin.AsyncClient(path, **kwargs).connect()

    with pytest.raises(wpwithin.WPWithinClientError) as async_error:
        asyncio.run(connect())
    errors.append(async_error.value)
    return errors


def test_daemon_not_running_socket_missing(tmp):
    path = os.path.join(tmp, "none.sock")
    for error in both_clients(path):
        assert type(error) is wpwithin.SocketNotFoundError and isinstance(error, wpwithin.ConnectError)
        assert error.socket_path == path and "is wpwithind running?" in str(error) and path in str(error)
    with pytest.raises(wpwithin.SocketNotFoundError):
        wpwithin.Client(path, connect=False).getDevice()
    with pytest.raises(wpwithin.SocketNotFoundError):
        wpwithin.Client(path).subscribe()


def test_stale_socket_file(tmp):
    path = os.path.join(tmp, "stale.sock")
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)
    leftover.close()  # the file stays, nobody listens: what a crashed daemon leaves
    for error in both_clients(path):
        assert type(error) is wpwithin.StaleSocketError and error.reason == "connectionRefused"
        assert "stale socket" in str(error)


def test_a_path_that_is_not_a_socket(tmp):
    path = os.path.join(tmp, "file")
    open(path, "w").close()
    for error in both_clients(path):
        assert type(error) is wpwithin.NotASocketError


def test_a_path_too_long_for_a_socket_address(tmp):
    path = os.path.join(tmp, "x" * 120 + ".sock")
    for error in both_clients(path):
        assert type(error) is wpwithin.SocketPathTooLongError


def test_the_default_socket(monkeypatch, daemon):
    monkeypatch.setenv("WPWITHIN_SOCKET", daemon.socket_path)
    with wpwithin.Client() as client:
        assert client.socket_path == daemon.socket_path and client.getDevice()["serverId"]
    assert wpwithin.AsyncClient().socket_path == daemon.socket_path
    monkeypatch.delenv("WPWITHIN_SOCKET")
    assert wpwithin.resolve_socket_path() == "/run/wpwithin.sock" == wpwithin.Client(connect=False).socket_path
    assert wpwithin.resolve_socket_path("/x.sock") == "/x.sock"


def stop_during(daemon, sig, call):
    """Runs ``call`` in a thread, stops the daemon with ``sig`` while it waits; returns what happened."""
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            outcome["value"] = call()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - started

    caller = threading.Thread(target=run)
    caller.start()
    time.sleep(0.3)
    daemon.stop(sig)
    caller.join(10)
    assert not caller.is_alive(), "the call hung"
    return outcome


def test_the_daemon_dies_mid_call_then_restarts(daemon):
    with daemon.client() as client:
        outcome = stop_during(daemon, signal.SIGKILL, lambda: client.deviceDiscovery(timeoutMs=20000))
        assert isinstance(outcome.get("error"), wpwithin.ConnectionLostError), outcome
        assert outcome["seconds"] < 5
        # Connection refused while it is down; the same client works again once it is back.
        with pytest.raises(wpwithin.StaleSocketError):
            client.getDevice()
        daemon.start()
        assert client.getDevice()["serverId"]


def test_a_graceful_restart_mid_call_fails_cleanly(daemon):
    with daemon.client() as client:
        outcome = stop_during(daemon, signal.SIGTERM, lambda: client.searchForDevice(name="nobody", timeoutMs=20000))
        # The daemon ends the scan as it stops: "unavailable" (or the connection closes first).
        assert isinstance(outcome.get("error"), (wpwithin.UnavailableError, wpwithin.ConnectionLostError)), outcome
        daemon.start()
        assert client.getStatus()["ready"] is True


def test_the_async_client_loses_a_call_when_the_daemon_dies(daemon):
    async def main():
        async with wpwithin.AsyncClient(daemon.socket_path) as client:
            call = asyncio.ensure_future(client.deviceDiscovery(timeoutMs=20000))
            other = asyncio.ensure_future(client.searchForDevice(name="nobody", timeoutMs=20000))
            await asyncio.sleep(0.3)
            daemon.stop(signal.SIGKILL)
            for pending in (call, other):
                with pytest.raises(wpwithin.ConnectionLostError):
                    await asyncio.wait_for(pending, 5)
            daemon.start()
            assert (await client.getDevice())["serverId"]

    asyncio.run(main())


def test_a_response_longer_than_max_line_length(daemon):
    with daemon.client(max_line_length=2048) as client:
        assert client.getDevice()["serverId"]  # short lines are fine
        with pytest.raises(wpwithin.LineTooLongError, match="longer than 2048 bytes"):
            client.discover()  # about 12 KB
        assert client.getDevice()["serverId"]  # a new connection

    async def main():
        async with wpwithin.AsyncClient(daemon.socket_path, max_line_length=2048) as client:
            with pytest.raises(wpwithin.LineTooLongError):
                await client.discover()
            assert (await client.getDevice())["serverId"]

    asyncio.run(main())


def test_a_request_longer_than_the_daemons_limit(daemon):
    huge = {"id": 1, "name": "x" * (2 << 20)}
    with daemon.client() as client:
        with pytest.raises(wpwithin.MessageTooLargeError) as error:
            client.addService(service=huge)
        assert error.value.data == {"maxLineBytes": 1048576}
        assert client.getDevice()["serverId"]

    async def main():
        async with wpwithin.AsyncClient(daemon.socket_path) as client:
            with pytest.raises(wpwithin.MessageTooLargeError):
                await client.addService(service=huge)
            assert (await client.getDevice())["serverId"]

    asyncio.run(main())


def test_a_call_timeout_leaves_the_connection_usable(daemon):
    with daemon.client() as client:
        started = time.monotonic()
        with pytest.raises(wpwithin.CallTimeoutError, match="no answer within 0.3 s") as error:
            client.call("searchForDevice", {"name": "nobody", "timeoutMs": 1500}, timeout=0.3)
        assert isinstance(error.value, TimeoutError)
        assert time.monotonic() - started < 2
        time.sleep(1.5)  # the late answer arrives, and is dropped
        assert client.getDevice()["serverId"]


def test_closed_clients_and_streams(daemon):
    client = daemon.client()
    stream = client.subscribe()
    client.close()
    client.close()
    with pytest.raises(wpwithin.ClientClosedError):
        client.getDevice()
    assert list(stream) == []  # closed with the client
    client.connect()
    assert client.getDevice()["serverId"]

    # close() from another thread ends an iteration blocked waiting for an event.
    stream = client.subscribe(["daemon.reloaded"])
    threading.Timer(0.3, stream.close).start()
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 5
    client.close()


class FakeDaemon:
    """A socket that answers every line with ``reply(line)`` bytes (or nothing), to misbehave on purpose."""

    def __init__(self, path, reply):
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                while b"\n" in data:
                    line, data = data.split(b"\n", 1)
                    answer = self.reply(line)
                    if answer is None:
                        continue
                    if answer == b"CLOSE":
                        return
                    conn.sendall(answer)

    def close(self):
        self.server.close()


@pytest.mark.parametrize(
    "reply, error, text",
    [
        (lambda line: b"this is not json\n", wpwithin.InvalidResponseError, "not JSON"),
        (lambda line: b"[1, 2]\n", wpwithin.InvalidResponseError, "list instead of a JSON-RPC message"),
        (lambda line: b'{"jsonrpc":"2.0","id":1,"error":"nope"}\n', wpwithin.InvalidResponseError, "malformed error"),
        (lambda line: b'{"jsonrpc":"2.0","id":1,"res', wpwithin.CallTimeoutError, "no answer within"),
        (lambda line: None, wpwithin.CallTimeoutError, "no answer within"),
        (lambda line: b"CLOSE", wpwithin.ConnectionLostError, "closed the connection"),
        (lambda line: b'{"jsonrpc":"2.0","id":1,"error":{"code":-32099,"message":"odd"}}\n', wpwithin.WPWithinError, "odd"),
    ],
)
def test_a_misbehaving_daemon(tmp, reply, error, text):
    fake = FakeDaemon(os.path.join(tmp, "fake.sock"), reply)
    try:
        with wpwithin.Client(fake.path, timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(error, match=text) as raised:
                client.getDevice()
            assert time.monotonic() - started < 3
            if error is wpwithin.WPWithinError:
                assert type(raised.value) is wpwithin.WPWithinError and raised.value.code == -32099
    finally:
        fake.close()


def test_errors_pickle_with_their_fields():
    import pickle

    error = wpwithin.NotFoundError("unknown serverId", data={"field": "serverId"}, method="requestServices")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.code, copy.data, copy.method) == (wpwithin.NotFoundError, -32010, {"field": "serverId"}, "requestServices")
    lost = pickle.loads(pickle.dumps(wpwithin.ConnectionLostError("gone", socket_path="/s")))
    assert str(lost) == "/s: gone"
