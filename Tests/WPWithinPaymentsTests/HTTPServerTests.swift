import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinHTTP

/// WPWithinHTTP on its own: request parsing, body limit, graceful shutdown.
@Suite struct HTTPServerTests {
    @Test func servesRequestsAndRefusesOversizedBodies() async throws {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxBodySize: 1024),
            logger: Logger(label: "http", factory: { _ in SwiftLogNoOpLogHandler() }),
            onServerRunning: { portContinuation.yield($0) }
        ) { request in
            let echo: JSONValue = [
                "method": .string(request.method), "path": .string(request.path),
                "q": .string(request.query["q"] ?? ""), "bodyBytes": .int(Int64(request.body.count)),
                "header": .string(request.headers["x-test"] ?? ""),
            ]
            return .json(status: request.path == "/missing" ? 404 : 200, body: (try? Array(JSONEncoder().encode(echo))) ?? [])
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let base = "http://127.0.0.1:\(port)"

            let get = try await rawExchange("GET", URL(string: "\(base)/a/b?q=hello%20world&q=second")!, headers: ["X-Test": "yes"])
            #expect(get.status == 200)
            #expect(get.json?["path"] == "/a/b")
            #expect(get.json?["q"] == "hello world")
            #expect(get.json?["header"] == "yes")

            let post = try await rawExchange("POST", URL(string: "\(base)/p")!, body: Data(repeating: 1, count: 1024))
            #expect(post.json?["method"] == "POST")
            #expect(post.json?["bodyBytes"] == 1024)

            let missing = try await rawExchange("GET", URL(string: "\(base)/missing")!)
            #expect(missing.status == 404)

            let tooLarge = try await rawExchange("POST", URL(string: "\(base)/p")!, body: Data(repeating: 1, count: 1025))
            #expect(tooLarge.status == 413)
            #expect(tooLarge.json?["error"]?["status"] == 413)

            try await server.shutdownGracefully()
            try await group.waitForAll()
        }
    }
}
