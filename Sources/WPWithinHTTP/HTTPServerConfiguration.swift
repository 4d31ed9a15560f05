import WPWithinTLS

/// How an ``HTTPServer`` binds and what it accepts.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind (`127.0.0.1`, `::1`, `0.0.0.0`).
    public var host: String
    /// TCP port; 0 asks the kernel for an ephemeral port (learn it from `onServerRunning`).
    public var port: Int
    /// Largest request body accepted; larger bodies get ``payloadTooLargeResponse`` and the connection is closed.
    public var maxBodySize: Int
    /// Listen backlog.
    public var backlog: Int32
    /// A connection waiting for its next request (keep-alive) for this long is closed; nil keeps idle
    /// connections forever. It does not apply while a request is read (see ``headerTimeout``,
    /// ``bodyTimeout``) or while the handler works on it.
    public var idleTimeout: Duration?
    /// The 413 answer for an oversized body. The server sets `Content-Length` and `Connection: close`.
    public var payloadTooLargeResponse: HTTPResponse

    /// Connections served at once. The next one gets ``connectionRefusedResponse`` and is closed.
    public var maxConnections: Int
    /// Connections served at once for one peer IP address (≤ ``maxConnections``; equal means no per-peer cap).
    public var maxConnectionsPerPeer: Int
    /// Refused connections being answered at once (each holds a descriptor while its 503 goes out and the
    /// server waits, at most ``closeLinger``, for the peer to close). Beyond it a refused connection is
    /// closed at once without an answer, so a flood cannot hold more than `maxConnections +
    /// maxPendingRefusals` descriptors.
    public var maxPendingRefusals: Int
    /// The whole request head must arrive within this time: counted from the accept for a connection's first
    /// request, from the first byte for a keep-alive connection's next one. One byte every few seconds does
    /// not extend it. On expiry the peer gets ``requestTimeoutResponse`` (nothing if it sent nothing) and the
    /// connection is closed.
    public var headerTimeout: Duration
    /// The whole request body must arrive within this time after the head; then ``requestTimeoutResponse``.
    public var bodyTimeout: Duration
    /// After the server answered and closed its side (a refusal or a timeout), how long it reads and discards
    /// what the peer still sends before closing for good. It lets the peer read the answer instead of a reset.
    public var closeLinger: Duration
    /// At most one warning per interval sums up the connections refused, dropped and timed out in it.
    public var limitLogInterval: Duration
    /// Call `malloc_trim(0)` (glibc) when the open connections fall back after a burst, so that the memory the
    /// burst used goes back to the system (glibc otherwise keeps it for the process).
    public var trimMemoryAfterBursts: Bool
    /// The answer to a connection over a cap (503). The server sets `Content-Length` and `Connection: close`.
    public var connectionRefusedResponse: HTTPResponse
    /// The answer when the head or the body of a request does not arrive in time (408).
    public var requestTimeoutResponse: HTTPResponse
    /// Serve https: every served connection starts with a TLS handshake (certificate and key files, loaded
    /// when the server starts). Requests reach the handler only over a completed handshake. The header
    /// timeout counts from the accept, handshake included. A connection refused over a cap still gets its
    /// 503 in clear text (a TLS client sees a failed handshake). Nil: plain http.
    public var tls: TLSServerConfiguration?

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        maxBodySize: Int = 1 << 20,
        backlog: Int32 = 256,
        idleTimeout: Duration? = .seconds(60),
        payloadTooLargeResponse: HTTPResponse = .json(
            status: 413,
            #"{"error":{"status":413,"message":"request body too large"}}"#
        ),
        maxConnections: Int = 256,
        maxConnectionsPerPeer: Int? = nil,
        maxPendingRefusals: Int = 64,
        headerTimeout: Duration = .seconds(10),
        bodyTimeout: Duration = .seconds(10),
        closeLinger: Duration = .seconds(2),
        limitLogInterval: Duration = .seconds(10),
        trimMemoryAfterBursts: Bool = true,
        connectionRefusedResponse: HTTPResponse = .json(
            status: 503,
            #"{"error":{"status":503,"message":"too many connections"}}"#
        ),
        requestTimeoutResponse: HTTPResponse = .json(
            status: 408,
            #"{"error":{"status":408,"message":"request not received in time"}}"#
        ),
        tls: TLSServerConfiguration? = nil
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.backlog = backlog
        self.idleTimeout = idleTimeout
        self.payloadTooLargeResponse = payloadTooLargeResponse
        self.maxConnections = maxConnections
        self.maxConnectionsPerPeer = maxConnectionsPerPeer ?? maxConnections
        self.maxPendingRefusals = maxPendingRefusals
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.closeLinger = closeLinger
        self.limitLogInterval = limitLogInterval
        self.trimMemoryAfterBursts = trimMemoryAfterBursts
        self.connectionRefusedResponse = connectionRefusedResponse
        self.requestTimeoutResponse = requestTimeoutResponse
    }

    /// The caps as the connection limiter takes them (values below 1 count as 1; per peer at most the total).
    var connectionLimits: HTTPConnectionLimiter.Limits {
        let total = max(1, maxConnections)
        return .init(
            maxConnections: total, maxConnectionsPerPeer: min(max(1, maxConnectionsPerPeer), total),
            maxPendingRefusals: max(0, maxPendingRefusals))
    }
}
