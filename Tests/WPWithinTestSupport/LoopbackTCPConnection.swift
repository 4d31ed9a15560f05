import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP connection to a loopback server for tests that misbehave on purpose (send half a request, one
/// byte at a time, or nothing) and look at exactly what comes back. Blocking socket, reads with `poll`.
///
/// `source` binds the local end first (any 127.0.0.0/8 address is loopback on Linux), so one test can be
/// several peers.
public final class LoopbackTCPConnection: @unchecked Sendable {
    // @unchecked: one test task uses a connection at a time.
    public let fd: Int32
    /// Everything received so far.
    public private(set) var received: [UInt8] = []
    /// True once the server closed its side (or reset the connection).
    public private(set) var closedByServer = false

    public init(port: Int, host: String = "127.0.0.1", source: String? = nil) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw TestSupportError("bind(\(source)) failed: errno \(errno)")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw TestSupportError("connect(\(host):\(port)) failed: errno \(code)")
        }
        #else
        throw TestSupportError("LoopbackTCPConnection is implemented for Linux only")
        #endif
    }

    deinit { close(fd) }

    public var receivedText: String { String(decoding: received, as: UTF8.self) }

    /// Sends all of `text`; false when the server has closed the connection (EPIPE, ECONNRESET).
    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Reads what has arrived (without waiting); records end of stream in ``closedByServer``.
    public func poll() {
        while !closedByServer {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&pfd, 1, 0) > 0 else { return }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else {
                closedByServer = true
                return
            }
            received += chunk[..<count]
        }
    }

    /// Reads until the server closes the connection; throws when it is still open after `limit` (a hang
    /// guard, not a timing assertion). Sleeps between reads instead of blocking, so that a server in the
    /// same process keeps its threads.
    public func readUntilClosed(limit: Duration = .seconds(30)) async throws {
        try await readUntil(limit: limit, "the server to close the connection") { $0.closedByServer }
    }

    /// Reads until `condition` holds (or the server closed the connection); throws after `limit`.
    public func readUntil(limit: Duration = .seconds(30), _ what: String, _ condition: (LoopbackTCPConnection) -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while true {
            poll()
            if condition(self) || closedByServer { return }
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("waited \(limit) for \(what); got \(receivedText)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Slowloris: sends `head`, then one more byte of it (an endless header value) every `interval` until the
    /// server closes the connection; throws if it is still open after `limit` (a hang guard).
    public func trickleUntilClosed(path: String, every interval: Duration, limit: Duration = .seconds(60)) async throws {
        send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        let end = ContinuousClock.now + limit
        while !closedByServer, ContinuousClock.now < end {
            guard send("a") else { break }
            try await Task.sleep(for: interval)
            poll()
        }
        try await readUntilClosed()
    }

    /// The status of the first response received (nil before a status line arrived).
    public var status: Int? {
        let text = receivedText
        guard text.hasPrefix("HTTP/1.1 "), text.utf8.count >= 12 else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    /// The body of the first response (after the blank line).
    public var body: String? {
        guard let range = receivedText.range(of: "\r\n\r\n") else { return nil }
        return String(receivedText[range.upperBound...])
    }
}
