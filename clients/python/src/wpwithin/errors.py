"""Exceptions of the wpwithin client.

Two families, as in the Swift client:

* :class:`WPWithinError` -- the daemon answered a call with a JSON-RPC ``error`` object. It carries the
  daemon's stable ``code``, its ``message`` (for humans) and ``data`` (e.g. ``data["field"]`` for
  :class:`InvalidParamsError`). There is one subclass per stable code of ``docs/rpc.md``; an unknown code
  gives a plain :class:`WPWithinError`.
* :class:`WPWithinClientError` -- the client itself failed: it could not connect, the connection was lost,
  the daemon sent something unreadable or too long, or a call took longer than its timeout.

Wrong argument types are caught before anything is sent, as :class:`TypeError` / :class:`ValueError`.
"""

import errno as _errno
import os
import stat
from typing import Any, Dict, Optional, Type

__all__ = [
    "WPWithinError",
    "ERRORS_BY_CODE",
    "error_from_response",
    "WPWithinClientError",
    "ConnectError",
    "SocketNotFoundError",
    "StaleSocketError",
    "SocketPermissionError",
    "NotASocketError",
    "SocketPathTooLongError",
    "ConnectionLostError",
    "LineTooLongError",
    "InvalidResponseError",
    "SubscriptionLostError",
    "ClientClosedError",
    "CallTimeoutError",
]


class WPWithinError(Exception):
    """The daemon refused a call: ``code`` (stable), ``message`` (for humans), ``data`` (or None).

    ``method`` names the call that failed, when known. ``name`` is the code's name in docs/rpc.md
    (``"notFound"``, ``"paymentDeclined"``, ...).
    """

    code: int = 0
    name: str = "error"

    def __init__(self, message: str, *, code: Optional[int] = None, data: Any = None, method: Optional[str] = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.data = data
        self.method = method

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        text = f"{where}{self.message} ({self.name} {self.code})"
        if self.data is not None:
            text += f" data={self.data!r}"
        return text

    def __reduce__(self):
        return (_rebuild_error, (type(self), self.message, self.code, self.data, self.method))


def _rebuild_error(cls, message, code, data, method):
    return cls(message, code=code, data=data, method=method)


# One class per stable code of docs/rpc.md "Errors".


class ParseError(WPWithinError):
    """-32700 parseError: the line is not JSON / not UTF-8 (connection then closed)."""

    code = -32700
    name = "parseError"


class InvalidRequestError(WPWithinError):
    """-32600 invalidRequest: not an object, jsonrpc ≠ "2.0", method not a string, bad id, unknown member, empty batch."""

    code = -32600
    name = "invalidRequest"


class MethodNotFoundError(WPWithinError):
    """-32601 methodNotFound: no such method (data.method)."""

    code = -32601
    name = "methodNotFound"


class InvalidParamsError(WPWithinError):
    """-32602 invalidParams: a missing, unknown or mistyped parameter; data.field names it."""

    code = -32602
    name = "invalidParams"


class InternalError(WPWithinError):
    """-32603 internalError: an unexpected failure; never carries internals, only data.errorId to find the log line."""

    code = -32603
    name = "internalError"


class UnavailableError(WPWithinError):
    """-32000 unavailable: the daemon is starting or stopping."""

    code = -32000
    name = "unavailable"


class MessageTooLargeError(WPWithinError):
    """-32001 messageTooLarge: the line exceeded rpc.maxLineBytes (connection then closed)."""

    code = -32001
    name = "messageTooLarge"


class OverloadedError(WPWithinError):
    """-32002 overloaded: too many connections (data.maxConnections)."""

    code = -32002
    name = "overloaded"


class RoleDisabledError(WPWithinError):
    """-32003 roleDisabled: the method needs a role (producer/consumer) this Thing does not run."""

    code = -32003
    name = "roleDisabled"


class StorageLowError(WPWithinError):
    """-32004 storageLow: the state volume is nearly full; new quotes and payments are refused until space is freed."""

    code = -32004
    name = "storageLow"


class NotFoundError(WPWithinError):
    """-32010 notFound: unknown serverId, service, price, order or purchase."""

    code = -32010
    name = "notFound"


class ConflictError(WPWithinError):
    """-32011 conflict: the call conflicts with the current state."""

    code = -32011
    name = "conflict"


class ExpiredError(WPWithinError):
    """-32012 expired: a quote or delivery token has expired."""

    code = -32012
    name = "expired"


class InsufficientUnitsError(WPWithinError):
    """-32013 insufficientUnits: more units asked than remain."""

    code = -32013
    name = "insufficientUnits"


class OutOfStockError(WPWithinError):
    """-32014 outOfStock: the service's stock cannot cover the request."""

    code = -32014
    name = "outOfStock"


class InvalidTokenError(WPWithinError):
    """-32015 invalidToken: a forged, foreign or altered delivery token."""

    code = -32015
    name = "invalidToken"


class AlreadyExistsError(WPWithinError):
    """-32016 alreadyExists: a duplicate service or price id."""

    code = -32016
    name = "alreadyExists"


class PaymentDeclinedError(WPWithinError):
    """-32020 paymentDeclined: the gateway declined the payment."""

    code = -32020
    name = "paymentDeclined"


class InvalidCardError(WPWithinError):
    """-32021 invalidCard: the gateway refused the card (number, expiry)."""

    code = -32021
    name = "invalidCard"


class GatewayUnavailableError(WPWithinError):
    """-32022 gatewayUnavailable: the gateway is down or answered 5xx."""

    code = -32022
    name = "gatewayUnavailable"


class GatewayTimeoutError(WPWithinError):
    """-32023 gatewayTimeout: the gateway did not answer in time."""

    code = -32023
    name = "gatewayTimeout"


class GatewayProtocolError(WPWithinError):
    """-32024 gatewayProtocol: the gateway answered something unreadable."""

    code = -32024
    name = "gatewayProtocol"


class GatewayRejectedError(WPWithinError):
    """-32025 gatewayRejected: the gateway refused the request (4xx)."""

    code = -32025
    name = "gatewayRejected"


class UnsupportedCurrencyError(WPWithinError):
    """-32026 unsupportedCurrency: not an ISO 4217 currency the daemon knows."""

    code = -32026
    name = "unsupportedCurrency"


class AmountInvalidError(WPWithinError):
    """-32027 amountInvalid: zero, negative or overflowing amount."""

    code = -32027
    name = "amountInvalid"


class PaymentOutcomeUnknownError(WPWithinError):
    """-32028 paymentOutcomeUnknown: the payment's outcome is not known yet; it is reconciled, never guessed."""

    code = -32028
    name = "paymentOutcomeUnknown"


class CredentialsError(WPWithinError):
    """-32029 credentials: card or merchant credentials missing or unsafe."""

    code = -32029
    name = "credentials"


class PeerUnreachableError(WPWithinError):
    """-32040 peerUnreachable: the other Thing cannot be reached."""

    code = -32040
    name = "peerUnreachable"


class PeerRejectedError(WPWithinError):
    """-32041 peerRejected: the other Thing refused the request."""

    code = -32041
    name = "peerRejected"


class PeerProtocolError(WPWithinError):
    """-32042 peerProtocol: the other Thing answered something unreadable."""

    code = -32042
    name = "peerProtocol"


class DiscoveryTimeoutError(WPWithinError):
    """-32043 discoveryTimeout: no matching Thing was found in time."""

    code = -32043
    name = "discoveryTimeout"


class SpendingLimitExceededError(WPWithinError):
    """-32050 spendingLimitExceeded: the consumer's spending policy refused a payment before the card was used: a limit of one purchase or a budget would be exceeded (data.limit names it)."""

    code = -32050
    name = "spendingLimitExceeded"


class ProducerNotAllowedError(WPWithinError):
    """-32051 producerNotAllowed: the spending policy refused the producer (data.rule: allowProducers or denyProducers)."""

    code = -32051
    name = "producerNotAllowed"


class ServiceTypeNotAllowedError(WPWithinError):
    """-32052 serviceTypeNotAllowed: the spending policy refused the service's type (data.rule: allowServiceTypes or denyServiceTypes)."""

    code = -32052
    name = "serviceTypeNotAllowed"


class CurrencyNotAllowedError(WPWithinError):
    """-32053 currencyNotAllowed: the quote's currency is not in the spending policy's allowCurrencies."""

    code = -32053
    name = "currencyNotAllowed"


class RefundNotOfferedError(WPWithinError):
    """-32060 refundNotOffered: the producer does not refund this purchase's undelivered units (no refund
    route, e.g. a Go producer: ``data["reason"] == "noRoute"``; or the price does not allow refunds:
    ``"notAllowed"``). Nothing changed."""

    code = -32060
    name = "refundNotOffered"


class NothingToRefundError(WPWithinError):
    """-32061 nothingToRefund: every unit of the purchase was delivered or is in flight. Nothing changed."""

    code = -32061
    name = "nothingToRefund"


class UnitsRefundedError(WPWithinError):
    """-32062 unitsRefunded: the purchase's undelivered units were refunded and can no longer be delivered."""

    code = -32062
    name = "unitsRefunded"


#: The subclass of :class:`WPWithinError` for each stable code.
ERRORS_BY_CODE: Dict[int, Type[WPWithinError]] = {cls.code: cls for cls in WPWithinError.__subclasses__()}
__all__ += [cls.__name__ for cls in ERRORS_BY_CODE.values()]


def error_from_response(error: Any, method: Optional[str] = None) -> WPWithinError:
    """The exception for a JSON-RPC ``error`` object (the subclass of its code, else WPWithinError).

    Raises :class:`InvalidResponseError` when ``error`` is not a well-formed error object.
    """
    if not isinstance(error, dict) or not isinstance(error.get("code"), int) or isinstance(error.get("code"), bool):
        raise InvalidResponseError(f"the daemon sent a malformed error object: {error!r}")
    code = error["code"]
    message = error.get("message")
    if not isinstance(message, str):
        message = str(message)
    cls = ERRORS_BY_CODE.get(code, WPWithinError)
    return cls(message, code=code, data=error.get("data"), method=method)


class WPWithinClientError(Exception):
    """A failure of the client: connecting, the connection, or the bytes on it.

    ``reason`` is a stable string (the Swift client's codes: ``"noSuchSocket"``, ``"connectionClosed"``,
    ...), ``socket_path`` the socket in use, ``errno`` the OS error behind a connect failure.
    """

    reason = "clientError"

    def __init__(self, message: str, *, socket_path: Optional[str] = None, errno: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.socket_path = socket_path
        self.errno = errno

    def __str__(self) -> str:
        return f"{self.socket_path}: {self.message}" if self.socket_path else self.message

    def __reduce__(self):
        return (_rebuild_client_error, (type(self), self.message, self.socket_path, self.errno))


def _rebuild_client_error(cls, message, socket_path, errno):
    return cls(message, socket_path=socket_path, errno=errno)


class ConnectError(WPWithinClientError):
    """The daemon's socket could not be connected to (base of the connect failures)."""

    reason = "connectFailed"


class SocketNotFoundError(ConnectError):
    """Nothing at the socket path (ENOENT): is wpwithind running?"""

    reason = "noSuchSocket"


class StaleSocketError(ConnectError):
    """A socket file exists but nobody listens (ECONNREFUSED): the daemon is not running."""

    reason = "connectionRefused"


class SocketPermissionError(ConnectError):
    """The socket (or a directory above it) may not be opened by this user (EACCES/EPERM)."""

    reason = "permissionDenied"


class NotASocketError(ConnectError):
    """The path exists but is not a socket."""

    reason = "notASocket"


class SocketPathTooLongError(ConnectError):
    """The path does not fit in a Unix socket address (107 bytes)."""

    reason = "pathTooLong"


class ConnectionLostError(WPWithinClientError):
    """The daemon closed the connection (or it broke) while a call or an event stream waited.

    The call's outcome is unknown; it is not retried. The next call connects again.
    """

    reason = "connectionClosed"


class LineTooLongError(WPWithinClientError):
    """The daemon sent a line longer than the client's ``max_line_length``; the connection was closed."""

    reason = "lineTooLong"


class InvalidResponseError(WPWithinClientError):
    """The daemon sent something that is not a JSON-RPC 2.0 message; the connection was closed."""

    reason = "invalidResponse"


class SubscriptionLostError(WPWithinClientError):
    """An event stream with ``reconnect=False`` was dropped; resubscribe with ``resume_from=last_seq``."""

    reason = "subscriptionLost"

    def __init__(self, message: str, *, last_seq: Optional[int] = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.last_seq = last_seq


class ClientClosedError(WPWithinClientError):
    """The client (or event stream) was closed with ``close()``."""

    reason = "notConnected"


class CallTimeoutError(WPWithinClientError, TimeoutError):
    """No answer within the timeout. A late answer is dropped; the connection stays usable."""

    reason = "timeout"


def connect_error(error: OSError, path: str) -> ConnectError:
    """Maps the OSError of a failed ``connect(2)`` on ``path`` to a :class:`ConnectError` subclass."""
    code = error.errno
    if code == _errno.ENOENT:
        return SocketNotFoundError("no such socket (is wpwithind running?)", socket_path=path, errno=code)
    if code == _errno.ENOTDIR:
        return SocketNotFoundError("no such socket (a path component is not a directory)", socket_path=path, errno=code)
    if code == _errno.ECONNREFUSED:
        if not _is_socket(path):
            return NotASocketError("not a socket", socket_path=path, errno=code)
        return StaleSocketError("stale socket, daemon not running (connection refused)", socket_path=path, errno=code)
    if code in (_errno.EACCES, _errno.EPERM):
        return SocketPermissionError("permission denied", socket_path=path, errno=code)
    if code == _errno.ENOTSOCK:
        return NotASocketError("not a socket", socket_path=path, errno=code)
    if code is None and "too long" in str(error):
        return SocketPathTooLongError("socket path is too long for a Unix socket address", socket_path=path)
    reason = os.strerror(code) if code else str(error)
    return ConnectError(f"cannot connect: {reason}", socket_path=path, errno=code)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return True  # vanished: don't claim otherwise
