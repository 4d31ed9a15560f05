import Foundation
import NIOCore
import NIOEmbedded
import Testing
import WPWithinTLS
import WPWithinTestSupport

/// A client and a server ``TLSHandler`` on two `EmbeddedChannel`s, their bytes moved by hand: handshake,
/// verification refusals, data both ways, close_notify. No sockets, no timers.
@Suite struct TLSHandlerTests {
    /// The test PKI, made once per test (about a second with the `openssl` CLI).
    struct PKI {
        let directory: TemporaryDirectory
        let certificates: TestCertificates

        init() async throws {
            directory = try TemporaryDirectory(prefix: "wpw-tls")
            certificates = try await TestCertificates.make(in: directory.url.path)
        }
    }

    /// Two channels with a TLS handler each, plus what each side saw.
    final class Pair {
        let client = EmbeddedChannel()
        let server = EmbeddedChannel()
        let handshake: EventLoopPromise<TLSHandshakeCompleted>
        var clientErrors: [any Error] = []
        var serverErrors: [any Error] = []
        /// Plaintext the server's TLS handler passed up.
        var serverReceived: [UInt8] = []
        var clientReceived: [UInt8] = []

        init(serving leaf: TestCertificates.Leaf, trusting caFile: String, hostname: String) throws {
            handshake = client.eventLoop.makePromise()
            let serverContext = try TLSServerContext(configuration: TLSServerConfiguration(certificateChainFile: leaf.certificate, privateKeyFile: leaf.key))
            let clientContext = try TLSClientContext(configuration: TLSClientConfiguration(trustRoots: .caFile(caFile)))
            try client.pipeline.syncOperations.addHandler(TLSHandler(client: clientContext, serverHostname: hostname, handshakePromise: handshake))
            try server.pipeline.syncOperations.addHandler(TLSHandler(server: serverContext))
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
            try server.connect(to: address).wait()
            try client.connect(to: address).wait()  // active: the client hello goes out
        }

        /// Moves bytes both ways until neither side has anything more to send.
        func pump() {
            var moved = true
            while moved {
                moved = false
                while let bytes = try? client.readOutbound(as: ByteBuffer.self) {
                    moved = true
                    if server.isActive { deliver(bytes, to: server, errors: &serverErrors, received: &serverReceived) }
                }
                while let bytes = try? server.readOutbound(as: ByteBuffer.self) {
                    moved = true
                    if client.isActive { deliver(bytes, to: client, errors: &clientErrors, received: &clientReceived) }
                }
            }
        }

        private func deliver(_ bytes: ByteBuffer, to channel: EmbeddedChannel, errors: inout [any Error], received: inout [UInt8]) {
            do {
                try channel.writeInbound(bytes)
            } catch {
                errors.append(error)
            }
            while let plaintext = try? channel.readInbound(as: ByteBuffer.self) { received += plaintext.readableBytesView }
        }

        func finish() {
            _ = try? client.finish()
            _ = try? server.finish()
        }
    }

    @Test func handshakeThenDataBothWaysAndCloseNotify() async throws {
        let pki = try await PKI()
        try Self.handshakeThenDataBothWaysAndCloseNotify(pki)
    }

    static func handshakeThenDataBothWaysAndCloseNotify(_ pki: PKI) throws {
        defer { pki.directory.remove() }
        let pair = try Pair(serving: pki.certificates.localhost, trusting: pki.certificates.caFile, hostname: "localhost")
        defer { pair.finish() }
        // Written before the handshake: held back, not sent in clear.
        let written = pair.client.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        let hello = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        #expect(!String(buffer: hello).contains("GET /"))
        try pair.server.writeInbound(hello)
        pair.pump()
        let completed = try pair.handshake.futureResult.wait()
        #expect(completed.negotiatedProtocol == "http/1.1")
        #expect(completed.version == "TLSv1.3" || completed.version == "TLSv1.2")
        try written.wait()
        #expect(String(decoding: pair.serverReceived, as: UTF8.self) == "GET / HTTP/1.1\r\n\r\n")

        let big = [UInt8](repeating: 0x61, count: 100_000)  // several records
        try pair.server.writeAndFlush(ByteBuffer(bytes: big)).wait()
        pair.pump()
        #expect(pair.clientReceived == big)
        #expect(pair.clientErrors.isEmpty && pair.serverErrors.isEmpty)

        // The client closes: its close_notify reaches the server, which closes in turn, cleanly.
        try pair.client.close().wait()
        pair.pump()
        #expect(!pair.server.isActive)
        #expect(pair.serverErrors.isEmpty)
    }

    /// After the handshake, the end of the TCP stream without a close_notify is reported (a body read until
    /// the close could be truncated); a close_notify first is a clean end.
    @Test func aCloseWithoutCloseNotifyIsAnUncleanShutdown() async throws {
        let pki = try await PKI()
        try Self.aCloseWithoutCloseNotifyIsAnUncleanShutdown(pki)
    }

    static func aCloseWithoutCloseNotifyIsAnUncleanShutdown(_ pki: PKI) throws {
        defer { pki.directory.remove() }
        let unclean = try Pair(serving: pki.certificates.localhost, trusting: pki.certificates.caFile, hostname: "localhost")
        unclean.pump()
        _ = try unclean.handshake.futureResult.wait()
        unclean.client.pipeline.fireChannelInactive()
        let error = #expect(throws: TLSError.self) { try unclean.client.throwIfErrorCaught() }
        #expect(error?.code == .uncleanShutdown)
        unclean.finish()

        let clean = try Pair(serving: pki.certificates.localhost, trusting: pki.certificates.caFile, hostname: "localhost")
        clean.pump()
        _ = try clean.handshake.futureResult.wait()
        try clean.server.close().wait()  // the server's close_notify goes out first
        clean.pump()
        #expect(!clean.client.isActive)  // the client closed on it, answering with its own
        #expect(clean.clientErrors.isEmpty)
        #expect(throws: Never.self) { try clean.client.throwIfErrorCaught() }
        clean.finish()
    }

    @Test func anIPAddressIsVerifiedAgainstTheCertificatesAddresses() async throws {
        let pki = try await PKI()
        try Self.anIPAddressIsVerifiedAgainstTheCertificatesAddresses(pki)
    }

    static func anIPAddressIsVerifiedAgainstTheCertificatesAddresses(_ pki: PKI) throws {
        defer { pki.directory.remove() }
        for host in ["127.0.0.1", "::1", "[::1]"] {
            let pair = try Pair(serving: pki.certificates.localhost, trusting: pki.certificates.caFile, hostname: host)
            pair.pump()
            #expect(throws: Never.self, "\(host)") { try pair.handshake.futureResult.wait() }
            pair.finish()
        }
        let other = try Pair(serving: pki.certificates.localhost, trusting: pki.certificates.caFile, hostname: "127.0.0.2")
        other.pump()
        let error = #expect(throws: TLSError.self) { try other.handshake.futureResult.wait() }
        #expect(error?.code == .hostnameMismatch)
        other.finish()
    }

    enum Refusal: String, CaseIterable, Sendable {
        case wrongHost, untrusted, expired

        func leaf(_ certificates: TestCertificates) -> TestCertificates.Leaf {
            switch self {
            case .wrongHost: certificates.wrongHost
            case .untrusted: certificates.untrusted
            case .expired: certificates.expired
            }
        }

        var code: TLSError.Code {
            switch self {
            case .wrongHost: .hostnameMismatch
            case .untrusted: .certificateUntrusted
            case .expired: .certificateExpired
            }
        }
    }

    /// A refused certificate fails the handshake with its reason; what was written behind the handler is
    /// failed and never reaches the server, which gets an alert and no plaintext.
    @Test(arguments: Refusal.allCases)
    func aRefusedCertificateFailsTheHandshakeAndNothingIsSent(_ refusal: Refusal) async throws {
        let pki = try await PKI()
        try Self.aRefusedCertificateFailsTheHandshakeAndNothingIsSent(pki, refusal)
    }

    static func aRefusedCertificateFailsTheHandshakeAndNothingIsSent(_ pki: PKI, _ refusal: Refusal) throws {
        defer { pki.directory.remove() }
        let pair = try Pair(serving: refusal.leaf(pki.certificates), trusting: pki.certificates.caFile, hostname: "localhost")
        defer { pair.finish() }
        let written = pair.client.writeAndFlush(ByteBuffer(string: "POST /orders HTTP/1.1\r\n\r\n"))
        pair.pump()
        let error = #expect(throws: TLSError.self) { try pair.handshake.futureResult.wait() }
        #expect(error?.code == refusal.code)
        #expect(error?.isHandshakeFailure == true)
        #expect(throws: TLSError.self) { try written.wait() }
        #expect(pair.serverReceived.isEmpty)
        #expect(!pair.client.isActive)
        // The error went down the client's pipeline too; the server got the client's alert.
        #expect(pair.clientErrors.compactMap { ($0 as? TLSError)?.code } == [refusal.code])
        #expect(pair.serverErrors.compactMap { ($0 as? TLSError)?.code } == [.handshakeFailed])
        #expect(!pair.server.isActive)
    }

    @Test func unusableFilesAreConfigurationErrors() async throws {
        let pki = try await PKI()
        try Self.unusableFilesAreConfigurationErrors(pki)
    }

    static func unusableFilesAreConfigurationErrors(_ pki: PKI) throws {
        defer { pki.directory.remove() }
        let missingCA = #expect(throws: TLSError.self) {
            _ = try TLSClientContext(configuration: TLSClientConfiguration(trustRoots: .caFile(pki.directory.path("missing.pem"))))
        }
        #expect(missingCA?.code == .invalidConfiguration)
        #expect(missingCA?.description.hasPrefix("TLSError.invalidConfiguration: cannot load CA file") == true)
        let mismatched = #expect(throws: TLSError.self) {
            _ = try TLSServerContext(configuration: TLSServerConfiguration(
                certificateChainFile: pki.certificates.localhost.certificate, privateKeyFile: pki.certificates.expired.key))
        }
        #expect(mismatched?.code == .invalidConfiguration)
        #expect(throws: Never.self) { _ = try TLSClientContext(configuration: TLSClientConfiguration()) }  // the system store
    }
}
