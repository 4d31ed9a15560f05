#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import WPWithinCore

// A blocking newline-delimited JSON-RPC client on a Unix stream socket: one thread, one connection, no
// event loop, so the client side of every measurement costs as little as it can.

func connectUnixSocket(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ValidationError("socket() failed") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw ValidationError("cannot connect to \(path)")
    }
    return fd
}

func waitForSocket(_ path: String, child: Child? = nil, timeout: Double = 30) throws {
    let deadline = monotonicSeconds() + timeout
    while monotonicSeconds() < deadline {
        if let fd = try? connectUnixSocket(path) {
            close(fd)
            return
        }
        if let child, !child.isRunning { throw ValidationError("\(child.name) exited with \(child.exitStatus ?? -1)") }
        usleep(5_000)
    }
    throw ValidationError("nothing listens on \(path)")
}

func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
        let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
        guard n > 0 else { throw ValidationError("send failed: \(String(cString: strerror(errno)))") }
        offset += n
    }
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try sendAll(fd, $0) }
}

/// A JSON-RPC error reply.
struct RPCCallError: Error, CustomStringConvertible {
    var method: String
    var code: Int64
    var message: String
    /// `data.errorCode`: the producer's own code when the consumer relays a producer's refusal (peerRejected).
    var peerCode: Int64?
    var description: String { "\(method): \(code) \(message)" }
}

final class LineClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0  // first unconsumed byte of `buffer`
    private var scanned = 0  // bytes from `start` known to hold no newline
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var nextID: Int64 = 1

    init(path: String) throws { fd = try connectUnixSocket(path) }
    deinit { close(fd) }

    /// Sends one request (`params` is a JSON object's text or nil) and returns its `result`, or throws `RPCCallError`.
    func call(_ method: String, _ params: String? = nil) throws -> JSONValue {
        let id = nextID
        nextID += 1
        let request = params.map { #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#($0)}"# + "\n" }
            ?? #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)"}"# + "\n"
        var bytes = request
        try bytes.withUTF8 { try sendAll(fd, UnsafeRawBufferPointer($0)) }
        while true {
            let reply = try JSONValue.parse(try readLine())
            guard reply["id"]?.int64Value == id else { continue }  // a notification: not ours
            if let error = reply["error"] {
                throw RPCCallError(method: method, code: error["code"]?.int64Value ?? 0, message: error["message"]?.stringValue ?? "",
                                   peerCode: error["data"]?["errorCode"]?.int64Value)
            }
            return reply["result"] ?? .null
        }
    }

    /// The next line (without its newline).
    func readLine() throws -> ArraySlice<UInt8> {
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: 0x0A) {
                let line = buffer[start..<newline]
                start = newline + 1
                scanned = 0
                return line
            }
            scanned = buffer.count - start
            if start > 0, start == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                start = 0
            } else if start > 1 << 20 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw ValidationError("connection closed by the daemon") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

/// Round trips per second of `request` (one line) on one connection for `seconds`, keeping `depth` requests in
/// flight: each reply read lets one more request go, so the window never drains. Replies are only counted
/// (newlines), like the echo floor's, after checking the first one is a result when `expectResult`.
func roundTripsPerSecond(socket path: String, request: [UInt8], depth: Int, seconds: Double, expectResult: Bool) throws -> Double {
    let fd = try connectUnixSocket(path)
    defer { close(fd) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var window: [UInt8] = []
    for _ in 0..<depth { window += request }
    if expectResult {
        try sendAll(fd, request)
        var first: [UInt8] = []
        while !first.contains(0x0A) {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw ValidationError("connection closed") }
            first += chunk[..<n]
        }
        let reply = try JSONValue.parse(first.prefix { $0 != 0x0A })
        guard reply["result"] != nil else { throw ValidationError("not a result: \(String(decoding: first, as: UTF8.self))") }
    }
    func run(until deadline: UInt64) throws -> Int {
        try sendAll(fd, window)
        var completed = 0
        var outstanding = depth
        var stopping = false
        while outstanding > 0 {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw ValidationError("connection closed during the benchmark") }
            var lines = 0
            for i in 0..<n where chunk[i] == 0x0A { lines += 1 }
            completed += lines
            outstanding -= lines
            if !stopping, monotonicNanos() >= deadline { stopping = true }
            if !stopping, lines > 0 {
                try window.withUnsafeBytes { try sendAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<(lines * request.count)])) }
                outstanding += lines
            }
        }
        return completed
    }
    _ = try run(until: monotonicNanos() + UInt64(min(seconds / 4, 0.2) * 1e9))  // warm-up
    let started = monotonicNanos()
    let completed = try run(until: started + UInt64(seconds * 1e9))
    return Double(completed) / (Double(monotonicNanos() - started) / 1e9)
}
