"""Python client for wpwithind, the Worldpay Within daemon (JSON-RPC 2.0 over a Unix socket).

    import wpwithin
    with wpwithin.Client() as client:                 # $WPWITHIN_SOCKET, else /run/wpwithin.sock
        print(client.getDevice()["serverId"])
        for event in client.subscribe(["producer.deliveryBegun"]):
            print(event.seq, event.type)

The asyncio client is :class:`wpwithin.AsyncClient` (also ``wpwithin.aio``). Errors: the daemon's as
:class:`WPWithinError` subclasses (``NotFoundError``, ``PaymentDeclinedError``, ...), the client's as
:class:`WPWithinClientError` subclasses (``SocketNotFoundError``, ``ConnectionLostError``, ...). Results,
events and error data are typed (``TypedDict``s generated from ``rpc.discover``): ``wpwithin.Purchase``,
``wpwithin.Quote``, ``wpwithin.EventProducerDeliveryBegun``, ``wpwithin.EVENT_PARAMS[type]``, ...
"""

from ._generated import *  # noqa: F401,F403 - the result, event and error data types (Purchase, Quote, ...)
from ._generated import DAEMON_VERSION, EVENT_TYPES, METHODS
from ._generated import __all__ as _type_names
from ._protocol import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_LINE_LENGTH,
    DEFAULT_RECONNECT_TIMEOUT,
    DEFAULT_SOCKET_PATH,
    DEFAULT_TIMEOUT,
    SOCKET_ENVIRONMENT_VARIABLE,
    Event,
    resolve_socket_path,
)
from .aio import AsyncClient, AsyncEventStream
from .client import Client, EventStream
from .errors import *  # noqa: F401,F403 - the exception classes
from .errors import __all__ as _error_names

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "EventStream",
    "AsyncEventStream",
    "Event",
    "METHODS",
    "EVENT_TYPES",
    "DAEMON_VERSION",
    "DEFAULT_SOCKET_PATH",
    "SOCKET_ENVIRONMENT_VARIABLE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RECONNECT_TIMEOUT",
    "DEFAULT_MAX_LINE_LENGTH",
    "resolve_socket_path",
] + list(_error_names) + list(_type_names)
