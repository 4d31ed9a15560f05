import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import WPWithinHTTP
import WPWithinTestSupport

let quietLogger = Logger(label: "peer-test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs an `HTTPServer` on 127.0.0.1:0 with `handler`, calls `body` with its port, then shuts it down.
func withHTTPServer<T: Sendable>(
    configuration: HTTPServerConfiguration = HTTPServerConfiguration(host: "127.0.0.1", port: 0),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    handler: @escaping HTTPHandler,
    _ body: @Sendable (Int) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let server = HTTPServer(
        configuration: configuration, eventLoopGroup: eventLoopGroup, logger: quietLogger, onServerRunning: { continuation.yield($0) },
        handler: handler)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await server.run()
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestSupportError("server did not start") }
        do {
            let result = try await body(port)
            try await server.shutdownGracefully()
            try await group.waitForAll()
            return result
        } catch {
            try? await server.shutdownGracefully()
            group.cancelAll()
            throw error
        }
    }
}

/// Established TCP connections whose local port is `port` (the server side of its accepted connections),
/// read from `/proc/net/tcp`.
func establishedServerConnections(port: Int) throws -> Int {
    // procfs files report size 0; read until EOF (a size-based read stops after the first page).
    guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { throw TestSupportError("cannot open /proc/net/tcp") }
    defer { try? handle.close() }
    let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    var count = 0
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 3 else { continue }
        let local = fields[1].split(separator: ":")
        guard local.count == 2, let localPort = Int(local[1], radix: 16) else { continue }
        if localPort == port && fields[3] == "01" { count += 1 }
    }
    return count
}

/// For a failure message: each established server-side connection on `port`, and which processes hold a
/// descriptor of its client end (`pid command`), from `/proc/net/tcp` and `/proc/*/fd`. A socket the client
/// closed stays established while another process (a child that inherited the descriptor) still holds it.
func serverConnectionHolders(port: Int) -> [String] {
    guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return ["cannot open /proc/net/tcp"] }
    defer { try? handle.close() }
    let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    let rows = text.split(separator: "\n").dropFirst().map { $0.split(separator: " ") }.filter { $0.count > 9 }
    // Socket inode -> "pid command" of every process holding it.
    var holders: [String: [String]] = [:]
    for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
        let command = ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  target.hasPrefix("socket:[") else { continue }
            holders[String(target.dropFirst(8).dropLast()), default: []].append("\(pid) \(command)")
        }
    }
    var lines: [String] = []
    for server in rows where server[3] == "01" {
        let local = server[1].split(separator: ":")
        guard local.count == 2, Int(local[1], radix: 16) == port else { continue }
        // The client end: local and remote swapped.
        let client = rows.first { $0[1] == server[2] && $0[2] == server[1] }
        let inode = client.map { String($0[9]) } ?? "?"
        let state = client.map { String($0[3]) } ?? "?"
        lines.append("\(server[2]) state \(state) inode \(inode) held by \(Set(holders[inode] ?? []).sorted())")
    }
    return lines
}

/// Polls `condition` until it holds (a hang guard of `limit`, not a timing assertion).
func eventually(limit: Duration = .seconds(20), _ condition: @Sendable () throws -> Bool) async throws {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while try !condition() {
        guard clock.now < end else { throw TestSupportError("condition not reached within \(limit)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A raw TCP server on 127.0.0.1:0 for misbehaving peers: `onRequest` gets the first bytes of each
/// connection and the channel, and decides what to write (or not) and whether to close.
final class RawServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onRequest: @escaping @Sendable (ByteBuffer, any Channel) -> Void
    ) async throws {
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(RawHandler(onRequest: onRequest))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

    final class RawHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let onRequest: @Sendable (ByteBuffer, any Channel) -> Void
        var seen = false
        init(onRequest: @escaping @Sendable (ByteBuffer, any Channel) -> Void) { self.onRequest = onRequest }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !seen else { return }
            seen = true
            onRequest(unwrapInboundIn(data), context.channel)
        }
    }
}

/// Thread-safe counter/recorder for handlers.
final class Recorder<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `items` is behind `lock`.
    private let lock = NSLock()
    private var items: [Value] = []
    func append(_ value: Value) { lock.withLock { items.append(value) } }
    var all: [Value] { lock.withLock { items } }
    var count: Int { lock.withLock { items.count } }
}

/// The Go SDK captures in `Fixtures/` (copied from shared/testdata/go-sdk-captures).
enum Captures {
    static func text(_ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) ?? Bundle.module.url(forResource: name, withExtension: nil))
        return try String(contentsOf: url, encoding: .utf8)
    }

    struct Exchange: Sendable {
        var method: String
        var path: String
        var requestBody: String?
        var status: Int
        var contentType: String
        var contentLength: Int?
        var responseBody: String
    }

    /// The six HTE exchanges of tcp.stream eq 0 in `http-e2e-follow.txt`, in order.
    static func hteExchanges() throws -> [Exchange] {
        let all = try text("http-e2e-follow.txt")
        let stream0 = try #require(all.components(separatedBy: "Filter: tcp.stream eq 1").first)
        return parse(stream0)
    }

    /// The exchanges of `hte-error-examples.txt` (`### METHOD PATH [body]` then the raw response).
    static func errorExchanges() throws -> [Exchange] {
        let lines = try text("hte-error-examples.txt").replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        var result: [Exchange] = []
        var current: Exchange?
        var inHeaders = false
        for line in lines {
            if line.hasPrefix("### ") {
                if let current { result.append(current) }
                let parts = line.dropFirst(4).split(separator: " ", maxSplits: 2).map(String.init)
                current = Exchange(
                    method: parts[0], path: parts[1], requestBody: parts.count > 2 && !parts[2].trimmingCharacters(in: .whitespaces).isEmpty ? parts[2] : nil,
                    status: 0, contentType: "", contentLength: nil, responseBody: "")
            } else if line.hasPrefix("HTTP/1.1 ") {
                current?.status = Int(line.split(separator: " ")[1]) ?? 0
                inHeaders = true
            } else if inHeaders {
                if line.isEmpty { inHeaders = false; continue }
                header(line, into: &current)
            } else if !line.isEmpty, current != nil, current?.responseBody.isEmpty == true {
                current?.responseBody = line
            }
        }
        if let current { result.append(current) }
        return result
    }

    private static func header(_ line: String, into exchange: inout Exchange?) {
        let lower = line.lowercased()
        if lower.hasPrefix("content-type:") { exchange?.contentType = String(line.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces) }
        if lower.hasPrefix("content-length:") { exchange?.contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
    }

    private static func parse(_ text: String) -> [Exchange] {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        var result: [Exchange] = []
        var current: Exchange?
        enum Phase { case none, requestHeaders, requestBody, responseHeaders, responseBody }
        var phase = Phase.none
        for line in lines {
            let words = line.split(separator: " ")
            if words.count == 3, words[0] == "GET" || words[0] == "POST", words[2] == "HTTP/1.1" {
                if let current { result.append(current) }
                current = Exchange(method: String(words[0]), path: String(words[1]), requestBody: nil, status: 0, contentType: "", contentLength: nil, responseBody: "")
                phase = .requestHeaders
            } else if line.hasPrefix("HTTP/1.1 "), current != nil {
                current?.status = Int(line.split(separator: " ")[1]) ?? 0
                phase = .responseHeaders
            } else {
                switch phase {
                case .requestHeaders where line.isEmpty: phase = .requestBody
                case .requestBody where line.hasPrefix("{"): current?.requestBody = line
                case .responseHeaders where line.isEmpty: phase = .responseBody
                case .responseHeaders: header(line, into: &current)
                case .responseBody where line.hasPrefix("{"):
                    current?.responseBody = line
                    phase = .none
                default: break
                }
            }
        }
        if let current { result.append(current) }
        return result
    }
}
