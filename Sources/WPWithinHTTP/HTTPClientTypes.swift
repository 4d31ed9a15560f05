import WPWithinTLS

/// A request for ``HTTPClient``: method, an absolute `http://` or `https://` URL, headers and a
/// `Content-Length` body.
public struct HTTPClientRequest: Sendable {
    /// Upper-case method (`GET`, `POST`).
    public var method: String
    /// `http://host[:port][/path][?query]` or `https://…`; IPv6 hosts in brackets, or unbracketed as the Go
    /// SDK builds them (`http://fe80::1:64521/x`: the last colon separates the port).
    public var url: String
    public var headers: HTTPHeaderFields
    public var body: [UInt8]

    public init(method: String, url: String, headers: HTTPHeaderFields = [:], body: [UInt8] = []) {
        self.method = method.uppercased()
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A complete response: status, headers as received, the whole body (at most the configured maximum).
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaderFields
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaderFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Why an ``HTTPClient`` request failed. ``mayHaveReachedServer`` tells the caller whether the server may
/// have seen (and acted on) the request: the client never re-sends a request on its own.
public struct HTTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// No connection could be made (refused, unreachable, name not resolved). Nothing was sent.
        case connectionRefused
        /// The connect timeout or the request's total timeout passed.
        case timeout
        /// The connection closed or broke before the whole response arrived.
        case connectionClosed
        /// The response body (or its announced `Content-Length`) exceeds the configured maximum.
        case responseTooLarge
        /// The bytes received are not a valid HTTP/1.1 response.
        case invalidResponse
        /// The URL is not an `http://` or `https://` URL this client can use. Nothing was sent.
        case invalidURL
        /// `https://`: the TLS handshake failed, or the server's certificate was refused (untrusted issuer,
        /// expired, not for this host), or the TLS configuration cannot be used (``HTTPClientError/tlsError``
        /// says which). Nothing was sent: the request is written only after a verified handshake.
        case tls
        /// The client was shut down. Nothing was sent (or the request was cut off by the shutdown).
        case shutdown
        /// The calling task was cancelled.
        case cancelled
    }

    public let kind: Kind
    /// False only when the request certainly never left this process.
    public let mayHaveReachedServer: Bool
    public let detail: String
    /// For ``Kind/tls``: the TLS failure.
    public let tlsError: TLSError?

    public init(_ kind: Kind, mayHaveReachedServer: Bool, detail: String = "", tlsError: TLSError? = nil) {
        self.kind = kind
        self.mayHaveReachedServer = mayHaveReachedServer
        self.detail = detail
        self.tlsError = tlsError
    }

    /// A TLS handshake that did not complete (or a TLS configuration that cannot be used): nothing was sent.
    init(handshake error: TLSError, peer: String) {
        self.init(.tls, mayHaveReachedServer: false, detail: "TLS with \(peer) failed: \(error)", tlsError: error)
    }

    public var description: String {
        "HTTPClientError.\(kind.rawValue)(mayHaveReachedServer: \(mayHaveReachedServer))" + (detail.isEmpty ? "" : ": \(detail)")
    }
}

/// Limits and pool settings of an ``HTTPClient``.
public struct HTTPClientConfiguration: Sendable {
    /// Longest time to establish a TCP connection, and then (`https://`) to complete the TLS handshake (also
    /// bounded by each request's total timeout).
    public var connectTimeout: Duration
    /// Largest response body accepted; a larger one fails with `responseTooLarge` and the connection is closed.
    public var maxResponseBodySize: Int
    /// Idle keep-alive connections kept per host (`host:port`); extra connections are closed when released.
    /// 0 disables keep-alive reuse.
    public var maxIdleConnectionsPerHost: Int
    /// An idle pooled connection older than this is closed instead of reused. Keep it below the server's
    /// idle timeout (``HTTPServerConfiguration/idleTimeout`` defaults to 60 s) so a request rarely lands on a
    /// connection the server is closing.
    public var idleTimeout: Duration
    /// Requests that may hold a connection to one host at a time (at least 1); more wait, in arrival order,
    /// for one to be free (within their own timeout). Keep it below the peer's per-address connection cap
    /// (a wpwithind producer accepts 16 from one address).
    public var maxConnectionsPerHost: Int
    /// For `https://` URLs: minimum version, trust anchors (the system store by default), ALPN. The server's
    /// certificate is always verified, name included.
    public var tls: TLSClientConfiguration

    public init(
        connectTimeout: Duration = .seconds(5),
        maxResponseBodySize: Int = 1 << 20,
        maxIdleConnectionsPerHost: Int = 8,
        idleTimeout: Duration = .seconds(30),
        maxConnectionsPerHost: Int = 8,
        tls: TLSClientConfiguration = TLSClientConfiguration()
    ) {
        self.tls = tls
        self.maxConnectionsPerHost = max(1, maxConnectionsPerHost)
        self.connectTimeout = connectTimeout
        self.maxResponseBodySize = maxResponseBodySize
        self.maxIdleConnectionsPerHost = maxIdleConnectionsPerHost
        self.idleTimeout = idleTimeout
    }
}

/// Counters of an ``HTTPClient`` (for tests and benchmarks).
public struct HTTPClientStatistics: Sendable, Hashable {
    public var connectionsOpened = 0
    public var connectionsReused = 0
    public var requests = 0
    public var openConnections = 0
    public var idleConnections = 0
    /// Requests that had to wait for a connection to their host to be free (``HTTPClientConfiguration/maxConnectionsPerHost``).
    public var requestsQueued = 0
}

/// Where a URL points: the pool key, connect address, `Host` header and request target.
struct HTTPClientTarget: Sendable, Hashable {
    let isTLS: Bool
    let host: String
    let port: Int
    let uri: String
    /// Connections are pooled per scheme, host and port: an `https` request never reuses a plain connection.
    /// (Made once: a request looks its pool up more than once.)
    let poolKey: String
    var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? bracketed : "\(bracketed):\(port)"
    }

    init(isTLS: Bool = false, host: String, port: Int, uri: String) {
        self.isTLS = isTLS
        self.host = host
        self.port = port
        self.uri = uri
        self.poolKey = "\(isTLS ? "https" : "http")://\(host):\(port)"
    }

    /// Parses `http://` and `https://` URLs (scheme case-insensitive, IPv6 hosts bracketed or bare with a
    /// port after the last colon, no user info). Walks the UTF-8 bytes: every request parses its URL, and
    /// walking `Character`s (grapheme breaking) cost ≈ 1 % of a consumer's CPU per purchase.
    init(url: String) throws(HTTPClientError) {
        func bad(_ why: String) -> HTTPClientError { HTTPClientError(.invalidURL, mayHaveReachedServer: false, detail: "\(why): \(url)") }
        let bytes = url.utf8
        func hasScheme(_ scheme: StaticString) -> Bool {
            let count = scheme.utf8CodeUnitCount
            guard bytes.count > count else { return false }
            var index = bytes.startIndex
            for i in 0..<count {
                let byte = bytes[index], expected = scheme.utf8Start[i]
                // ASCII letters compare case-insensitively (`HTTP://`); ':' and '/' exactly.
                guard byte == expected || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == expected)
                else { return false }
                index = bytes.index(after: index)
            }
            return true
        }
        let isTLS: Bool
        if hasScheme("http://") {
            isTLS = false
        } else if hasScheme("https://") {
            isTLS = true
        } else {
            throw bad("only http:// and https:// URLs are supported")
        }
        let rest = bytes.dropFirst(isTLS ? 8 : 7)
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(url[authorityEnd...])
        if path.isEmpty { path = "/" } else if bytes[authorityEnd] == UInt8(ascii: "?") { path = "/" + path }
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { throw bad("missing or unsupported host") }

        var host: Substring.UTF8View
        var portText: Substring.UTF8View?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { throw bad("unclosed IPv6 bracket") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { throw bad("garbage after IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        var port = isTLS ? 443 : 80
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else { throw bad("invalid port") }
            let p = portText.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard (1...65535).contains(p) else { throw bad("invalid port") }
            port = p
        }
        guard !host.isEmpty else { throw bad("empty host") }
        self.init(isTLS: isTLS, host: String(Substring(host)), port: port, uri: path)
    }
}
