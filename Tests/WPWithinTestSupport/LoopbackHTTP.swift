// A raw HTTP/1.1 client over a plain TCP socket to 127.0.0.1, for tests that must see exactly what a server
// (or wpw-fault-proxy) does with a connection: an answer, a close without an answer, or nothing at all.
// Blocking socket calls run on a thread of their own, never on the Swift concurrency pool.

import Foundation
import WPWithinCore
#if canImport(Glibc)
import Glibc
#endif

/// A complete HTTP response.
public struct LoopbackHTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case (the last value wins on repeats).
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as JSON, nil when it is not.
    public var json: JSONValue? { try? JSONValue.parse(body) }
}

/// What came back for a request.
public enum LoopbackHTTPOutcome: Sendable {
    /// A whole response.
    case response(LoopbackHTTPResponse)
    /// The server closed (or reset) the connection before a whole response; `partial` is what had arrived.
    case closed(partial: [UInt8])
    /// Nothing complete arrived within the limit (the connection is still open).
    case timedOut

    /// The response, or nil.
    public var response: LoopbackHTTPResponse? {
        if case .response(let response) = self { return response }
        return nil
    }

    public var isClosedWithoutResponse: Bool {
        if case .closed = self { return true }
        return false
    }
}

/// Whether a connection has something to say, checked without waiting.
public enum LoopbackConnectionState: Sendable, Equatable {
    /// Open, nothing to read: the server has neither answered nor closed.
    case open
    /// Bytes are waiting.
    case readable
    /// The server closed or reset the connection.
    case closed
}

/// One TCP connection to 127.0.0.1. Use it from one task at a time.
public final class LoopbackConnection: @unchecked Sendable {
    // @unchecked: `buffer` and `isClosed` are used by one task at a time (documented); the fd is immutable.
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var isClosed = false

    private init(fd: Int32) { self.fd = fd }

    deinit { if !isClosed { Glibc.close(fd) } }

    /// Connects to 127.0.0.1:`port`.
    public static func open(port: Int) async throws -> LoopbackConnection {
        try await onOwnThread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestSupportError("socket() failed: errno \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                let code = errno
                Glibc.close(fd)
                throw TestSupportError("connect to 127.0.0.1:\(port) failed: errno \(code)")
            }
            return LoopbackConnection(fd: fd)
        }
    }

    /// Sends raw bytes (all of them).
    public func send(_ bytes: [UInt8]) async throws {
        let fd = self.fd
        try await onOwnThread {
            var sent = 0
            while sent < bytes.count {
                let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw TestSupportError("send failed: errno \(errno)")
                }
                sent += count
            }
        }
    }

    /// Sends one request. `Content-Length` is added for a body; `Host` always.
    public func send(method: String, path: String, headers: [String: String] = [:], body: [UInt8] = []) async throws {
        try await send(Self.requestBytes(method: method, path: path, headers: headers, body: body))
    }

    /// Reads one response. `limit` is a hang guard, not a timing assertion.
    public func readResponse(limit: Duration = .seconds(60)) async throws -> LoopbackHTTPOutcome {
        let fd = self.fd
        let start = buffer
        let (outcome, rest) = try await onOwnThread { () throws -> (LoopbackHTTPOutcome, [UInt8]) in
            var buffer = start
            let deadline = ContinuousClock.now + limit
            while true {
                if let (response, used) = LoopbackConnection.parse(buffer, complete: false) {
                    return (.response(response), Array(buffer[used...]))
                }
                let left = deadline - ContinuousClock.now
                if left <= .zero { return (.timedOut, buffer) }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let (seconds, attoseconds) = left.components
                let ready = poll(&poller, 1, Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 60_000)))
                if ready < 0, errno != EINTR { throw TestSupportError("poll failed: errno \(errno)") }
                if ready <= 0 { continue }
                var chunk = [UInt8](repeating: 0, count: 64 << 10)
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    buffer.append(contentsOf: chunk[..<count])
                    continue
                }
                if count < 0, errno == EINTR || errno == EAGAIN { continue }
                // EOF or reset: a response without Content-Length ends here.
                if let (response, used) = LoopbackConnection.parse(buffer, complete: true) {
                    return (.response(response), Array(buffer[used...]))
                }
                return (.closed(partial: buffer), [])
            }
        }
        buffer = rest
        return outcome
    }

    /// Whether the server has answered or closed, without waiting.
    public func state() -> LoopbackConnectionState {
        if !buffer.isEmpty { return .readable }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return .open }
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count > 0 { return .readable }
        if count < 0, errno == EAGAIN { return .open }
        return .closed
    }

    /// Closes the connection (the client gives up).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    static func requestBytes(method: String, path: String, headers: [String: String], body: [UInt8]) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\n"
        var fields = headers
        if !fields.keys.contains(where: { $0.lowercased() == "host" }) { fields["Host"] = "127.0.0.1" }
        if !body.isEmpty || method == "POST" || method == "PUT" { fields["Content-Length"] = String(body.count) }
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + body
    }

    /// A response at the start of `bytes` and how many bytes it used; `complete` when the peer has closed (a
    /// body without Content-Length runs to the end).
    static func parse(_ bytes: [UInt8], complete: Bool) -> (LoopbackHTTPResponse, Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4,
            let end = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) })
        else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyStart = end + 4
        if let length = headers["content-length"].flatMap(Int.init) {
            guard bytes.count - bodyStart >= length else { return nil }
            return (LoopbackHTTPResponse(status: status, headers: headers, body: Array(bytes[bodyStart..<(bodyStart + length)])), bodyStart + length)
        }
        if status == 204 || status == 304 || (100..<200).contains(status) {
            return (LoopbackHTTPResponse(status: status, headers: headers, body: []), bodyStart)
        }
        guard complete else { return nil }
        return (LoopbackHTTPResponse(status: status, headers: headers, body: Array(bytes[bodyStart...])), bytes.count)
    }
}

/// One-shot requests (`Connection: close`) to 127.0.0.1.
public enum LoopbackHTTP {
    /// Sends one request on a new connection and reads what comes back.
    public static func exchange(
        port: Int, method: String, path: String, headers: [String: String] = [:], body: [UInt8] = [],
        limit: Duration = .seconds(60)
    ) async throws -> LoopbackHTTPOutcome {
        let connection = try await LoopbackConnection.open(port: port)
        defer { connection.close() }
        var fields = headers
        fields["Connection"] = "close"
        try await connection.send(method: method, path: path, headers: fields, body: body)
        return try await connection.readResponse(limit: limit)
    }

    /// Sends one request with an optional JSON body and returns the response; throws when the connection closed
    /// or nothing came back within `limit`.
    public static func request(
        port: Int, method: String, path: String, json: JSONValue? = nil, headers: [String: String] = [:],
        limit: Duration = .seconds(60)
    ) async throws -> LoopbackHTTPResponse {
        var fields = headers
        if json != nil { fields["Content-Type"] = "application/json" }
        let outcome = try await exchange(port: port, method: method, path: path, headers: fields, body: json?.serialized() ?? [], limit: limit)
        switch outcome {
        case .response(let response): return response
        case .closed: throw TestSupportError("\(method) \(path) on port \(port): connection closed without a response")
        case .timedOut: throw TestSupportError("\(method) \(path) on port \(port): no response within \(limit)")
        }
    }
}

/// Runs blocking work (a socket wait, a poll loop) on a new thread and resumes with its result. Swift's
/// cooperative pool has as many threads as cores (2 here): a test that blocked one of them while waiting
/// for a daemon would starve every test running beside it, which is why the suites once ran one at a time.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try work() })
        }
    }
}
