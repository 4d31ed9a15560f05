import Foundation
import Logging
import NIOCore
import Testing
import WPWithinHTTP
import WPWithinTestSupport

/// A real `HTTPServer` on 127.0.0.1 with small caps and short timeouts, driven by raw loopback sockets
/// (several 127.0.0.x source addresses stand for several peers). Assertions are about outcomes; every wait
/// is a generous hang guard.
@Suite struct HTTPServerLimitTests {
    static let warning = "HTTP connections refused or timed out"
    static let request = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    /// Runs a server with `configuration` (host and port forced to 127.0.0.1:0) and hands its port to `body`.
    func withServer(
        _ configuration: HTTPServerConfiguration, log: LogCapture,
        handler: @escaping HTTPHandler = { _ in .json(status: 200, #"{"ok":true}"#) },
        _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = HTTPServer(configuration: configuration, logger: log.logger, onServerRunning: { continuation.yield($0) }, handler: handler)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            do {
                try await body(port)
            } catch {
                try? await server.shutdownGracefully()
                throw error
            }
            try await server.shutdownGracefully()
            try await group.waitForAll()
        }
    }

    /// Sum of `key` over the summary warnings logged so far.
    func logged(_ log: LogCapture, _ key: String) -> Int {
        log.entries(Self.warning).reduce(0) { $0 + (Int($1.metadata[key] ?? "") ?? 0) }
    }

    @Test func aGracefulShutdownClosesConnectionsHoldingHalfAHead() async throws {
        // NIO's pipeline handler, told to quiesce a connection with half a head, closes it and then asserts
        // on the 400 its error handler writes for the cut-off head (debug builds crash). The guard closes such
        // connections itself; one with a whole request still gets its answer.
        let log = LogCapture()
        var configuration = HTTPServerConfiguration(headerTimeout: .seconds(120))
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = HTTPServer(configuration: configuration, logger: log.logger, onServerRunning: { continuation.yield($0) }) { _ in
            .json(status: 200, #"{"ok":true}"#)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            var stalled: [LoopbackTCPConnection] = []
            for _ in 0..<4 {
                let connection = try LoopbackTCPConnection(port: port)
                connection.send("GET /hello HTTP/1.1\r\nHo")
                stalled.append(connection)
            }
            // A served request proves the four are accepted before the shutdown.
            let probe = try LoopbackTCPConnection(port: port)
            probe.send("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            try await probe.readUntilClosed()
            #expect(probe.status == 200)
            try await server.shutdownGracefully()
            try await group.waitForAll()
            for connection in stalled {
                try await connection.readUntilClosed()
                #expect(connection.closedByServer && connection.received.isEmpty)
            }
        }
    }

    @Test func overTheCapsConnectionsGet503AtOnceAndSlotsComeBack() async throws {
        let log = LogCapture()
        let configuration = HTTPServerConfiguration(
            maxConnections: 4, maxConnectionsPerPeer: 2, headerTimeout: .seconds(120), limitLogInterval: .milliseconds(300))
        try await withServer(configuration, log: log) { port in
            // Two peers each hold two connections with half a request head.
            var held: [LoopbackTCPConnection] = []
            for source in ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"] {
                let connection = try LoopbackTCPConnection(port: port, source: source)
                connection.send("GET /hello HTTP/1.1\r\nHo")
                held.append(connection)
            }
            // Make sure all four are counted before probing (a served connection answers a request).
            let probe = try LoopbackTCPConnection(port: port, source: "127.0.0.3")
            try await probe.readUntilClosed()
            #expect(probe.status == 503)

            // The per-peer cap for a third connection of 127.0.0.1, the total cap for a new peer; no request
            // needs to be sent for the answer.
            var refusals = 1
            for source in ["127.0.0.1", "127.0.0.4"] {
                let refused = try LoopbackTCPConnection(port: port, source: source)
                try await refused.readUntilClosed()
                refusals += 1
                #expect(refused.status == 503)
                #expect(refused.receivedText.contains("Connection: close\r\n"))
                #expect(refused.body == #"{"error":{"status":503,"message":"too many connections"}}"#)
            }
            // One that sends a whole request first gets the same answer (the server does not read it).
            let eager = try LoopbackTCPConnection(port: port, source: "127.0.0.5")
            eager.send(Self.request)
            try await eager.readUntilClosed()
            refusals += 1
            #expect(eager.status == 503)
            // The held connections were not disturbed.
            for connection in held {
                connection.poll()
                #expect(!connection.closedByServer && connection.received.isEmpty)
            }

            // A held connection finishes its request and closes: its peer can connect again.
            held[0].send("st: 127.0.0.1\r\nConnection: close\r\n\r\n")
            try await held[0].readUntilClosed()
            #expect(held[0].status == 200)
            let end = ContinuousClock.now + .seconds(30)
            while true {
                let again = try LoopbackTCPConnection(port: port, source: "127.0.0.1")
                again.send("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                try await again.readUntilClosed()
                if again.status == 200 { break }
                #expect(again.status == 503)
                refusals += 1
                guard ContinuousClock.now < end else { throw Hang(what: "a slot of 127.0.0.1 coming back", limit: .seconds(30)) }
                try await Task.sleep(for: .milliseconds(20))
            }
            // Every refusal is in the summaries, which are far fewer than the refusals.
            let expected = refusals
            try await eventually("the summaries count every refusal") { logged(log, "http.refused") == expected }
            #expect(log.entries(Self.warning).allSatisfy { $0.level == .warning && $0.metadata["http.max_connections"] == "4" })
            #expect(log.entries(Self.warning).count <= expected)
        }
    }

    @Test func aTrickledHeadAndASlowBodyGet408AndAreClosed() async throws {
        let log = LogCapture()
        let configuration = HTTPServerConfiguration(
            headerTimeout: .milliseconds(500), bodyTimeout: .milliseconds(500), limitLogInterval: .milliseconds(200))
        try await withServer(configuration, log: log) { port in
            // Slowloris: one byte at a time, of a header that never ends; only the deadline can close it.
            let slow = try LoopbackTCPConnection(port: port)
            try await slow.trickleUntilClosed(path: "/hello", every: .milliseconds(100))
            #expect(slow.status == 408)
            #expect(slow.body == #"{"error":{"status":408,"message":"request not received in time"}}"#)

            // A body that stops half-way.
            let body = try LoopbackTCPConnection(port: port)
            body.send("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789")
            try await body.readUntilClosed()
            #expect(body.status == 408)

            // A connection that sends nothing is closed without an answer.
            let silent = try LoopbackTCPConnection(port: port)
            try await silent.readUntilClosed()
            #expect(silent.received.isEmpty)

            try await eventually("the timeouts are summed up") {
                logged(log, "http.timed_out.header") == 2 && logged(log, "http.timed_out.body") == 1
            }
        }
    }

    @Test func timeoutsDoNotCutAHandlerOrAKeepAliveConnection() async throws {
        let log = LogCapture()
        // Header and body deadlines far shorter than the handler: they do not run while it works.
        let configuration = HTTPServerConfiguration(
            idleTimeout: .seconds(120), headerTimeout: .milliseconds(200), bodyTimeout: .milliseconds(200))
        try await withServer(configuration, log: log, handler: { request in
            if request.path == "/slow" { try? await Task.sleep(for: .milliseconds(800)) }
            return .json(status: 200, #"{"ok":true}"#)
        }) { port in
            let connection = try LoopbackTCPConnection(port: port)
            connection.send("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try await connection.readUntil("the slow answer") { $0.receivedText.hasSuffix(#"{"ok":true}"#) }
            #expect(connection.status == 200)
            #expect(!connection.closedByServer)
            // The same connection serves the next request (keep-alive).
            connection.send("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            try await connection.readUntilClosed()
            #expect(connection.receivedText.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        }
        #expect(log.entries(Self.warning).isEmpty)
    }

    @Test func anIdleKeepAliveConnectionIsClosedQuietly() async throws {
        let log = LogCapture()
        try await withServer(HTTPServerConfiguration(idleTimeout: .milliseconds(300)), log: log) { port in
            let connection = try LoopbackTCPConnection(port: port)
            connection.send(Self.request)
            try await connection.readUntilClosed()
            #expect(connection.status == 200)
            #expect(connection.receivedText.components(separatedBy: "HTTP/1.1").count == 2)
        }
        #expect(log.entries(Self.warning).isEmpty)
    }
}
