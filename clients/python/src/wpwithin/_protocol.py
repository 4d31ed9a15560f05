"""What the sync and asyncio clients share: framing, messages, argument checks, the event stream logic.

Nothing here does I/O. The event stream is a generator that yields the I/O it needs (connect, send,
receive a line, sleep) and the events it delivers; ``client.py`` and ``aio.py`` run it with blocking
sockets and with asyncio respectively.
"""

import json
import os
import select
import time
from typing import Any, Dict, Generator, Iterable, List, Mapping, Optional, Tuple

from ._generated import EVENT_TYPES, PARAMS, EventParams
from .errors import (
    ConnectError,
    ConnectionLostError,
    CallTimeoutError,
    InvalidResponseError,
    SubscriptionLostError,
    UnavailableError,
    error_from_response,
)

#: Where the daemon listens unless told otherwise.
DEFAULT_SOCKET_PATH = "/run/wpwithin.sock"
#: The environment variable that overrides DEFAULT_SOCKET_PATH.
SOCKET_ENVIRONMENT_VARIABLE = "WPWITHIN_SOCKET"
#: Default cap on one line read from the daemon (16 MiB, as the Swift client).
DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024
#: Default time a call may take (seconds); calls with a ``timeoutMs`` parameter get that much longer.
DEFAULT_TIMEOUT = 60.0
#: Default time connecting may take (seconds).
DEFAULT_CONNECT_TIMEOUT = 5.0
#: How long an event stream keeps trying to reconnect after losing the daemon (seconds).
DEFAULT_RECONNECT_TIMEOUT = 30.0


def resolve_socket_path(explicit: Optional[str] = None) -> str:
    """``explicit`` if given and non-empty, else ``$WPWITHIN_SOCKET``, else ``/run/wpwithin.sock``."""
    if explicit:
        return os.fspath(explicit)
    return os.environ.get(SOCKET_ENVIRONMENT_VARIABLE) or DEFAULT_SOCKET_PATH


def peer_closed(fileno: int) -> bool:
    """True when the daemon has closed its end of the connection (so a request must not go out on it)."""
    poller = select.poll()
    poller.register(fileno, select.POLLIN | _POLLRDHUP)
    return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL | _POLLRDHUP) for _, events in poller.poll(0))


_POLLRDHUP = getattr(select, "POLLRDHUP", 0)


def call_timeout(default: Optional[float], params: Optional[Mapping[str, Any]]) -> Optional[float]:
    """The timeout for a call: ``default``, stretched to cover a ``timeoutMs`` the daemon will wait."""
    if default is None or not isinstance(params, Mapping):
        return default
    waits = params.get("timeoutMs")
    if isinstance(waits, int) and not isinstance(waits, bool) and waits > 0:
        return max(default, waits / 1000.0 + 10.0)
    return default


def encode_request(request_id: Optional[int], method: str, params: Optional[Mapping[str, Any]]) -> bytes:
    """One request line (with its newline). NaN, infinities and non-JSON values raise ValueError/TypeError."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    request: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        request["id"] = request_id
    if params is not None:
        if not isinstance(params, Mapping):
            raise TypeError(f"{method}: params must be a mapping (the daemon takes parameters by name)")
        request["params"] = dict(params)
    return json.dumps(request, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8") + b"\n"


def decode_message(line: bytes, socket_path: Optional[str]) -> Optional[Dict[str, Any]]:
    """The JSON-RPC message on one line, or None for a blank line."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        return None
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidResponseError("the daemon sent a line that is not JSON", socket_path=socket_path) from None
    if not isinstance(message, dict):
        raise InvalidResponseError(
            f"the daemon sent a {type(message).__name__} instead of a JSON-RPC message object", socket_path=socket_path
        )
    return message


def is_response(message: Mapping[str, Any]) -> bool:
    return "result" in message or "error" in message


def response_id(message: Mapping[str, Any]) -> Optional[int]:
    """The id of a response, or None (a notification, or an error the daemon could not tie to a call)."""
    value = message.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def result_of(message: Mapping[str, Any], method: str) -> Any:
    """The ``result`` of a response, or raises the daemon's error as a WPWithinError subclass."""
    if "error" in message:
        raise error_from_response(message["error"], method=method)
    return message.get("result")


# ---------------------------------------------------------------------------------------------------
# Argument checks (the typed layer): wrong types raise TypeError, out-of-range values ValueError.


def check_params(method: str, params: Mapping[str, Any]) -> Dict[str, Any]:
    """Checks named params against the method's schema (from rpc.discover); drops the ones left None."""
    specs = PARAMS[method]
    checked: Dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name not in specs:
            raise TypeError(f"{method}() got an unexpected parameter {name!r}")
        _check_value(f"{method}: {name}", value, specs[name]["schema"])
        checked[name] = value
    for name, spec in specs.items():
        if spec["required"] and name not in checked:
            raise TypeError(f"{method}() missing required parameter {name!r}")
    return checked


_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "object": (Mapping,)}


def _check_value(where: str, value: Any, schema: Mapping[str, Any]) -> None:
    kind = schema.get("type")
    if kind == "array":
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{where} must be a list, not {type(value).__name__}")
        for index, item in enumerate(value):
            _check_value(f"{where}[{index}]", item, schema.get("items", {}))
        return
    if kind in _TYPES:
        wrong_bool = isinstance(value, bool) and kind != "boolean"
        if wrong_bool or not isinstance(value, _TYPES[kind]):
            raise TypeError(f"{where} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, not {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ValueError(f"{where} must be >= {schema['minimum']}, got {value!r}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ValueError(f"{where} must be <= {schema['maximum']}, got {value!r}")


# ---------------------------------------------------------------------------------------------------
# Events.


class Event:
    """One event of the daemon's stream.

    ``seq`` (strictly increasing within one daemon run), ``type`` (e.g. ``"producer.deliveryBegun"``),
    ``time`` (RFC 3339 text), ``params`` (the whole notification params: the payload plus seq, type
    and time). ``event["serviceId"]`` reads the payload. ``epoch`` counts the daemon restarts after which
    the daemon numbered its events from 1 again (0 for the daemon run the stream started with).

    ``params`` is typed: ``EventParams``, the union of one TypedDict per documented event type
    (``EventProducerPaymentSucceeded``, ``EventConsumerPurchaseRecorded``, …, generated from rpc.discover),
    discriminated by its ``"type"`` key, so a type checker narrows it::

        params = event.params
        if params["type"] == "producer.paymentSucceeded":
            code: str = params["pspOrderCode"]

    ``payload`` is the same dict under a second name. ``known`` is False for a type this client's document
    does not list (a newer daemon): such params arrive as they came.
    """

    __slots__ = ("seq", "type", "time", "params", "epoch")

    params: EventParams

    def __init__(self, seq: int, type: str, time: str, params: Mapping[str, Any], epoch: int = 0):
        self.seq = seq
        self.type = type
        self.time = time
        self.params = params  # type: ignore[assignment]  # checked against the document by type, not here
        self.epoch = epoch

    @property
    def payload(self) -> EventParams:
        """The typed params (``EventParams``): the same dict as ``params``."""
        return self.params

    @property
    def known(self) -> bool:
        """True when ``type`` is one of the event types this client was generated from (``EVENT_TYPES``)."""
        return self.type in EVENT_TYPES

    @classmethod
    def from_params(cls, params: Any, epoch: int) -> Optional["Event"]:
        if not isinstance(params, dict):
            return None
        seq, kind = params.get("seq"), params.get("type")
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(kind, str):
            return None
        return cls(seq, kind, str(params.get("time", "")), params, epoch)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.epoch, self.seq, self.params) == (other.epoch, other.seq, other.params)

    def __repr__(self) -> str:
        payload = {k: v for k, v in self.params.items() if k not in ("seq", "type", "time")}
        return f"Event(seq={self.seq}, type={self.type!r}, time={self.time!r}, payload={payload!r})"


# The I/O an event stream asks its driver for. Each op is a tuple; the driver sends back the result.
CONNECT = "connect"  # (CONNECT, name) -> None; raises ConnectError
CLOSE = "close"  # (CLOSE, name) -> None
SEND = "send"  # (SEND, name, bytes) -> None; raises ConnectionLostError
RECV = "recv"  # (RECV, name, timeout or None) -> bytes (one line); raises ConnectionLostError, CallTimeoutError
SLEEP = "sleep"  # (SLEEP, seconds) -> None
READY = "ready"  # (READY, subscribe result) -> None: subscribed (the first time: the stream is open)
EMIT = "emit"  # (EMIT, Event) -> None: hand one event to the application

MAIN, PROBE = "main", "probe"

Op = Tuple[Any, ...]
_RECOVERABLE = (ConnectionLostError, ConnectError, CallTimeoutError, UnavailableError)


class StreamState:
    """What an event stream knows: where to resume, and how often the daemon renumbered."""

    def __init__(self, types: Optional[Iterable[str]], resume_from: Optional[int]):
        if types is not None and not isinstance(types, (str, bytes, Mapping)):
            types = list(types)
        check_params("subscribe", {"types": types, "resumeFrom": resume_from})
        self.types: Optional[List[str]] = types  # type: ignore[assignment]
        self.last_seq: Optional[int] = resume_from
        self.epoch = 0
        self.pid: Optional[int] = None
        self.subscription: Optional[Dict[str, Any]] = None
        self.reconnects = 0


def event_stream(
    state: StreamState,
    socket_path: str,
    call_timeout: Optional[float],
    reconnect: bool,
    reconnect_timeout: float,
) -> Generator[Op, Any, None]:
    """The event stream as a generator of I/O ops (see the constants above).

    Subscribes on a connection of its own; yields every ``event`` notification once, in seq order. When
    the connection is lost (daemon restarted or gone) or the daemon sends ``subscriptionLost``, it
    reconnects and resubscribes with ``resumeFrom`` = the last seq seen, so nothing is lost or repeated.
    A daemon that restarted and numbers its events from 1 again is detected (its pid changed and its
    ``daemon.started`` event is not newer than the last seq seen): the stream then replays the new run's
    kept events from the start and counts a new ``epoch``.
    """
    ids = iter(range(1, 1 << 62))
    first = True
    lost_since: Optional[float] = None
    delay = 0.05
    while True:
        # (Re)connect and subscribe.
        try:
            yield (CONNECT, MAIN)
            status = yield from _call(MAIN, next(ids), "getStatus", None, call_timeout, socket_path)
            pid = status.get("pid") if isinstance(status, dict) else None
            if not first and state.pid is not None and pid != state.pid and state.last_seq:
                yield from _check_renumbered(state, next(ids), call_timeout, socket_path)
            state.pid = pid
            pending = yield from _subscribe(state, next(ids), call_timeout, socket_path)
            if state.last_seq is not None and state.subscription["lastSeq"] < state.last_seq and not first:
                # The daemon's numbering went back: it restarted and numbers from 1 again.
                _renumbered(state)
                yield (CLOSE, MAIN)
                continue
        except _RECOVERABLE as error:
            yield (CLOSE, MAIN)
            if first or not reconnect:
                raise
            if lost_since is None:
                lost_since = time.monotonic()
            if time.monotonic() - lost_since > reconnect_timeout:
                raise ConnectionLostError(
                    f"could not resubscribe for {reconnect_timeout:g} s: {error}", socket_path=socket_path
                ) from error
            yield (SLEEP, delay)
            delay = min(delay * 2, 1.0)
            continue
        first, lost_since, delay = False, None, 0.05
        yield (READY, state.subscription)

        # Deliver events until the connection or the subscription is lost.
        try:
            while True:
                message = pending.pop(0) if pending else None
                if message is None:
                    line = yield (RECV, MAIN, None)
                    message = decode_message(line, socket_path)
                    if message is None:
                        continue
                method = message.get("method")
                if method == "event":
                    event = Event.from_params(message.get("params"), state.epoch)
                    if event is not None and (state.last_seq is None or event.seq > state.last_seq):
                        state.last_seq = event.seq
                        yield (EMIT, event)
                elif method == "subscriptionLost":
                    if not reconnect:
                        raise SubscriptionLostError(
                            f"the daemon dropped the event subscription ({_reason(message)}); "
                            f"resubscribe with resume_from={state.last_seq}",
                            socket_path=socket_path,
                            last_seq=state.last_seq,
                        )
                    state.reconnects += 1
                    pending = yield from _subscribe(state, next(ids), call_timeout, socket_path)
                    yield (READY, state.subscription)
        except _RECOVERABLE:
            yield (CLOSE, MAIN)
            if not reconnect:
                raise
            state.reconnects += 1
            lost_since = time.monotonic()


def _reason(message: Mapping[str, Any]) -> str:
    params = message.get("params")
    return str(params.get("reason", "unknown")) if isinstance(params, dict) else "unknown"


def _renumbered(state: StreamState) -> None:
    state.epoch += 1
    state.last_seq = 0


def _subscribe(state: StreamState, request_id: int, timeout: Optional[float], socket_path: str):
    params: Dict[str, Any] = {}
    if state.types is not None:
        params["types"] = state.types
    if state.last_seq is not None:
        params["resumeFrom"] = state.last_seq
    pending: List[Dict[str, Any]] = []
    result = yield from _call(MAIN, request_id, "subscribe", params, timeout, socket_path, pending)
    if not isinstance(result, dict) or not isinstance(result.get("lastSeq"), int):
        raise InvalidResponseError(f"unexpected subscribe result: {result!r}", socket_path=socket_path)
    state.subscription = result
    if state.last_seq is None:
        state.last_seq = result["lastSeq"]
    return pending


def _check_renumbered(state: StreamState, request_id: int, timeout: Optional[float], socket_path: str):
    """After a restart: is the new run's ``daemon.started`` numbered at or below the last seq seen?"""
    started: List[Dict[str, Any]] = []
    yield (CONNECT, PROBE)
    try:
        result = yield from _call(
            PROBE, request_id, "subscribe", {"types": ["daemon.started"], "resumeFrom": 0}, timeout, socket_path, started
        )
        while len(started) < int(result.get("replayed", 0)):
            line = yield (RECV, PROBE, timeout)
            message = decode_message(line, socket_path)
            if message is not None and message.get("method") == "event":
                started.append(message)
    except _RECOVERABLE:
        yield (CLOSE, PROBE)
        raise
    yield (CLOSE, PROBE)
    seqs = [m["params"]["seq"] for m in started if isinstance(m.get("params"), dict) and isinstance(m["params"].get("seq"), int)]
    if seqs and max(seqs) <= (state.last_seq or 0):
        _renumbered(state)


def _call(
    name: str,
    request_id: int,
    method: str,
    params: Optional[Mapping[str, Any]],
    timeout: Optional[float],
    socket_path: str,
    notifications: Optional[List[Dict[str, Any]]] = None,
):
    """One call on connection ``name``; notifications that arrive meanwhile are appended to ``notifications``."""
    yield (SEND, name, encode_request(request_id, method, params))
    while True:
        line = yield (RECV, name, timeout)
        message = decode_message(line, socket_path)
        if message is None:
            continue
        if is_response(message):
            if response_id(message) == request_id:
                return result_of(message, method)
            if response_id(message) is None and "error" in message:
                raise error_from_response(message["error"], method=method)
        elif notifications is not None:
            notifications.append(message)


class Settings:
    """Where the daemon is and how long to wait: shared by the clients and their event streams."""

    def __init__(
        self,
        socket_path: Optional[str],
        timeout: Optional[float],
        connect_timeout: Optional[float],
        max_line_length: int,
    ):
        if max_line_length <= 0:
            raise ValueError("max_line_length must be positive")
        self.socket_path = resolve_socket_path(socket_path)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_line_length = max_line_length

    def _stream_options(self, reconnect: bool, reconnect_timeout: float) -> Dict[str, Any]:
        return {
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "max_line_length": self.max_line_length,
            "reconnect": reconnect,
            "reconnect_timeout": reconnect_timeout,
        }


class StreamDriver(Settings):
    """Steps the ``event_stream`` generator; the sync and asyncio streams perform its I/O ops."""

    def __init__(
        self,
        socket_path: Optional[str] = None,
        types: Optional[Iterable[str]] = None,
        resume_from: Optional[int] = None,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        connect_timeout: Optional[float] = DEFAULT_CONNECT_TIMEOUT,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        reconnect: bool = True,
        reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT,
    ):
        super().__init__(socket_path, timeout, connect_timeout, max_line_length)
        self._state = StreamState(types, resume_from)
        self._generator = event_stream(self._state, self.socket_path, timeout, reconnect, reconnect_timeout)
        self._conns: Dict[str, Any] = {}
        self._op: Optional[Op] = None
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._closed = False
        self._failure: Optional[BaseException] = None

    @property
    def last_seq(self) -> Optional[int]:
        """The seq of the last event delivered (or the resume point): resubscribe from here."""
        return self._state.last_seq

    @property
    def subscription(self) -> Optional[Dict[str, Any]]:
        """The daemon's answer to the latest subscribe: ``lastSeq``, ``replayed``, ``truncated``."""
        return self._state.subscription

    @property
    def epoch(self) -> int:
        """How many times the daemon restarted and numbered its events from 1 again."""
        return self._state.epoch

    @property
    def reconnects(self) -> int:
        """How many times the stream resubscribed after a lost connection or subscription."""
        return self._state.reconnects

    @property
    def closed(self) -> bool:
        return self._closed

    def _next_io(self, stop_at_ready: bool) -> Op:
        """The next I/O op to perform, or an EMIT op (an event), or READY when ``stop_at_ready``.

        An op whose performing was interrupted (timeout, cancellation) is returned again.
        """
        from .errors import ClientClosedError

        while True:
            if self._closed:
                raise ClientClosedError("the event stream was closed", socket_path=self.socket_path)
            if self._failure is not None:
                raise ClientClosedError(f"the event stream ended: {self._failure}", socket_path=self.socket_path)
            if self._op is None:
                try:
                    if self._error is not None:
                        error, self._error = self._error, None
                        self._op = self._generator.throw(error)
                    else:
                        self._op = self._generator.send(self._value)
                except BaseException as failure:
                    self._failure = failure
                    raise
                self._value = None
            op = self._op
            if op[0] not in (EMIT, READY):
                return op
            self._performed()
            if op[0] == EMIT or stop_at_ready:
                return op

    def _performed(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        self._op, self._value, self._error = None, value, error

    def _close_conn(self, name: str) -> None:
        conn = self._conns.pop(name, None)
        if conn is not None:
            conn.close()

    def _close_all(self) -> None:
        self._closed = True
        for name in list(self._conns):
            self._close_conn(name)
        try:
            self._generator.close()
        except RuntimeError:  # pragma: no cover - the generator never yields while closing
            pass
