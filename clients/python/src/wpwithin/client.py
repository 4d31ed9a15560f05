"""The blocking client: one Unix-socket connection, calls serialised, events on a stream of their own."""

import itertools
import socket
import threading
import time
import weakref
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional

from . import _protocol as P
from ._generated import SyncMethods
from .errors import (
    CallTimeoutError,
    ClientClosedError,
    ConnectionLostError,
    InvalidResponseError,
    LineTooLongError,
    WPWithinClientError,
    connect_error,
    error_from_response,
)

_DEFAULT: Any = object()


class _LineSocket:
    """A connected Unix stream socket that reads lines of at most ``max_line_length`` bytes."""

    def __init__(self, path: str, connect_timeout: Optional[float], max_line_length: int):
        self.path = path
        self.max_line_length = max_line_length
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(connect_timeout)
        try:
            self.sock.connect(path)
        except socket.timeout:
            self.sock.close()
            raise CallTimeoutError(f"connect did not finish within {connect_timeout:g} s", socket_path=path) from None
        except OSError as error:
            self.sock.close()
            raise connect_error(error, path) from None
        self.buffer = bytearray()
        self.scanned = 0
        self.broken = False

    def send(self, data: bytes, deadline: Optional[float]) -> None:
        try:
            self.sock.settimeout(_remaining(deadline))
            self.sock.sendall(data)
        except socket.timeout:
            # Part of the line may be out: the stream can no longer be trusted.
            self.broken = True
            raise CallTimeoutError("the daemon did not take the request in time", socket_path=self.path) from None
        except OSError as error:
            self.broken = True
            raise ConnectionLostError(f"connection lost while sending: {error.strerror or error}", socket_path=self.path) from None

    def readline(self, deadline: Optional[float]) -> bytes:
        """The next line without its newline. Raises CallTimeoutError at the deadline (nothing is lost)."""
        while True:
            newline = self.buffer.find(b"\n", self.scanned)
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                self.scanned = 0
                return line
            self.scanned = len(self.buffer)
            if len(self.buffer) > self.max_line_length:
                self.broken = True
                raise LineTooLongError(
                    f"the daemon sent a line longer than {self.max_line_length} bytes; connection closed", socket_path=self.path
                )
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise CallTimeoutError("timed out", socket_path=self.path)
            try:
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(min(65536, self.max_line_length + 1 - len(self.buffer)) or 1)
            except socket.timeout:
                raise CallTimeoutError("timed out", socket_path=self.path) from None
            except OSError as error:
                self.broken = True
                raise ConnectionLostError(f"connection lost: {error.strerror or error}", socket_path=self.path) from None
            if not chunk:
                self.broken = True
                middle = " in the middle of a message" if self.buffer.strip() else ""
                raise ConnectionLostError(f"the daemon closed the connection{middle}", socket_path=self.path)
            self.buffer += chunk

    def wake(self) -> None:
        """Ends a blocked readline from another thread."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.broken = True
        self.sock.close()


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


class Client(SyncMethods, P.Settings):
    """A blocking client for the ``wpwithind`` socket.

    ``Client()`` connects at once to ``socket_path``, else ``$WPWITHIN_SOCKET``, else
    ``/run/wpwithin.sock``. Every RPC method is a method of the client, named and with keyword-only
    parameters exactly as the daemon has them (``client.selectService(serverId=..., serviceId=1,
    priceId=1, numberOfUnits=3)``); ``call(method, params)`` reaches any method by name. Calls from
    several threads are serialised on the one connection. Use it as a context manager, or ``close()`` it.

    Args:
        socket_path: the daemon's socket (default: ``$WPWITHIN_SOCKET``, else ``/run/wpwithin.sock``).
        timeout: seconds a call may take (None: no limit); a call with ``timeoutMs`` gets that much more.
        connect_timeout: seconds connecting may take.
        max_line_length: the longest line accepted from the daemon; a longer one raises LineTooLongError.
        connect: connect now (default) or at the first call.

    A call that loses the connection raises ConnectionLostError and is not retried (its outcome is not
    known); the next call connects again.
    """

    def __init__(
        self,
        socket_path: Optional[str] = None,
        *,
        timeout: Optional[float] = P.DEFAULT_TIMEOUT,
        connect_timeout: Optional[float] = P.DEFAULT_CONNECT_TIMEOUT,
        max_line_length: int = P.DEFAULT_MAX_LINE_LENGTH,
        connect: bool = True,
    ):
        P.Settings.__init__(self, socket_path, timeout, connect_timeout, max_line_length)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._conn: Optional[_LineSocket] = None
        self._closed = False
        self._streams: "weakref.WeakSet[EventStream]" = weakref.WeakSet()
        if connect:
            self.connect()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self._conn else "not connected"
        return f"<wpwithin.Client {self.socket_path} {state}>"

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.broken

    def connect(self) -> None:
        """Connects (again, after a lost connection or ``close()``). Raises a ConnectError subclass."""
        with self._lock:
            self._closed = False
            self._connection()

    def close(self) -> None:
        """Closes the connection and the event streams opened with ``subscribe``. Safe to call twice."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.wake()
            conn.close()
        for stream in list(self._streams):
            stream.close()

    def _connection(self) -> _LineSocket:
        if self._closed:
            raise ClientClosedError("the client was closed", socket_path=self.socket_path)
        if self._conn is not None and not self._conn.broken and P.peer_closed(self._conn.sock.fileno()):
            self._conn.broken = True  # the daemon went away since the last call: nothing was sent, connect again
        if self._conn is None or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._conn = _LineSocket(self.socket_path, self.connect_timeout, self.max_line_length)
        return self._conn

    def call(self, method: str, params: Optional[Mapping[str, Any]] = None, *, timeout: Optional[float] = _DEFAULT) -> Any:
        """Calls ``method`` with named ``params`` (no checks beyond JSON) and returns its result.

        Raises the daemon's error as a WPWithinError subclass, or a WPWithinClientError.
        """
        if timeout is _DEFAULT:
            timeout = P.call_timeout(self.timeout, params)
        request_id = next(self._ids)
        line = P.encode_request(request_id, method, params)
        deadline = _deadline(timeout)
        with self._lock:
            conn = self._connection()
            try:
                conn.send(line, deadline)
                while True:
                    message = P.decode_message(conn.readline(deadline), self.socket_path)
                    if message is None or not P.is_response(message):
                        continue  # blank line or notification
                    answer_id = P.response_id(message)
                    if answer_id == request_id:
                        return P.result_of(message, method)
                    if answer_id is None and "error" in message:
                        # An error the daemon could not tie to a call (e.g. the line was too long); it
                        # closes the connection next.
                        conn.broken = True
                        raise error_from_response(message["error"], method=method)
                    # Otherwise: the late answer of a call that timed out. Dropped.
            except CallTimeoutError:
                raise CallTimeoutError(f"{method}: no answer within {timeout:g} s", socket_path=self.socket_path) from None
            except ConnectionLostError as lost:
                if self._closed:
                    raise ClientClosedError("the client was closed", socket_path=self.socket_path) from None
                raise _explained(conn, method) or lost
            except (InvalidResponseError, LineTooLongError):
                conn.broken = True
                raise
            finally:
                if conn.broken:
                    conn.close()

    def _invoke(self, method: str, params: Dict[str, Any]) -> Any:
        return self.call(method, P.check_params(method, params))

    def discover(self) -> Dict[str, Any]:
        """``rpc.discover``: the daemon's OpenRPC document (same as ``rpc_discover()``)."""
        return self.rpc_discover()

    def subscribe(
        self,
        types: Optional[Iterable[str]] = None,
        resume_from: Optional[int] = None,
        *,
        reconnect: bool = True,
        reconnect_timeout: float = P.DEFAULT_RECONNECT_TIMEOUT,
    ) -> "EventStream":
        """Subscribes to the daemon's events; returns an iterator of :class:`Event`.

        Sends ``subscribe`` (``types``: only these event types, default all; ``resume_from``: replay the
        kept events after this seq) on a connection of its own and returns once the daemon accepted it.
        When the connection is lost (daemon restarted) or the daemon drops the subscription
        (``subscriptionLost``), the stream reconnects for up to ``reconnect_timeout`` seconds and
        resubscribes from the last seq seen: no event is lost or delivered twice. With
        ``reconnect=False`` it raises ConnectionLostError / SubscriptionLostError instead.
        """
        stream = EventStream(self.socket_path, types, resume_from, **self._stream_options(reconnect, reconnect_timeout))
        self._streams.add(stream)
        return stream


def _explained(conn: _LineSocket, method: str) -> Optional[Exception]:
    """After a failed send: the error the daemon answered before closing (e.g. messageTooLarge), if any."""
    deadline = time.monotonic() + 0.5
    try:
        while True:
            message = P.decode_message(conn.readline(deadline), conn.path)
            if message is not None and "error" in message:
                return error_from_response(message["error"], method=method)
    except WPWithinClientError:
        return None


class EventStream(P.StreamDriver):
    """The daemon's events, as an iterator (see ``Client.subscribe``).

    ``for event in stream`` blocks for each event and ends when the stream is closed;
    ``next_event(timeout)`` waits at most ``timeout`` seconds (CallTimeoutError, nothing is lost).
    ``last_seq`` is the seq to resume from; ``subscription`` the daemon's latest subscribe answer.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._advancing = threading.Lock()
        try:
            self._advance(None, stop_at_ready=True)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[P.Event]:
        return self

    def __next__(self) -> P.Event:
        if self._closed:
            raise StopIteration
        try:
            return self.next_event()
        except ClientClosedError:
            if self._closed:
                raise StopIteration from None
            raise

    def next_event(self, timeout: Optional[float] = None) -> P.Event:
        """The next event; CallTimeoutError after ``timeout`` seconds (None: wait as long as it takes)."""
        event = self._advance(_deadline(timeout), stop_at_ready=False)
        assert event is not None
        return event

    def close(self) -> None:
        """Ends the stream (the daemon drops the subscription with the connection). Safe from any thread."""
        self._closed = True
        if self._advancing.acquire(blocking=False):
            try:
                self._close_all()
            finally:
                self._advancing.release()
        else:  # another thread waits for an event: wake it, it finishes the stream
            for conn in list(self._conns.values()):
                conn.wake()

    def _advance(self, deadline: Optional[float], stop_at_ready: bool) -> Optional[P.Event]:
        with self._advancing:
            try:
                while True:
                    op = self._next_io(stop_at_ready)
                    if op[0] in (P.EMIT, P.READY):
                        return op[1] if op[0] == P.EMIT else None
                    try:
                        value = self._perform(op, deadline)
                    except _UserTimeout:
                        raise CallTimeoutError("no event within the timeout", socket_path=self.socket_path) from None
                    except WPWithinClientError as error:
                        self._performed(error=error)
                    else:
                        self._performed(value)
            except ClientClosedError:
                if self._closed:
                    self._close_all()
                raise

    def _perform(self, op: P.Op, deadline: Optional[float]) -> Any:
        kind = op[0]
        if kind == P.CONNECT:
            self._close_conn(op[1])
            self._conns[op[1]] = _LineSocket(self.socket_path, self.connect_timeout, self.max_line_length)
        elif kind == P.CLOSE:
            self._close_conn(op[1])
        elif kind == P.SEND:
            self._conns[op[1]].send(op[2], _deadline(self.timeout))
        elif kind == P.RECV:
            own = _deadline(op[2])
            try:
                return self._conns[op[1]].readline(_earliest(deadline, own))
            except CallTimeoutError:
                if own is not None and (deadline is None or own <= deadline):
                    raise
                raise _UserTimeout from None
        elif kind == P.SLEEP:
            wake = time.monotonic() + op[1]
            time.sleep(max(0.0, min(wake, deadline if deadline is not None else wake) - time.monotonic()))
            if deadline is not None and deadline < wake:
                raise _UserTimeout
        return None


class _UserTimeout(Exception):
    """next_event's own timeout ran out: the op stays pending."""


def _earliest(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
