import Foundation
import Testing
import WPWithinCore
import WPWithinPayments
import WPWithinTestSupport

/// The Worldpay Online client against the sandbox serving https on 127.0.0.1, with a test CA made by the
/// `openssl` CLI: the whole token → order → lookup path over verified TLS, and the refusals that must
/// leave the gateway untouched (its audit log empty) and an order safely "not charged".
@Suite struct WorldpayOnlineTLSTests {
    /// A temporary directory with a fresh test PKI.
    func withCertificates<T>(_ body: (TestCertificates) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory(prefix: "wpw-gateway-tls")
        defer { directory.remove() }
        return try await body(try TestCertificates.make(in: directory.url.path))
    }

    @Test func tokenOrderAndLookupOverVerifiedTLS() async throws {
        try await withCertificates { certificates in
            try await withSandbox(tls: certificates.localhost) { sandbox in
                #expect(sandbox.endpoint.absoluteString.hasPrefix("https://127.0.0.1:"))
                let consumer = sandbox.gateway(merchant: nil, trustedCAFile: certificates.caFile)
                let producer = sandbox.gateway(trustedCAFile: certificates.caFile)
                let token = try await consumer.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
                let request = order(token, amount: 1234)
                let placed = try await producer.placeOrder(request)
                #expect(placed.isSuccess)
                let found = try await producer.lookupOrder(orderCode: placed.orderCode)
                #expect(found.customerOrderCode == request.customerOrderCode)
                let audit = GatewayAudit(records: sandbox.auditLines.compactMap { try? JSONValue.parse($0) })
                #expect(audit.charges.map(\.customerOrderCode) == [request.customerOrderCode])
                #expect(audit.charges.first?.amount == 1234)
                consumer.shutdown()
                producer.shutdown()
            }
        }
    }

    enum Refusal: String, CaseIterable, Sendable {
        case wrongHost, untrusted, expired, systemStoreOnly
    }

    /// A certificate the client must refuse: the token call and the order call both fail with
    /// `gatewayUnavailable` carrying the TLS code (an order is definitely not charged: not an unknown
    /// outcome), and nothing reached the sandbox's HTTP layer (no audit line).
    @Test(arguments: Refusal.allCases)
    func aRefusedCertificateSendsNothingAndAnOrderIsNotCharged(_ refusal: Refusal) async throws {
        try await withCertificates { certificates in
            let (leaf, code, caFile): (TestCertificates.Leaf, String, String?) = switch refusal {
            case .wrongHost: (certificates.wrongHost, "hostnameMismatch", certificates.caFile)
            case .untrusted: (certificates.untrusted, "certificateUntrusted", certificates.caFile)
            case .expired: (certificates.expired, "certificateExpired", certificates.caFile)
            // The test CA is in no system store.
            case .systemStoreOnly: (certificates.localhost, "certificateUntrusted", nil)
            }
            try await withSandbox(tls: leaf) { sandbox in
                let gateway = sandbox.gateway(trustedCAFile: caFile)
                let tokenError = await #expect(throws: WPWError.self) {
                    try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
                }
                #expect(tokenError?.code == .gatewayUnavailable)
                #expect(tokenError?.data?["tls"] == .string(code))
                let orderError = await #expect(throws: WPWError.self) {
                    try await gateway.placeOrder(order(ClientToken("TEST_SU_not-a-real-token")))
                }
                #expect(orderError?.code == .gatewayUnavailable)
                #expect(orderError?.data?["tls"] == .string(code))
                #expect(orderError?.data?["operation"] == "orders")
                #expect(sandbox.auditLines.isEmpty)
                gateway.shutdown()
            }
        }
    }
}

@Suite struct GatewayEndpointTests {
    @Test func parsesWhatTheDaemonAccepts() throws {
        let worldpay = try GatewayEndpoint("https://api.worldpay.com/v1/")
        #expect(worldpay == .worldpay)
        #expect(worldpay.description == "https://api.worldpay.com/v1")
        #expect(worldpay.url("orders/abc") == "https://api.worldpay.com/v1/orders/abc")
        let sandbox = try GatewayEndpoint("HTTP://127.0.0.1:18080")
        #expect(sandbox.scheme == .http)
        #expect(sandbox.port == 18080)
        #expect(sandbox.basePath == "")
        #expect(sandbox.url("tokens") == "http://127.0.0.1:18080/tokens")
        let v6 = try GatewayEndpoint("https://[::1]:8443/v1")
        #expect(v6.host == "::1")
        #expect(v6.description == "https://[::1]:8443/v1")
        #expect(try GatewayEndpoint("https://Gateway.Example:443").description == "https://gateway.example")
    }

    @Test(arguments: [
        "", "api.worldpay.com/v1", "ftp://x", "https://", "https://:443", "https://user@host", "https://host:0",
        "https://host:65536", "https://host:80a", "https://host/v1?x=1", "https://host/v1#f", "https://ho st",
        "https://[::1", "https://[zz]", "https://host//v1", "https://host:",
    ])
    func rejectsWhatItCannotUse(_ text: String) {
        let error = #expect(throws: GatewayEndpointError.self) { _ = try GatewayEndpoint(text) }
        #expect(error?.description.hasPrefix("invalid gateway endpoint \(text): ") == true)
    }
}
