import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import WPWithinHTTP
import WPWithinTestSupport

@Suite struct HTTPClientTests {
    static let echo: HTTPHandler = { request in
        HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array("\(request.method) \(request.path) \(request.body.count) \(request.headers["host"] ?? "")".utf8))
    }

    @Test func reusesOneKeepAliveConnection() async throws {
        try await withHTTPServer(handler: Self.echo) { port in
            let client = HTTPClient(logger: quietLogger)
            for i in 0..<20 {
                let response = try await client.execute(
                    HTTPClientRequest(method: i % 2 == 0 ? "GET" : "POST", url: "http://127.0.0.1:\(port)/r/\(i)", body: i % 2 == 0 ? [] : [1, 2, 3]),
                    timeout: .seconds(10))
                #expect(response.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self) == "\(i % 2 == 0 ? "GET" : "POST") /r/\(i) \(i % 2 == 0 ? 0 : 3) 127.0.0.1:\(port)")
                #expect(response.headers["content-type"] == "text/plain")
            }
            // Server side: exactly one accepted connection is open.
            #expect(try establishedServerConnections(port: port) == 1)
            let stats = client.statistics
            #expect(stats.connectionsOpened == 1)
            #expect(stats.connectionsReused == 19)
            #expect(stats.idleConnections == 1)
            await client.shutdown()
            try await eventually { try establishedServerConnections(port: port) == 0 }
            await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/"), timeout: .seconds(5))
            }
        }
    }

    @Test func concurrentRequestsGetTheirOwnResponses() async throws {
        try await withHTTPServer(handler: { request in
            try? await Task.sleep(for: .milliseconds(2))
            return HTTPResponse(status: 200, body: Array(request.path.utf8))
        }) { port in
            let client = HTTPClient(configuration: HTTPClientConfiguration(maxIdleConnectionsPerHost: 4), logger: quietLogger)
            let paths = try await withThrowingTaskGroup(of: (String, String).self) { group in
                for i in 0..<64 {
                    group.addTask {
                        let r = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/c/\(i)"), timeout: .seconds(20))
                        return ("/c/\(i)", String(decoding: r.body, as: UTF8.self))
                    }
                }
                var all: [(String, String)] = []
                for try await pair in group { all.append(pair) }
                return all
            }
            #expect(paths.count == 64)
            for (sent, received) in paths { #expect(sent == received) }
            let stats = client.statistics
            #expect(stats.idleConnections <= 4)
            #expect(stats.connectionsOpened + stats.connectionsReused == 64)
            // Idle connections beyond the bound were closed; the server sees only the kept ones.
            do {
                try await eventually(limit: .seconds(10)) { try establishedServerConnections(port: port) == client.statistics.idleConnections }
            } catch {
                Issue.record(
                    "server connections \(try establishedServerConnections(port: port)), client \(client.statistics), client ends: \(serverConnectionHolders(port: port))")
            }
            await client.shutdown()
        }
    }

    /// The cause of the flaky `concurrentRequestsGetTheirOwnResponses` in full parallel runs: all suites run in
    /// one process, SwiftNIO's sockets are not close-on-exec, and a daemon another test spawned while this
    /// client had connections open inherited them, so the connections the client closed stayed ESTABLISHED
    /// on the server for as long as that child lived. A child started with the tests' `spawn` inherits nothing.
    @Test func aChildSpawnedWhileConnectionsAreOpenDoesNotKeepThemOpen() async throws {
        try await withHTTPServer(handler: Self.echo) { port in
            let client = HTTPClient(logger: quietLogger)
            _ = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/"), timeout: .seconds(10))
            #expect(try establishedServerConnections(port: port) == 1)
            // Lives far longer than the wait below; killed at the end.
            let child = try spawn("/bin/sleep", arguments: ["600"], environment: [:], stderrPath: "/dev/null")
            defer {
                kill(child, SIGKILL)
                var status: Int32 = 0
                waitpid(child, &status, 0)
            }
            await client.shutdown()
            do {
                try await eventually(limit: .seconds(10)) { try establishedServerConnections(port: port) == 0 }
            } catch {
                Issue.record("after the client's shutdown: \(serverConnectionHolders(port: port)); the child is \(child)")
            }
        }
    }

    @Test func aBurstNeverOpensMoreThanTheLimitOfConnectionsToOneHost() async throws {
        let inHandler = Recorder<Int>()
        let concurrency = Concurrency()
        try await withHTTPServer(handler: { request in
            let now = concurrency.enter()
            inHandler.append(now)
            try? await Task.sleep(for: .milliseconds(5))
            concurrency.leave()
            return HTTPResponse(status: 200, body: Array(request.path.utf8))
        }) { port in
            let client = HTTPClient(configuration: HTTPClientConfiguration(maxConnectionsPerHost: 3), logger: quietLogger)
            let answers = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        let r = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/b/\(i)"), timeout: .seconds(60))
                        return r.status == 200 && r.body == Array("/b/\(i)".utf8)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 40 && answers.allSatisfy { $0 })
            // The server never saw more than 3 requests at once, and no more than 3 connections were opened.
            #expect(inHandler.all.max() ?? 0 <= 3, "\(inHandler.all)")
            let stats = client.statistics
            #expect(stats.connectionsOpened <= 3, "\(stats)")
            #expect(stats.requestsQueued > 0, "\(stats)")
            await client.shutdown()
        }
    }

    @Test func aRequestThatWaitsPastItsTimeoutIsNeverSent() async throws {
        let gate = Gate()
        let received = Recorder<String>()
        try await withHTTPServer(handler: { request in
            received.append(request.path)
            if request.path == "/held" { await gate.wait() }
            return HTTPResponse(status: 200)
        }) { port in
            let client = HTTPClient(configuration: HTTPClientConfiguration(maxConnectionsPerHost: 1), logger: quietLogger)
            let held = Task { try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/held"), timeout: .seconds(60)) }
            try await eventually { received.all == ["/held"] }
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/late", body: [1]), timeout: .milliseconds(200))
            }
            #expect(error?.kind == .timeout)
            #expect(error?.mayHaveReachedServer == false)
            // A cancelled waiter is not sent either.
            let cancelled = Task { try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/cancelled"), timeout: .seconds(60)) }
            try await eventually { client.statistics.requestsQueued == 2 }
            cancelled.cancel()
            let cancelError = await #expect(throws: HTTPClientError.self) { try await cancelled.value }
            #expect(cancelError?.kind == .cancelled && cancelError?.mayHaveReachedServer == false)
            await gate.open()
            #expect(try await held.value.status == 200)
            // The permit is free again.
            #expect(try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/next"), timeout: .seconds(60)).status == 200)
            #expect(received.all == ["/held", "/next"])
            await client.shutdown()
        }
    }

    @Test func connectionCloseFromServerIsNotReused() async throws {
        try await withHTTPServer(handler: { _ in HTTPResponse(status: 200, headers: ["Connection": "close"], body: Array("bye".utf8)) }) { port in
            let client = HTTPClient(logger: quietLogger)
            for _ in 0..<3 {
                let r = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/"), timeout: .seconds(10))
                #expect(r.body == Array("bye".utf8))
            }
            #expect(client.statistics.connectionsOpened == 3)
            #expect(client.statistics.connectionsReused == 0)
            await client.shutdown()
        }
    }

    @Test func idleConnectionClosedByServerIsDropped() async throws {
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, idleTimeout: .milliseconds(500))
        // A group of its own: in a full parallel run another suite's work on the shared singleton's loops once
        // kept this server's idle timer (or the client's close) from running for 20 s (left as a note).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await withHTTPServer(configuration: configuration, eventLoopGroup: group, handler: Self.echo) { port in
            let client = HTTPClient(eventLoopGroup: group, logger: quietLogger)
            _ = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/1"), timeout: .seconds(10))
            // The server closes the idle connection; the pool notices and forgets it.
            do {
                try await eventually { client.statistics.idleConnections == 0 && client.statistics.openConnections == 0 }
            } catch {
                let statistics = client.statistics
                Issue.record("pool after the server's idle close: \(statistics.openConnections) open, \(statistics.idleConnections) idle; server side established: \((try? establishedServerConnections(port: port)) ?? -1)")
                throw error
            }
            let r = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/2"), timeout: .seconds(10))
            #expect(r.status == 200)
            #expect(client.statistics.connectionsOpened == 2)
            await client.shutdown()
        }
        try await group.shutdownGracefully()
    }

    @Test func connectionRefusedNeverReachedTheServer() async throws {
        let port = try unusedLoopbackPort()
        let client = HTTPClient(logger: quietLogger)
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/payment", body: [1]), timeout: .seconds(10))
        }
        #expect(error?.kind == .connectionRefused)
        #expect(error?.mayHaveReachedServer == false)
        await client.shutdown()
    }

    @Test func silentServerTimesOutAfterTheRequestWasSent() async throws {
        let received = Recorder<Int>()
        let server = try await RawServer { bytes, _ in received.append(bytes.readableBytes) }
        let client = HTTPClient(logger: quietLogger)
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/slow"), timeout: .seconds(1))
        }
        #expect(error?.kind == .timeout)
        // Normally the request was written before the deadline; on a very slow machine the connect itself
        // may time out, and then the client must say that nothing was sent.
        if error?.mayHaveReachedServer == true {
            try await eventually { received.count > 0 }
        } else {
            #expect(received.count == 0)
        }
        #expect(client.statistics.openConnections == 0)
        await client.shutdown()
        await server.close()
    }

    @Test func serverClosingMidResponseIsConnectionClosed() async throws {
        // On a loop of its own: in a full parallel run a shared loop held up by another test for seconds
        // once made this request time out before the close was read.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await RawServer(group: group) { _, channel in
            let partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
            channel.writeAndFlush(ByteBuffer(string: partial)).whenComplete { _ in channel.close(promise: nil) }
        }
        let client = HTTPClient(eventLoopGroup: group, logger: quietLogger)
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/payment", body: [1, 2]), timeout: .seconds(60))
        }
        #expect(error?.kind == .connectionClosed)
        #expect(error?.mayHaveReachedServer == true)
        await client.shutdown()
        await server.close()
        try await group.shutdownGracefully()
    }

    @Test func garbageIsInvalidResponse() async throws {
        let server = try await RawServer { _, channel in
            channel.writeAndFlush(ByteBuffer(string: "SMTP ready\r\n\r\n"), promise: nil)
        }
        let client = HTTPClient(logger: quietLogger)
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10))
        }
        #expect(error?.kind == .invalidResponse)
        await client.shutdown()
        await server.close()
    }

    @Test func tooLargeResponsesFailAndTheClientRecovers() async throws {
        try await withHTTPServer(handler: { request in
            HTTPResponse(status: 200, body: [UInt8](repeating: 0x61, count: request.path == "/big" ? 4097 : 4096))
        }) { port in
            let client = HTTPClient(configuration: HTTPClientConfiguration(maxResponseBodySize: 4096), logger: quietLogger)
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/big"), timeout: .seconds(10))
            }
            #expect(error?.kind == .responseTooLarge)
            let ok = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/fits"), timeout: .seconds(10))
            #expect(ok.body.count == 4096)
            #expect(client.statistics.connectionsOpened == 2)
            await client.shutdown()
        }
    }

    @Test func chunkedBodyOverTheLimitIsCutOff() async throws {
        let server = try await RawServer { _, channel in
            var text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            for _ in 0..<10 { text += "400\r\n" + String(repeating: "x", count: 1024) + "\r\n" }
            text += "0\r\n\r\n"
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
        }
        let client = HTTPClient(configuration: HTTPClientConfiguration(maxResponseBodySize: 4096), logger: quietLogger)
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10))
        }
        #expect(error?.kind == .responseTooLarge)
        #expect(error?.mayHaveReachedServer == true)
        await client.shutdown()
        await server.close()
    }

    @Test func invalidURLsAreRejectedBeforeConnecting() async throws {
        let client = HTTPClient(logger: quietLogger)
        for url in ["ftp://x/", "https://", "httpx://x/", "http://", "http://host:99999/", "http://:80/"] {
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPClientRequest(method: "GET", url: url), timeout: .seconds(1))
            }
            #expect(error?.kind == .invalidURL)
            #expect(error?.mayHaveReachedServer == false)
        }
        await client.shutdown()
    }
}

@Suite struct HTTPClientDetailTests {
    @Test func parsesGoStyleURLs() throws {
        let v6 = try HTTPClientTarget(url: "http://fe80::1:64521/service/discover")
        #expect(v6.host == "fe80::1")
        #expect(v6.port == 64521)
        #expect(v6.uri == "/service/discover")
        #expect(v6.hostHeader == "[fe80::1]:64521")
        let bracketed = try HTTPClientTarget(url: "http://[::1]:8080")
        #expect(bracketed.host == "::1")
        #expect(bracketed.port == 8080)
        #expect(bracketed.uri == "/")
        let plain = try HTTPClientTarget(url: "HTTP://example.com?q=1")
        #expect(plain.host == "example.com")
        #expect(plain.port == 80)
        #expect(plain.uri == "/?q=1")
        #expect(plain.hostHeader == "example.com")
        let mixed = try HTTPClientTarget(url: "HtTpS://h.example:8443/a/b?c")
        #expect(mixed.isTLS && mixed.host == "h.example" && mixed.port == 8443 && mixed.uri == "/a/b?c")
        #expect(mixed.hostHeader == "h.example:8443")
        #expect(try HTTPClientTarget(url: "https://h").port == 443)
    }

    @Test func refusesWhatItCannotReach() {
        for url in [
            "ftp://h/", "http:/h", "http://", "http:///path", "http://user@h/", "http://[::1", "http://[::1]x",
            "http://h:", "http://h:0", "http://h:65536", "http://h:+80", "http://h:8o", "http://h:123456", "httpx://h",
        ] {
            #expect(throws: HTTPClientError.self, "\(url)") { _ = try HTTPClientTarget(url: url) }
        }
    }

    @Test func cancellingTheTaskAbandonsTheRequest() async throws {
        let received = Recorder<Int>()
        let server = try await RawServer { bytes, _ in received.append(bytes.readableBytes) }
        let client = HTTPClient(logger: quietLogger)
        let task = Task {
            try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/payment", body: [1]), timeout: .seconds(60))
        }
        try await eventually { received.count > 0 }
        task.cancel()
        let result = await task.result
        guard case .failure(let error as HTTPClientError) = result else {
            Issue.record("expected an HTTPClientError, got \(result)")
            return
        }
        #expect(error.kind == .cancelled)
        #expect(error.mayHaveReachedServer == true)
        #expect(client.statistics.openConnections == 0)
        await client.shutdown()
        await server.close()
    }

    @Test func noIdleConnectionsMeansNoReuse() async throws {
        try await withHTTPServer(handler: { _ in HTTPResponse(status: 204) }) { port in
            let client = HTTPClient(configuration: HTTPClientConfiguration(maxIdleConnectionsPerHost: 0), logger: quietLogger)
            for _ in 0..<3 {
                let r = try await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/"), timeout: .seconds(10))
                #expect(r.status == 204)
                #expect(r.body.isEmpty)
            }
            #expect(client.statistics.connectionsOpened == 3)
            #expect(client.statistics.idleConnections == 0)
            await client.shutdown()
        }
    }
}

/// How many handlers run at once.
final class Concurrency: @unchecked Sendable {
    // @unchecked: `current` is behind `lock`.
    private let lock = NSLock()
    private var current = 0
    func enter() -> Int { lock.withLock { current += 1; return current } }
    func leave() { lock.withLock { current -= 1 } }
}

/// Holds handlers until opened.
actor Gate {
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiting.append($0) }
    }
    func open() {
        isOpen = true
        for continuation in waiting { continuation.resume() }
        waiting = []
    }
}
