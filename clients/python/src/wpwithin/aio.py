"""The asyncio client: pipelined calls on one connection, events on a stream of their own."""

import asyncio
import itertools
from typing import Any, AsyncIterator, Dict, Iterable, Mapping, Optional

from . import _protocol as P
from ._generated import AsyncMethods
from .errors import (
    CallTimeoutError,
    ClientClosedError,
    ConnectionLostError,
    LineTooLongError,
    WPWithinClientError,
    WPWithinError,
    connect_error,
    error_from_response,
)

_DEFAULT: Any = object()


class _LineStream:
    """An asyncio Unix-socket connection that reads lines of at most ``max_line_length`` bytes."""

    def __init__(self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_line_length: int):
        self.path = path
        self.reader = reader
        self.writer = writer
        self.max_line_length = max_line_length
        self.broken = False

    @classmethod
    async def open(cls, path: str, connect_timeout: Optional[float], max_line_length: int) -> "_LineStream":
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(path, limit=max_line_length + 1), connect_timeout
            )
        except asyncio.TimeoutError:
            raise CallTimeoutError(f"connect did not finish within {connect_timeout:g} s", socket_path=path) from None
        except OSError as error:
            raise connect_error(error, path) from None
        return cls(path, reader, writer, max_line_length)

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError as error:
            self.broken = True
            raise ConnectionLostError(f"connection lost while sending: {error.strerror or error}", socket_path=self.path) from None

    async def readline(self) -> bytes:
        """The next line without its newline (cancellation-safe: a partial line stays buffered)."""
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            self.broken = True
            raise LineTooLongError(
                f"the daemon sent a line longer than {self.max_line_length} bytes; connection closed", socket_path=self.path
            ) from None
        except asyncio.IncompleteReadError as error:
            self.broken = True
            middle = " in the middle of a message" if error.partial.strip() else ""
            raise ConnectionLostError(f"the daemon closed the connection{middle}", socket_path=self.path) from None
        except OSError as error:
            self.broken = True
            raise ConnectionLostError(f"connection lost: {error.strerror or error}", socket_path=self.path) from None
        return line[:-1]

    def peer_closed(self) -> bool:
        if self.reader.at_eof():
            return True
        sock = self.writer.get_extra_info("socket")
        return sock is None or P.peer_closed(sock.fileno())

    def close(self) -> None:
        self.broken = True
        self.writer.close()


class AsyncClient(AsyncMethods, P.Settings):
    """An asyncio client for the ``wpwithind`` socket.

    ``async with AsyncClient() as client:`` connects to ``socket_path``, else ``$WPWITHIN_SOCKET``, else
    ``/run/wpwithin.sock`` (or ``await client.connect()``; a call connects when needed). Every RPC
    method is a coroutine method named and with keyword-only parameters exactly as the daemon has them.
    Calls may run concurrently: they are pipelined on the one connection and matched by id.

    Same arguments as :class:`wpwithin.Client`. A call that loses the connection raises
    ConnectionLostError and is not retried; the next call connects again.
    """

    def __init__(
        self,
        socket_path: Optional[str] = None,
        *,
        timeout: Optional[float] = P.DEFAULT_TIMEOUT,
        connect_timeout: Optional[float] = P.DEFAULT_CONNECT_TIMEOUT,
        max_line_length: int = P.DEFAULT_MAX_LINE_LENGTH,
    ):
        P.Settings.__init__(self, socket_path, timeout, connect_timeout, max_line_length)
        self._ids = itertools.count(1)
        self._conn: Optional[_LineStream] = None
        self._reader_task: Optional["asyncio.Task[None]"] = None
        self._pending: Dict[int, "asyncio.Future[Any]"] = {}
        self._connecting: Optional[asyncio.Lock] = None
        self._closed = False
        self._streams: "list[AsyncEventStream]" = []

    async def __aenter__(self) -> "AsyncClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "not connected"
        return f"<wpwithin.AsyncClient {self.socket_path} {state}>"

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.broken

    async def connect(self) -> None:
        """Connects (again, after a lost connection or ``close()``). Raises a ConnectError subclass."""
        self._closed = False
        await self._connection()

    async def close(self) -> None:
        """Closes the connection and the event streams opened with ``subscribe``. Safe to call twice."""
        self._closed = True
        self._drop(ClientClosedError("the client was closed", socket_path=self.socket_path))
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except BaseException:
                pass
            self._reader_task = None
        streams, self._streams = self._streams, []
        for stream in streams:
            await stream.aclose()

    async def _connection(self) -> _LineStream:
        if self._closed:
            raise ClientClosedError("the client was closed", socket_path=self.socket_path)
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._conn is not None and not self._conn.broken and self._conn.peer_closed():
                self._drop(ConnectionLostError("the daemon closed the connection", socket_path=self.socket_path))
            if self._conn is None or self._conn.broken:
                conn = await _LineStream.open(self.socket_path, self.connect_timeout, self.max_line_length)
                self._conn = conn
                self._reader_task = asyncio.ensure_future(self._read(conn))
            return self._conn

    async def _read(self, conn: _LineStream) -> None:
        """Hands each answer to its call; on the end of the connection fails every call still waiting."""
        unmatched: Optional[WPWithinError] = None
        try:
            while True:
                message = P.decode_message(await conn.readline(), self.socket_path)
                if message is None or not P.is_response(message):
                    continue  # blank line or notification
                answer_id = P.response_id(message)
                if answer_id is None:
                    if "error" in message:
                        unmatched = error_from_response(message["error"])
                    continue
                future = self._pending.pop(answer_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
        except WPWithinClientError as error:
            reason: Exception = error
            if isinstance(error, ConnectionLostError) and unmatched is not None:
                if len(self._pending) == 1:
                    reason = unmatched  # the one call in flight sent the line the daemon refused
                else:
                    reason = ConnectionLostError(
                        f"the daemon closed the connection after error {unmatched.code}: {unmatched.message}",
                        socket_path=self.socket_path,
                    )
            if self._conn is conn:
                self._drop(reason)
        except Exception as error:  # pragma: no cover - a bug must not leave calls waiting
            if self._conn is conn:
                self._drop(ConnectionLostError(f"connection reader failed: {error!r}", socket_path=self.socket_path))
            raise

    def _drop(self, reason: Exception) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(reason)

    async def call(self, method: str, params: Optional[Mapping[str, Any]] = None, *, timeout: Optional[float] = _DEFAULT) -> Any:
        """Calls ``method`` with named ``params`` (no checks beyond JSON) and returns its result.

        Raises the daemon's error as a WPWithinError subclass, or a WPWithinClientError.
        """
        if timeout is _DEFAULT:
            timeout = P.call_timeout(self.timeout, params)
        request_id = next(self._ids)
        line = P.encode_request(request_id, method, params)
        conn = await self._connection()
        if self._conn is not conn:  # it ended while connecting (nothing was sent)
            raise ConnectionLostError("the daemon closed the connection", socket_path=self.socket_path)
        future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            try:
                await conn.send(line)
            except ConnectionLostError as lost:
                # The daemon may have answered before closing (e.g. the line was too long): wait for the
                # reader to see it.
                try:
                    await asyncio.wait_for(asyncio.shield(future), 0.5)
                except asyncio.TimeoutError:
                    raise lost from None
            message = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise CallTimeoutError(f"{method}: no answer within {timeout:g} s", socket_path=self.socket_path) from None
        finally:
            self._pending.pop(request_id, None)
        return P.result_of(message, method)

    async def _invoke(self, method: str, params: Dict[str, Any]) -> Any:
        return await self.call(method, P.check_params(method, params))

    async def discover(self) -> Dict[str, Any]:
        """``rpc.discover``: the daemon's OpenRPC document (same as ``rpc_discover()``)."""
        return await self.rpc_discover()

    def subscribe(
        self,
        types: Optional[Iterable[str]] = None,
        resume_from: Optional[int] = None,
        *,
        reconnect: bool = True,
        reconnect_timeout: float = P.DEFAULT_RECONNECT_TIMEOUT,
    ) -> "AsyncEventStream":
        """The daemon's events as an async iterator of :class:`Event` (see ``Client.subscribe``).

        ``async with client.subscribe(types) as events:`` returns once the daemon accepted the
        subscription; ``async for event in events`` then yields each event once, in seq order, across
        reconnects. (Iterating without ``async with`` / ``await events.open()`` subscribes at the first
        ``__anext__``.)
        """
        stream = AsyncEventStream(self.socket_path, types, resume_from, **self._stream_options(reconnect, reconnect_timeout))
        self._streams.append(stream)
        return stream


class AsyncEventStream(P.StreamDriver):
    """The daemon's events, as an async iterator (see ``AsyncClient.subscribe``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._opened = False

    async def open(self) -> "AsyncEventStream":
        """Subscribes (once); returns when the daemon accepted the subscription."""
        if not self._opened:
            try:
                await self._advance(stop_at_ready=True)
            except BaseException:
                await self.aclose()
                raise
            self._opened = True
        return self

    async def __aenter__(self) -> "AsyncEventStream":
        return await self.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[P.Event]:
        return self

    async def __anext__(self) -> P.Event:
        if self._closed:
            raise StopAsyncIteration
        await self.open()
        try:
            return await self.next_event()
        except ClientClosedError:
            if self._closed:
                raise StopAsyncIteration from None
            raise

    async def next_event(self, timeout: Optional[float] = None) -> P.Event:
        """The next event; CallTimeoutError after ``timeout`` seconds (None: wait as long as it takes)."""
        await self.open()
        try:
            event = await asyncio.wait_for(self._advance(stop_at_ready=False), timeout)
        except asyncio.TimeoutError:
            raise CallTimeoutError("no event within the timeout", socket_path=self.socket_path) from None
        assert event is not None
        return event

    async def aclose(self) -> None:
        """Ends the stream (the daemon drops the subscription with the connection)."""
        self._close_all()

    async def _advance(self, stop_at_ready: bool) -> Optional[P.Event]:
        while True:
            op = self._next_io(stop_at_ready)
            if op[0] in (P.EMIT, P.READY):
                return op[1] if op[0] == P.EMIT else None
            if op[0] == P.SEND:
                # Done once written (a cancelled drain must not send the line again); a broken
                # connection shows on the next read.
                conn = self._conns[op[1]]
                conn.writer.write(op[2])
                self._performed()
                try:
                    await conn.writer.drain()
                except OSError:
                    pass
                continue
            try:
                value = await self._perform(op)
            except WPWithinClientError as error:
                self._performed(error=error)
            else:
                self._performed(value)

    async def _perform(self, op: P.Op) -> Any:
        kind = op[0]
        if kind == P.CONNECT:
            self._close_conn(op[1])
            self._conns[op[1]] = await _LineStream.open(self.socket_path, self.connect_timeout, self.max_line_length)
        elif kind == P.CLOSE:
            self._close_conn(op[1])
        elif kind == P.RECV:
            try:
                return await asyncio.wait_for(self._conns[op[1]].readline(), op[2])
            except asyncio.TimeoutError:
                raise CallTimeoutError("no answer in time", socket_path=self.socket_path) from None
        elif kind == P.SLEEP:
            await asyncio.sleep(op[1])
        return None
