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
    /// A connection with no read and no write for this long is closed; nil keeps idle connections forever.
    public var idleTimeout: Duration?
    /// The 413 answer for an oversized body. The server sets `Content-Length` and `Connection: close`.
    public var payloadTooLargeResponse: HTTPResponse

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        maxBodySize: Int = 1 << 20,
        backlog: Int32 = 256,
        idleTimeout: Duration? = .seconds(60),
        payloadTooLargeResponse: HTTPResponse = .json(
            status: 413,
            #"{"error":{"status":413,"message":"request body too large"}}"#
        )
    ) {
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.backlog = backlog
        self.idleTimeout = idleTimeout
        self.payloadTooLargeResponse = payloadTooLargeResponse
    }
}
