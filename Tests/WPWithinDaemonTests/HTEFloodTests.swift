import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// A real producer daemon with small HTE caps and short deadlines, flooded from loopback (127.0.0.x source
/// addresses are distinct peers): connections over a cap get 503 at once and are closed, trickling ones are
/// timed out, the RPC socket and normal HTE requests keep working, and the log has one summary per
/// interval. Every wait is a generous hang guard; assertions are about outcomes.
@Suite struct HTEFloodTests {
    static let warning = "HTTP connections refused or timed out"
    static let intervalMs = 2000

    struct Producer {
        let daemon: DaemonProcess
        let rpc: RawClient
        let port: Int
    }

    func startProducer(headerTimeoutMs: Int) async throws -> Producer {
        var environment = loopbackDiscovery(port: try freeUDPPort(), roles: "producer")
        environment["WPWITHIND_HTE_MAX_CONNECTIONS"] = "6"
        environment["WPWITHIND_HTE_MAX_CONNECTIONS_PER_PEER"] = "3"
        environment["WPWITHIND_HTE_HEADER_TIMEOUT_MS"] = String(headerTimeoutMs)
        environment["WPWITHIND_HTE_BODY_TIMEOUT_MS"] = String(headerTimeoutMs)
        environment["WPWITHIND_HTE_LIMIT_LOG_INTERVAL_MS"] = String(Self.intervalMs)
        let daemon = try DaemonProcess(dir: TempDir(), environment: environment)
        try await daemon.waitUntilListening()
        let portText = try #require(daemon.log.components(separatedBy: "hte.port=").dropFirst().first?.prefix { $0.isNumber })
        return Producer(daemon: daemon, rpc: try RawClient(path: daemon.socketPath), port: try #require(Int(portText)))
    }

    /// `GET /service/discover` from `source`; the status (nil when the connection gave no answer).
    func discover(_ producer: Producer, from source: String = "127.0.0.1") async throws -> Int? {
        let connection = try LoopbackTCPConnection(port: producer.port, source: source)
        connection.send("GET /service/discover HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        try await connection.readUntilClosed()
        return connection.status
    }

    /// Repeats `GET /service/discover` from `source` until it is served (200); returns how many were refused.
    func served(_ producer: Producer, from source: String, until end: ContinuousClock.Instant) async throws -> Int {
        var refused = 0
        while true {
            let status = try await discover(producer, from: source)
            if status == 200 { return refused }
            #expect(status == 503)
            refused += 1
            guard ContinuousClock.now < end else { throw HarnessError("\(source) was not served again") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The summary warnings in the daemon's log, as `key=value` metadata.
    func summaries(_ producer: Producer) -> [[String: Int]] {
        producer.daemon.log.split(separator: "\n").filter { $0.contains(Self.warning) }.map { line in
            var values: [String: Int] = [:]
            for word in line.split(separator: " ") {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0])] = value }
            }
            return values
        }
    }

    func total(_ producer: Producer, _ key: String) -> Int { summaries(producer).reduce(0) { $0 + ($1[key] ?? 0) } }

    func rpcAnswers(_ producer: Producer) async throws -> Bool {
        try await producer.rpc.result("getStatus")["ready"] == true
    }

    @Test func aFloodOverTheCapsIsRefusedAndTimedOutWhileRPCAndHTEKeepWorking() async throws {
        let producer = try await startProducer(headerTimeoutMs: 3000)
        #expect(try await discover(producer) == 200)
        let clock = ContinuousClock()
        var firstRefusal: ContinuousClock.Instant?
        var refusals = 0
        var held: [LoopbackTCPConnection] = []

        // Two peers fill the caps with trickling connections; then more from 127.0.0.1 than its cap, and a
        // third peer over the total cap. A round counts only if no held connection timed out before its
        // probes were answered (the header deadline is short so the test is quick).
        for round in 1...5 {
            held = []
            for source in ["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.2"] {
                let connection = try LoopbackTCPConnection(port: producer.port, source: source)
                connection.send("GET /service/discover HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                held.append(connection)
            }
            var answers: [Int?] = []
            for source in Array(repeating: "127.0.0.1", count: 12) + ["127.0.0.3", "127.0.0.3"] {
                let over = try LoopbackTCPConnection(port: producer.port, source: source)
                over.send("GET /service/discover HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
                try await over.readUntilClosed()
                firstRefusal = firstRefusal ?? clock.now
                answers.append(over.status)
                if over.status == 503 {
                    refusals += 1
                    let body = try JSONValue.parse(try #require(over.body))
                    #expect(body["HTTPStatusCode"] == 503)
                    #expect(body["errorCode"] == .int(Int64(WPWError.Code.overloaded.rawValue)))
                    #expect(body["message"]?.stringValue?.isEmpty == false)
                }
                for connection in held { connection.send("a") }
            }
            #expect(try await rpcAnswers(producer))
            held.forEach { $0.poll() }
            if held.allSatisfy({ !$0.closedByServer }) {
                #expect(answers.allSatisfy { $0 == 503 }, "\(answers)")
                break
            }
            // A held connection was timed out while the probes ran (a very slow machine): try again once the
            // server has let them all go.
            #expect(round < 5, "every round was overtaken by the header deadline")
            for connection in held { try await connection.readUntilClosed() }
            // A held connection may itself have been refused (the server had not yet counted back a
            // connection of the round before): the daemon counts that refusal, so the test does too.
            refusals += held.filter { $0.status == 503 }.count
            held = []
            for source in ["127.0.0.1", "127.0.0.2"] { refusals += try await served(producer, from: source, until: clock.now + .seconds(60)) }
        }

        // The held connections keep trickling until the header deadline closes them, each with a 408.
        let end = clock.now + .seconds(60)
        while !held.allSatisfy(\.closedByServer), clock.now < end {
            for connection in held where !connection.closedByServer {
                connection.send("a")
                connection.poll()
            }
            #expect(try await rpcAnswers(producer))
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(held.allSatisfy { $0.closedByServer }, "the header deadline did not close the trickling connections")
        #expect(held.allSatisfy { $0.status == 408 }, "\(held.map(\.receivedText))")
        held = []

        // A normal request works again (once the server has counted the closed ones back).
        refusals += try await served(producer, from: "127.0.0.1", until: end)
        #expect(try await rpcAnswers(producer))

        // Every refusal and every timeout is in the summaries; there is at most one per interval.
        let expectedRefusals = refusals
        try await eventually(limit: .seconds(30), {
            "refused \(total(producer, "http.refused")) + dropped \(total(producer, "http.dropped")), counted \(expectedRefusals); "
                + "header timeouts \(total(producer, "http.timed_out.header")), want ≥ 6"
        }) {
            total(producer, "http.refused") + total(producer, "http.dropped") == expectedRefusals
                && total(producer, "http.timed_out.header") >= 6
        }
        let elapsed = clock.now - (firstRefusal ?? clock.now)
        let lines = summaries(producer)
        #expect(lines.count <= Int(elapsed / .milliseconds(Self.intervalMs)) + 1, "\(lines.count) summaries in \(elapsed)")
        #expect(lines.allSatisfy { $0["http.max_connections"] == 6 && $0["http.max_connections_per_peer"] == 3 })
        #expect(producer.daemon.log.contains("http.top_peer=127.0.0.1"))
        #expect(try await producer.daemon.stop() == 0)
    }

    @Test func aHeaderSentOneBytePerSecondIsClosedAtTheDeadline() async throws {
        let producer = try await startProducer(headerTimeoutMs: 1000)
        let slow = try LoopbackTCPConnection(port: producer.port)
        // One byte per second of a head that never ends: only the deadline can close it.
        try await slow.trickleUntilClosed(path: "/service/discover", every: .seconds(1))
        #expect(slow.status == 408)
        #expect(try await rpcAnswers(producer))
        #expect(try await discover(producer) == 200)
        try await eventually(limit: .seconds(30)) { total(producer, "http.timed_out.header") == 1 }
        #expect(try await producer.daemon.stop() == 0)
    }
}

/// Polls `condition` until it holds; throws after `limit` (a hang guard, not a timing assertion).
private func eventually(limit: Duration, _ state: () -> String = { "" }, _ condition: () throws -> Bool) async throws {
    let end = ContinuousClock.now + limit
    while try !condition() {
        guard ContinuousClock.now < end else { throw HarnessError("condition not reached within \(limit): \(state())") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
