import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
import WPWithinHTTP
import WPWithinTLS
import WPWithinTestSupport

/// `HTTPClient` over TLS against a real `HTTPServer` serving https on 127.0.0.1 (ephemeral port), with a
/// PKI made at test time: a good round trip on one kept-alive connection, and the certificates a client
/// must refuse (wrong name, untrusted issuer, expired), where nothing may reach the server's HTTP layer.
@Suite struct HTTPSTests {
    /// The requests the server's handler saw, in order.
    final class Seen: Sendable {
        private let paths = NIOLockedValueBox<[String]>([])
        func append(_ path: String) { paths.withLockedValue { $0.append(path) } }
        var all: [String] { paths.withLockedValue { $0 } }
    }

    /// Serves https with `leaf` on 127.0.0.1:0 and hands its port to `body`; every request is recorded and
    /// answered `200 {"ok":true}`.
    func withHTTPSServer(
        _ leaf: TestCertificates.Leaf, seen: Seen, _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        let tls = TLSServerConfiguration(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key)
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, tls: tls)
        let (ports, announce) = AsyncStream<Int>.makeStream()
        let logger = Logger(label: "https-test", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = HTTPServer(configuration: configuration, logger: logger, onServerRunning: { announce.yield($0) }) { request in
            seen.append(request.uri)
            return .json(status: 200, #"{"ok":true}"#)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            var failure: (any Error)?
            do { try await body(port) } catch { failure = error }
            try await server.shutdownGracefully()
            try await group.waitForAll()
            if let failure { throw failure }
        }
    }

    func client(trusting caFile: String) -> HTTPClient {
        HTTPClient(
            configuration: HTTPClientConfiguration(connectTimeout: .seconds(30), tls: TLSClientConfiguration(trustRoots: .caFile(caFile))),
            logger: Logger(label: "https-client", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test func twoRequestsOverOneVerifiedKeptAliveConnection() async throws {
        let directory = try TemporaryDirectory(prefix: "wpw-https")
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.url.path)
        let seen = Seen()
        try await withHTTPSServer(certificates.localhost, seen: seen) { port in
            let client = client(trusting: certificates.caFile)
            for (index, host) in ["127.0.0.1", "127.0.0.1"].enumerated() {
                let response = try await client.execute(
                    HTTPClientRequest(method: "POST", url: "https://\(host):\(port)/orders/\(index)", body: Array(#"{"n":1}"#.utf8)),
                    timeout: .seconds(30))
                #expect(response.status == 200)
                #expect(response.body == Array(#"{"ok":true}"#.utf8))
            }
            let statistics = client.statistics
            #expect(statistics.connectionsOpened == 1)
            #expect(statistics.connectionsReused == 1)
            // By name too (SNI, DNS subjectAltName): a new pool key, so a new connection.
            let byName = try await client.execute(HTTPClientRequest(method: "GET", url: "https://localhost:\(port)/name"), timeout: .seconds(30))
            #expect(byName.status == 200)
            #expect(client.statistics.connectionsOpened == 2)
            await client.shutdown()
        }
        #expect(seen.all == ["/orders/0", "/orders/1", "/name"])
    }

    enum Refusal: String, CaseIterable, Sendable {
        case wrongHost, untrusted, expired
    }

    @Test(arguments: Refusal.allCases)
    func aRefusedCertificateIsATLSErrorAndNothingReachesTheServer(_ refusal: Refusal) async throws {
        let directory = try TemporaryDirectory(prefix: "wpw-https")
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.url.path)
        let (leaf, code): (TestCertificates.Leaf, TLSError.Code) = switch refusal {
        case .wrongHost: (certificates.wrongHost, .hostnameMismatch)
        case .untrusted: (certificates.untrusted, .certificateUntrusted)
        case .expired: (certificates.expired, .certificateExpired)
        }
        let seen = Seen()
        try await withHTTPSServer(leaf, seen: seen) { port in
            let client = client(trusting: certificates.caFile)
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(
                    HTTPClientRequest(method: "POST", url: "https://127.0.0.1:\(port)/orders", body: Array("{}".utf8)), timeout: .seconds(30))
            }
            #expect(error?.kind == .tls)
            #expect(error?.mayHaveReachedServer == false)
            #expect(error?.tlsError?.code == code)
            #expect(client.statistics.openConnections == 0)
            await client.shutdown()
        }
        #expect(seen.all.isEmpty)
    }

    @Test func httpsToAPlainHTTPServerFailsTheHandshake() async throws {
        let seen = Seen()
        let logger = Logger(label: "https-test", factory: { _ in SwiftLogNoOpLogHandler() })
        let (ports, announce) = AsyncStream<Int>.makeStream()
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), logger: logger, onServerRunning: { announce.yield($0) }) {
            seen.append($0.uri)
            return .json(status: 200, "{}")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let client = HTTPClient(logger: logger)
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPClientRequest(method: "GET", url: "https://127.0.0.1:\(port)/x"), timeout: .seconds(30))
            }
            #expect(error?.kind == .tls)
            #expect(error?.mayHaveReachedServer == false)
            await client.shutdown()
            try await server.shutdownGracefully()
            try await group.waitForAll()
        }
        #expect(seen.all.isEmpty)
    }

    /// A listener that never accepts: the kernel completes TCP, nobody answers the client hello. The
    /// handshake is cut at the connect timeout: `timeout`, and nothing was sent.
    @Test func aSilentServerTimesTheHandshakeOutAndNothingWasSent() async throws {
        let listener = try SilentLoopbackListener()
        let port = listener.port
        let client = HTTPClient(
            configuration: HTTPClientConfiguration(connectTimeout: .milliseconds(300)),
            logger: Logger(label: "https-client", factory: { _ in SwiftLogNoOpLogHandler() }))
        let error = await #expect(throws: HTTPClientError.self) {
            try await client.execute(HTTPClientRequest(method: "POST", url: "https://127.0.0.1:\(port)/orders"), timeout: .seconds(30))
        }
        #expect(error?.kind == .timeout)
        #expect(error?.mayHaveReachedServer == false)
        #expect(client.statistics.openConnections == 0)
        await client.shutdown()
        withExtendedLifetime(listener) {}
    }
}
